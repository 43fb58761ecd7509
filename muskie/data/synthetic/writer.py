"""Writing synthetic scenes to disk as ``transforms.json`` scene folders (what ``muskie synth`` does).

Each scene folder holds ``transforms.json`` (nerfstudio convention: OpenGL camera-to-world, per-frame
intrinsics in pixels), ``images/NNN.png`` (8-bit RGB) and depth maps: with ``depth_format="png"`` 16-bit
PNGs in millimetres (``depth/NNN.png``, ``depth_unit_scale_factor`` 0.001; depths beyond 65.535 m, only
seen far down ``forward`` streets, are stored as 0 = unknown), with ``"npy"`` float32 arrays in metres
(``depth/NNN.npy``, ``depth_unit_scale_factor`` 1). Sky pixels have depth 0 (unknown).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from muskie.data.sources.transforms_json import TRANSFORMS_FILE, write_transforms_json
from muskie.data.synthetic.config import DEPTH_FORMATS, SyntheticConfig, split_seeds
from muskie.data.synthetic.dataset import render_sample, scene_name
from muskie.data.synthetic.scene_spec import make_scene
from muskie.outputs import output_folder
from muskie.progress import progress_bar

# Largest depth a 16-bit PNG in millimetres holds, metres.
_MAX_PNG_DEPTH = 65.535
# Frames rendered per call: bounds memory at large sizes.
_FRAMES_PER_RENDER = 8


def write_synthetic_scenes(
    out_dir: str | Path,
    num_scenes: int,
    split: str = "train",
    config: SyntheticConfig = SyntheticConfig(),
    height: int = 256,
    width: int = 256,
    first_scene: int = 0,
    depth_format: str = "png",
    overwrite: bool = False,
    progress: bool = False,
) -> list[Path]:
    """Render scenes ``first_scene .. first_scene + num_scenes - 1`` of a split, every frame of their path,
    into ``out_dir/<scene name>/`` folders (see the module docstring for the format).

    Args:
        out_dir: parent folder (created if missing).
        num_scenes: how many scenes.
        split: ``train``, ``val`` or ``test`` (scene i uses seed ``split_seeds(split)[i]``).
        config: scene generation settings (path kind, frames, overlap, ...).
        height, width: image size in pixels.
        first_scene: index of the first scene in the split.
        depth_format: ``png`` (16-bit millimetres) or ``npy`` (float32 metres).
        overwrite: replace scene folders that exist already (each whole: no frame of the old scene stays);
            without it an existing one is refused before anything is written.
        progress: show a progress bar over the scenes (``muskie.progress``).

    Returns:
        The scene folders written, in order.
    """
    if depth_format not in DEPTH_FORMATS:
        raise ValueError(f"depth_format must be one of {', '.join(DEPTH_FORMATS)}, got {depth_format!r}")
    if num_scenes < 1 or first_scene < 0:
        raise ValueError(f"need num_scenes >= 1 and first_scene >= 0, got {num_scenes} and {first_scene}")
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    seeds = split_seeds(split)
    if first_scene + num_scenes > len(seeds):
        raise ValueError(
            f"split {split!r} has {len(seeds)} scenes; asked for up to index {first_scene + num_scenes - 1}"
        )
    out_dir = Path(out_dir)
    if not str(out_dir).strip():
        raise ValueError("the output folder is empty: give a path (an unset shell variable?)")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: exists and is not a folder")
    existing = [
        out_dir / scene_name(split, i)
        for i in range(first_scene, first_scene + num_scenes)
        if (out_dir / scene_name(split, i)).exists()
    ]
    if existing and not overwrite:
        raise ValueError(
            f"{existing[0]}: exists ({len(existing)} of the {num_scenes} scene folders do); pass "
            "--overwrite to replace them, or choose another --out or --first"
        )
    written = []
    indices = range(first_scene, first_scene + num_scenes)
    for index in progress_bar(indices, desc=f"rendering {split} scenes", unit="scene", enabled=progress):
        name = scene_name(split, index)
        scene = make_scene(seeds[index], config)
        parts = [
            render_sample(
                scene, torch.arange(start, min(start + _FRAMES_PER_RENDER, config.num_frames)), height, width, name
            )
            for start in range(0, config.num_frames, _FRAMES_PER_RENDER)
        ]
        sample = {
            key: torch.cat([part[key] for part in parts]) for key in ("images", "intrinsics", "cam_to_world", "depth")
        }
        images = (sample["images"] + 1.0) / 2.0
        with output_folder(out_dir / name, overwrite=overwrite) as folder:  # complete, or not there at all
            if depth_format == "png":
                depth = torch.where(sample["depth"] <= _MAX_PNG_DEPTH, sample["depth"], 0.0)
                write_transforms_json(folder, images, sample["intrinsics"], sample["cam_to_world"], depth=depth)
            else:
                json_path = write_transforms_json(folder, images, sample["intrinsics"], sample["cam_to_world"])
                _add_npy_depth(json_path, sample["depth"])
        written.append(out_dir / name)
    return written


def _add_npy_depth(json_path: Path, depth: torch.Tensor) -> None:
    """Save ``depth (V, H, W)`` metres as ``depth/<image stem>.npy`` and name them in the json."""
    meta = json.loads(json_path.read_text())
    (json_path.parent / "depth").mkdir(exist_ok=True)
    for frame, frame_depth in zip(meta["frames"], depth, strict=True):
        relative = f"depth/{Path(frame['file_path']).stem}.npy"
        np.save(json_path.parent / relative, frame_depth.numpy().astype(np.float32))
        frame["depth_file_path"] = relative
    meta["depth_unit_scale_factor"] = 1.0
    (json_path.parent / TRANSFORMS_FILE).write_text(json.dumps(meta, indent=1))
