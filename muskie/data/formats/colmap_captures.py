"""Frames of a capture whose cameras are a COLMAP model, with the images possibly stored at another size.

Datasets ship COLMAP models of their full-resolution images next to downscaled copies (DL3DV-10K's
``images_4``) or of already resized images (ScanNet++'s DSLR ``resized_images``). The model's ``K`` is
rescaled to the size of the images actually read, with the pixel-centre convention of
``muskie.data.transforms.resize_intrinsics``; the lens distortion acts on normalised coordinates and does not
change with the size.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from muskie.data.dataset_paths import path_inside
from muskie.data.formats.base import FormatError, PoseFilter
from muskie.data.formats.paths import names_in
from muskie.data.imageio import image_size
from muskie.data.scene import Frame
from muskie.data.sources.colmap import camera_distortion, camera_to_intrinsics, image_to_cam_to_world, read_colmap_model
from muskie.data.transforms import resize_intrinsics

# two sizes are one image at two resolutions when their aspect ratios agree to this (rounding of odd sizes)
_ASPECT_TOLERANCE = 0.01


def rescale_intrinsics(
    intrinsics: np.ndarray, model_size: tuple[int, int], image_size_: tuple[int, int], where: str
) -> np.ndarray:
    """``(3, 3)`` ``K`` of an image of ``model_size = (W, H)`` for its copy of ``image_size_ = (W', H')``.

    Raises:
        FormatError: ``model_size`` is not positive, or the sizes' aspect ratios differ (the images are not a
            resized copy); ``where`` names the files.
    """
    (width, height), (new_width, new_height) = model_size, image_size_
    if width <= 0 or height <= 0:
        raise FormatError(f"{where}: cameras are for images of size {width}x{height}, not a positive size")
    scale_x, scale_y = new_width / width, new_height / height
    if abs(scale_x - scale_y) > _ASPECT_TOLERANCE * max(scale_x, scale_y):
        raise FormatError(
            f"{where}: cameras are for {width}x{height} images but the images are "
            f"{new_width}x{new_height}, not a resized copy"
        )
    if (new_width, new_height) == (width, height):
        return intrinsics
    return resize_intrinsics(torch.from_numpy(intrinsics), (height, width), (new_height, new_width)).numpy()


def colmap_capture_frames(scene_dir: Path, model_dir: Path, image_dir: Path, pose_filter: PoseFilter) -> list[Frame]:
    """The frames of a COLMAP model (text or binary) whose images are ``image_dir / <file name>``.

    Args:
        scene_dir: the scene (or capture) folder; the images the model names must stay inside it, symlinks
            resolved (a model cannot point elsewhere, while the scene folder itself may be a link).
        model_dir: the folder holding ``cameras`` and ``images`` (``.bin`` or ``.txt``).
        image_dir: where the images are; an image named ``sub/frame.png`` in the model is ``image_dir /
            frame.png`` (captures store their frames flat; the model may prefix a folder). Images the model
            names but the folder lacks (frames not extracted) are skipped with a counted warning.
        pose_filter: counts and drops non-finite or non-rigid poses.

    Returns:
        Frames sorted by file name (the datasets number their frames in capture order), with ``K`` (pinhole
        part, rescaled to the size of the first image of each camera, read from its header), the OpenCV
        camera-to-world pose and ``Frame.distortion``.

    Raises:
        FormatError: an unreadable model, a camera model without a pinhole part, an image path leaving the
            scene folder, or images that are no resized copy of the model's.
    """
    try:
        model_cameras, model_images, _ = read_colmap_model(model_dir, with_points=False)
    except (ValueError, FileNotFoundError) as err:
        raise FormatError(f"{model_dir}: not a readable COLMAP model ({err})") from err
    relative_dir = image_dir.relative_to(scene_dir).as_posix()
    entries = sorted(((Path(image.name).name, image) for image in model_images.values()), key=lambda item: item[0])
    present = names_in(image_dir)
    sizes: dict[int, tuple[int, int]] = {}
    frames, missing = [], 0
    for name, image in entries:
        if name not in present:
            missing += 1
            continue
        where = f"{model_dir}: image {image.image_id} ({image.name})"
        path = path_inside(scene_dir, f"{relative_dir}/{name}", where)
        if image.camera_id not in model_cameras:
            raise FormatError(f"{where}: camera {image.camera_id} is not in the model's cameras")
        camera = model_cameras[image.camera_id]
        if image.camera_id not in sizes:
            sizes[image.camera_id] = image_size(path)
        width, height = sizes[image.camera_id]
        try:
            intrinsics, distortion = camera_to_intrinsics(camera), camera_distortion(camera)
        except ValueError as err:
            raise FormatError(f"{model_dir}: {err}") from err
        pose = image_to_cam_to_world(image)
        if not pose_filter.usable(pose):
            continue
        intrinsics = rescale_intrinsics(
            intrinsics, (camera.width, camera.height), (width, height), f"{model_dir} and {path}"
        )
        frames.append(Frame(path, width, height, intrinsics, pose, distortion=distortion))
    if missing:
        warnings.warn(f"{model_dir}: skipped {missing} image(s) the model names but {image_dir} lacks", stacklevel=3)
    return frames
