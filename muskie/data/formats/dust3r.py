"""The per-frame layout the DUSt3R preprocessing scripts (naver/dust3r ``datasets_preprocess/``) write for CO3Dv2
and WildRGB-D: cropped, resized frames, each with an ``.npz`` of its camera.

Covered: the output of ``preprocess_co3d.py`` and ``preprocess_wildrgbd.py`` (what DUSt3R, MASt3R, CroCo-style
and many follow-up trainings read as "CO3D" and "WildRGB-D"). DUSt3R's other preprocessed layouts (BlendedMVS,
MegaDepth, ARKitScenes, ScanNet++, ...) store EXR depth or per-scene metadata and are not this format. Layout::

    selected_seqs_train.json / selected_seqs_test.json    {category: {sequence: [frame numbers]}}
    CO3D:      <category>/<sequence>/images/frameXXXXXX.jpg
               <category>/<sequence>/images/frameXXXXXX.npz      camera_intrinsics, camera_pose, maximum_depth
               <category>/<sequence>/depths/frameXXXXXX.jpg.geometric.png   uint16: value / 65535 * maximum_depth
               <category>/<sequence>/masks/frameXXXXXX.png
    WildRGB-D: <category>/scenes/<scene>/rgb/00000.jpg
               <category>/scenes/<scene>/metadata/00000.npz      camera_intrinsics, camera_pose
               <category>/scenes/<scene>/depth/00000.png         uint16 millimetres
               <category>/scenes/<scene>/masks/00000.png

``camera_intrinsics`` is ``K`` (3, 3) in pixels of the stored image and ``camera_pose`` the camera-to-world
(4, 4), OpenCV axes, exactly as DUSt3R reads them (its CO3D script places the principal point by PyTorch3D's
pixel-corner convention, then treats it as an integer-centre one when resizing: about half a pixel, times the
resize factor, off; muskie keeps the values DUSt3R trains on). CO3D scenes are in the reconstruction's
arbitrary units; WildRGB-D scenes are in metres.

Scene ids are the split lists' ``<category>/<sequence>`` (for WildRGB-D the sequence is ``scenes/<scene>``);
they must stay inside the root unless ``allow_outside``. The frames are the scene folder's images; the
``.npz`` files are opened only for cameras or (CO3D) depth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muskie.data.dataset_paths import path_inside
from muskie.data.formats.base import DatasetFormat, FormatError, PoseFilter
from muskie.data.formats.paths import files_with_suffix, names_in
from muskie.data.formats.reading import read_npz_arrays
from muskie.data.imageio import image_size
from muskie.data.scene import Frame, Scene
from muskie.data.sources.json_file import read_json

SPLIT_LISTS = ("selected_seqs_train.json", "selected_seqs_test.json")
_CO3D_DEPTH_SCALE = 65535  # stored values span [0, 65535] = [0, maximum_depth]
_WILDRGBD_DEPTH_SCALE = 1e-3  # millimetres -> metres


def find_scenes(root: Path) -> list[str]:
    """``<category>/<sequence>`` of every non-empty sequence of the split lists, sorted."""
    root = Path(root)
    lists = [root / name for name in SPLIT_LISTS if (root / name).is_file()]
    if not lists:
        raise FormatError(f"{root}: not a DUSt3R-preprocessed root: expected {' or '.join(SPLIT_LISTS)}")
    scenes = set()
    for path in lists:
        try:
            split = read_json(path)
        except ValueError as err:
            raise FormatError(str(err)) from err
        if not isinstance(split, dict) or not all(isinstance(sequences, dict) for sequences in split.values()):
            raise FormatError(f"{path}: expected {{category: {{sequence: [frame numbers]}}}}")
        scenes.update(
            f"{category}/{sequence}"
            for category, sequences in split.items()
            for sequence, frames in sequences.items()
            if frames
        )
    return sorted(scenes)


def _layout(scene_dir: Path) -> tuple[Path, Path, bool]:
    """``(images folder, npz folder, is_co3d)`` of a scene folder."""
    if (scene_dir / "images").is_dir():
        return scene_dir / "images", scene_dir / "images", True
    if (scene_dir / "rgb").is_dir() and (scene_dir / "metadata").is_dir():
        return scene_dir / "rgb", scene_dir / "metadata", False
    raise FormatError(
        f"{scene_dir}: not a DUSt3R-preprocessed scene: expected images/ (CO3D) or rgb/ and metadata/ (WildRGB-D)"
    )


def read_scene(
    root: Path, scene_id: str, cameras: bool = True, depth: bool = True, allow_outside: bool = False
) -> Scene:
    """One preprocessed CO3D or WildRGB-D scene, frames in file-name order.

    Frames whose pose is non-finite or not a rotation are skipped with one warning; a CO3D frame whose
    ``maximum_depth`` is not positive has no depth.

    Raises:
        FormatError: a scene folder of neither layout, a scene id leading outside the root, a missing or
            malformed ``.npz``.
    """
    root = Path(root)
    scene_dir = path_inside(root, scene_id, f"{root}: scene id (from the split lists)", allow_outside)
    image_dir, npz_dir, is_co3d = _layout(scene_dir)
    depth_dir = scene_dir / ("depths" if is_co3d else "depth")
    depths = names_in(depth_dir) if depth else set()
    masks = names_in(scene_dir / "masks")
    wanted = {}
    if cameras:
        wanted.update(camera_intrinsics=(3, 3), camera_pose=(4, 4))
    if depth and is_co3d:
        wanted["maximum_depth"] = ()
    poses = PoseFilter(str(npz_dir))
    frames = []
    for path in files_with_suffix(image_dir, ".jpg", "preprocessed frames *.jpg"):
        arrays = {}
        if wanted:
            npz = npz_dir / f"{path.stem}.npz"
            if not npz.is_file():
                raise FormatError(f"{npz}: no such file (expected the camera of {path.name})")
            arrays = read_npz_arrays(npz, wanted)
        if cameras and not poses.usable(arrays["camera_pose"]):
            continue
        depth_name = f"{path.name}.geometric.png" if is_co3d else f"{path.stem}.png"
        depth_path, depth_scale = None, _WILDRGBD_DEPTH_SCALE
        if depth_name in depths:
            depth_path = depth_dir / depth_name
            if is_co3d:
                depth_scale = float(arrays["maximum_depth"]) / _CO3D_DEPTH_SCALE
                if not (np.isfinite(depth_scale) and depth_scale > 0):
                    depth_path, depth_scale = None, 1.0
        width, height = image_size(path)
        mask = f"{path.stem}.png"
        try:
            frames.append(
                Frame(
                    image_path=path,
                    width=width,
                    height=height,
                    intrinsics=arrays.get("camera_intrinsics"),
                    cam_to_world=arrays.get("camera_pose"),
                    depth_path=depth_path,
                    depth_scale=depth_scale,
                    mask_path=scene_dir / "masks" / mask if mask in masks else None,
                )
            )
        except ValueError as err:
            raise FormatError(f"{path}: {err}") from err
    poses.warn()
    return Scene(name=scene_id, root=scene_dir, frames=frames, metric=not is_co3d)


FORMAT = DatasetFormat(
    name="dust3r",
    title="DUSt3R-preprocessed CO3Dv2 / WildRGB-D",
    find_scenes=find_scenes,
    read_scene=read_scene,
    object_centric=True,
)
