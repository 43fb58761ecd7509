"""COLMAP sparse models: ``cameras``, ``images`` and ``points3D`` in text (``.txt``) and binary (``.bin``) form.

COLMAP stores world-to-camera poses (``qvec`` = rotation quaternion ``(w, x, y, z)``, ``tvec``) in OpenCV
axes, and intrinsics with pixel centres at half-integer coordinates (the top-left pixel's centre is
(0.5, 0.5)). Converted to our convention: ``cam_to_world = inverse([R(qvec) | tvec])`` and
``cx = cx_colmap - 0.5``, ``cy = cy_colmap - 0.5``.

Camera models: ``SIMPLE_PINHOLE`` and ``PINHOLE`` are pinholes. ``SIMPLE_RADIAL``, ``RADIAL``, ``OPENCV``,
``FULL_OPENCV``, ``OPENCV_FISHEYE``, ``SIMPLE_RADIAL_FISHEYE`` and ``RADIAL_FISHEYE`` are read as their pinhole part
(``K``) plus ``Frame.distortion`` (the two simpler fisheye models as ``OPENCV_FISHEYE`` with the missing
coefficients zero: COLMAP's formulas are the same), so the loader undistorts their images exactly. ``FOV`` and
``THIN_PRISM_FISHEYE`` are refused. Every model's raw parameters still round-trip through the read/write
functions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from muskie.data.dataset_paths import path_inside
from muskie.data.scene import Frame, Scene
from muskie.geometry import invert_pose, quaternion_to_rotation, rotation_to_quaternion
from muskie.geometry.distortion import LensDistortion

# model name -> (COLMAP model id, number of parameters)
CAMERA_MODELS = {
    "SIMPLE_PINHOLE": (0, 3),
    "PINHOLE": (1, 4),
    "SIMPLE_RADIAL": (2, 4),
    "RADIAL": (3, 5),
    "OPENCV": (4, 8),
    "OPENCV_FISHEYE": (5, 8),
    "FULL_OPENCV": (6, 12),
    "FOV": (7, 5),
    "SIMPLE_RADIAL_FISHEYE": (8, 4),
    "RADIAL_FISHEYE": (9, 5),
    "THIN_PRISM_FISHEYE": (10, 12),
}
_MODEL_NAMES = {model_id: name for name, (model_id, _) in CAMERA_MODELS.items()}
# Models read: name -> (parameter indices of fx, fy, cx, cy); leading params are f or fx, fy.
_PINHOLE_PARTS = {
    "SIMPLE_PINHOLE": (0, 0, 1, 2),
    "PINHOLE": (0, 1, 2, 3),
    "SIMPLE_RADIAL": (0, 0, 1, 2),
    "RADIAL": (0, 0, 1, 2),
    "OPENCV": (0, 1, 2, 3),
    "FULL_OPENCV": (0, 1, 2, 3),
    "OPENCV_FISHEYE": (0, 1, 2, 3),
    "SIMPLE_RADIAL_FISHEYE": (0, 0, 1, 2),
    "RADIAL_FISHEYE": (0, 0, 1, 2),
}
# Distorted models: name -> (LensDistortion model, index of the first coefficient, coefficients to pad with 0)
_DISTORTIONS = {
    "SIMPLE_RADIAL": ("SIMPLE_RADIAL", 3, 0),
    "RADIAL": ("RADIAL", 3, 0),
    "OPENCV": ("OPENCV", 4, 0),
    "FULL_OPENCV": ("FULL_OPENCV", 4, 0),
    "OPENCV_FISHEYE": ("OPENCV_FISHEYE", 4, 0),
    "SIMPLE_RADIAL_FISHEYE": ("OPENCV_FISHEYE", 3, 3),
    "RADIAL_FISHEYE": ("OPENCV_FISHEYE", 3, 2),
}
_MODEL_SUBDIRS = ("sparse/0", "sparse", ".")
# binary records of an image's keypoints and a point's track
_KEYPOINT_DTYPE = np.dtype([("x", "<f8"), ("y", "<f8"), ("point3d_id", "<i8")])
_TRACK_DTYPE = np.dtype([("image_id", "<i4"), ("point2d_idx", "<i4")])


@dataclass
class ColmapCamera:
    """A COLMAP camera: ``params`` float64 in COLMAP's order and pixel convention (centres at +0.5)."""

    camera_id: int
    model: str
    width: int
    height: int
    params: np.ndarray


@dataclass
class ColmapImage:
    """A registered COLMAP image: world-to-camera ``qvec`` (4,) ``(w, x, y, z)`` and ``tvec`` (3,) float64,
    OpenCV axes; ``xys`` (N, 2) float64 keypoints (COLMAP pixels) with ``point3d_ids`` (N,) int64 (-1 = none)."""

    image_id: int
    qvec: np.ndarray
    tvec: np.ndarray
    camera_id: int
    name: str
    xys: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    point3d_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int64))


@dataclass
class ColmapPoint3D:
    """A COLMAP 3D point: ``xyz`` (3,) float64 world, ``rgb`` (3,) uint8, reprojection ``error`` in pixels,
    track of ``image_ids`` (T,) int64 and ``point2d_idxs`` (T,) int64."""

    point3d_id: int
    xyz: np.ndarray
    rgb: np.ndarray
    error: float
    image_ids: np.ndarray
    point2d_idxs: np.ndarray


# ---------------------------------------------------------------------------------------------- text files


def _text_records(path: Path):
    """Yield ``(line_number, stripped_line)`` of a COLMAP text file, comments and blank lines included."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err})") from err
    for number, line in enumerate(lines, start=1):
        yield number, line.strip()


def _check_params(camera: ColmapCamera, where: str) -> None:
    if camera.model not in CAMERA_MODELS:
        raise ValueError(f"{where}: unknown camera model {camera.model!r}")
    expected = CAMERA_MODELS[camera.model][1]
    if len(camera.params) != expected:
        raise ValueError(f"{where}: model {camera.model} takes {expected} parameters, got {len(camera.params)}")
    if camera.width <= 0 or camera.height <= 0:
        raise ValueError(f"{where}: image size must be positive, got {camera.width}x{camera.height}")


def read_cameras_text(path: str | Path) -> dict[int, ColmapCamera]:
    """Read ``cameras.txt``: lines ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS...``."""
    path = Path(path)
    cameras = {}
    for number, line in _text_records(path):
        if not line or line.startswith("#"):
            continue
        where = f"{path}: line {number}"
        tokens = line.split()
        try:
            camera = ColmapCamera(
                int(tokens[0]), tokens[1], int(tokens[2]), int(tokens[3]), np.array([float(t) for t in tokens[4:]])
            )
        except (IndexError, ValueError) as err:
            raise ValueError(f"{where}: malformed camera line ({err})") from err
        _check_params(camera, where)
        cameras[camera.camera_id] = camera
    return cameras


def read_images_text(path: str | Path) -> dict[int, ColmapImage]:
    """Read ``images.txt``: per image a line ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` followed by a
    (possibly empty) line of ``X Y POINT3D_ID`` triples."""
    path = Path(path)
    images = {}
    records = _text_records(path)
    for number, line in records:
        if not line or line.startswith("#"):
            continue
        where = f"{path}: line {number}"
        tokens = line.split(maxsplit=9)
        try:
            if len(tokens) != 10:
                raise ValueError(f"expected 10 fields, got {len(tokens)}")
            values = [float(t) for t in tokens[1:8]]
            image = ColmapImage(int(tokens[0]), np.array(values[:4]), np.array(values[4:]), int(tokens[8]), tokens[9])
        except ValueError as err:
            raise ValueError(f"{where}: malformed image line ({err})") from err
        # the keypoint line follows its header directly; a file may end without it (no keypoints)
        number, line = next(records, (number + 1, ""))
        tokens = line.split()
        if len(tokens) % 3:
            raise ValueError(f"{path}: line {number}: keypoint line must hold X Y POINT3D_ID triples")
        try:
            triples = np.array([float(t) for t in tokens]).reshape(-1, 3)
        except ValueError as err:
            raise ValueError(f"{path}: line {number}: malformed keypoint line ({err})") from err
        image.xys, image.point3d_ids = triples[:, :2], triples[:, 2].astype(np.int64)
        images[image.image_id] = image
    return images


def read_points3d_text(path: str | Path) -> dict[int, ColmapPoint3D]:
    """Read ``points3D.txt``: lines ``POINT3D_ID X Y Z R G B ERROR (IMAGE_ID POINT2D_IDX)...``."""
    path = Path(path)
    points = {}
    for number, line in _text_records(path):
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        try:
            if len(tokens) < 8 or (len(tokens) - 8) % 2:
                raise ValueError("expected 8 fields then IMAGE_ID POINT2D_IDX pairs")
            track = np.array([int(t) for t in tokens[8:]], dtype=np.int64).reshape(-1, 2)
            point = ColmapPoint3D(
                int(tokens[0]),
                np.array([float(t) for t in tokens[1:4]]),
                np.array([int(t) for t in tokens[4:7]], dtype=np.uint8),
                float(tokens[7]),
                track[:, 0],
                track[:, 1],
            )
        except (ValueError, OverflowError) as err:
            raise ValueError(f"{path}: line {number}: malformed point line ({err})") from err
        points[point.point3d_id] = point
    return points


def _format(value: float) -> str:
    # repr is the shortest string that parses back to the same float64: exact round trips
    return repr(float(value))


def write_cameras_text(path: str | Path, cameras: dict[int, ColmapCamera]) -> None:
    """Write ``cameras.txt`` (full float64 precision)."""
    lines = [
        "# Camera list with one line of data per camera:",
        "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
        f"# Number of cameras: {len(cameras)}",
    ]
    for camera in cameras.values():
        params = " ".join(_format(p) for p in camera.params)
        lines.append(f"{camera.camera_id} {camera.model} {camera.width} {camera.height} {params}")
    Path(path).write_text("\n".join(lines) + "\n")


def write_images_text(path: str | Path, images: dict[int, ColmapImage]) -> None:
    """Write ``images.txt`` (full float64 precision)."""
    lines = [
        "# Image list with two lines of data per image:",
        "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
        "#   POINTS2D[] as (X, Y, POINT3D_ID)",
        f"# Number of images: {len(images)}",
    ]
    for image in images.values():
        pose = " ".join(_format(v) for v in (*image.qvec, *image.tvec))
        lines.append(f"{image.image_id} {pose} {image.camera_id} {image.name}")
        lines.append(
            " ".join(
                f"{_format(x)} {_format(y)} {int(pid)}"
                for (x, y), pid in zip(image.xys, image.point3d_ids, strict=True)
            )
        )
    Path(path).write_text("\n".join(lines) + "\n")


def write_points3d_text(path: str | Path, points: dict[int, ColmapPoint3D]) -> None:
    """Write ``points3D.txt`` (full float64 precision)."""
    lines = [
        "# 3D point list with one line of data per point:",
        "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)",
        f"# Number of points: {len(points)}",
    ]
    for point in points.values():
        fields = [
            str(point.point3d_id),
            *(_format(v) for v in point.xyz),
            *(str(int(c)) for c in point.rgb),
            _format(point.error),
        ]
        fields += [f"{int(i)} {int(j)}" for i, j in zip(point.image_ids, point.point2d_idxs, strict=True)]
        lines.append(" ".join(fields))
    Path(path).write_text("\n".join(lines) + "\n")


# -------------------------------------------------------------------------------------------- binary files


class _BinaryReader:
    """Little-endian reads from a byte buffer; a short read raises an error naming the file and record."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        self.path = path
        self.data = path.read_bytes()
        self.offset = 0
        self.record = "header"

    def read(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.offset + size > len(self.data):
            raise ValueError(f"{self.path}: truncated file: {self.record} ends past the file's {len(self.data)} bytes")
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += size
        return values

    def read_array(self, dtype: np.dtype, count: int) -> np.ndarray:
        size = dtype.itemsize * count
        if self.offset + size > len(self.data):
            raise ValueError(f"{self.path}: truncated file: {self.record} ends past the file's {len(self.data)} bytes")
        array = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.offset)
        self.offset += size
        return array

    def read_string(self) -> str:
        end = self.data.find(b"\0", self.offset)
        if end < 0:
            raise ValueError(f"{self.path}: truncated file: {self.record} has an unterminated name")
        text = self.data[self.offset : end].decode("utf-8", errors="replace")
        self.offset = end + 1
        return text

    def finish(self) -> None:
        if self.offset != len(self.data):
            raise ValueError(f"{self.path}: {len(self.data) - self.offset} unexpected bytes after the last record")


def read_cameras_binary(path: str | Path) -> dict[int, ColmapCamera]:
    """Read ``cameras.bin``."""
    reader = _BinaryReader(Path(path))
    (count,) = reader.read("Q")
    cameras = {}
    for index in range(count):
        reader.record = f"camera record {index}"
        camera_id, model_id, width, height = reader.read("iiQQ")
        if model_id not in _MODEL_NAMES:
            raise ValueError(f"{path}: {reader.record} (id {camera_id}): unknown camera model id {model_id}")
        model = _MODEL_NAMES[model_id]
        params = np.array(reader.read("d" * CAMERA_MODELS[model][1]))
        camera = ColmapCamera(camera_id, model, width, height, params)
        _check_params(camera, f"{path}: {reader.record} (id {camera_id})")
        cameras[camera_id] = camera
    reader.finish()
    return cameras


def read_images_binary(path: str | Path) -> dict[int, ColmapImage]:
    """Read ``images.bin``."""
    reader = _BinaryReader(Path(path))
    (count,) = reader.read("Q")
    images = {}
    for index in range(count):
        reader.record = f"image record {index}"
        image_id, *pose, camera_id = reader.read("I7di")
        name = reader.read_string()
        (num_points,) = reader.read("Q")
        keypoints = reader.read_array(_KEYPOINT_DTYPE, num_points)
        images[image_id] = ColmapImage(
            image_id,
            np.array(pose[:4]),
            np.array(pose[4:]),
            camera_id,
            name,
            np.stack([keypoints["x"], keypoints["y"]], axis=-1),
            keypoints["point3d_id"].astype(np.int64),
        )
    reader.finish()
    return images


def read_points3d_binary(path: str | Path) -> dict[int, ColmapPoint3D]:
    """Read ``points3D.bin``."""
    reader = _BinaryReader(Path(path))
    (count,) = reader.read("Q")
    points = {}
    for index in range(count):
        reader.record = f"point record {index}"
        point_id, x, y, z, r, g, b, error, track_length = reader.read("Q3d3BdQ")
        track = reader.read_array(_TRACK_DTYPE, track_length)
        points[point_id] = ColmapPoint3D(
            point_id,
            np.array([x, y, z]),
            np.array([r, g, b], dtype=np.uint8),
            error,
            track["image_id"].astype(np.int64),
            track["point2d_idx"].astype(np.int64),
        )
    reader.finish()
    return points


def write_cameras_binary(path: str | Path, cameras: dict[int, ColmapCamera]) -> None:
    """Write ``cameras.bin``."""
    chunks = [struct.pack("<Q", len(cameras))]
    for camera in cameras.values():
        model_id, num_params = CAMERA_MODELS[camera.model]
        chunks.append(struct.pack("<iiQQ", camera.camera_id, model_id, camera.width, camera.height))
        chunks.append(struct.pack("<" + "d" * num_params, *camera.params))
    Path(path).write_bytes(b"".join(chunks))


def write_images_binary(path: str | Path, images: dict[int, ColmapImage]) -> None:
    """Write ``images.bin``."""
    chunks = [struct.pack("<Q", len(images))]
    for image in images.values():
        chunks.append(struct.pack("<I7di", image.image_id, *image.qvec, *image.tvec, image.camera_id))
        chunks.append(image.name.encode("utf-8") + b"\0")
        chunks.append(struct.pack("<Q", len(image.xys)))
        for (x, y), point_id in zip(image.xys, image.point3d_ids, strict=True):
            chunks.append(struct.pack("<ddq", x, y, point_id))
    Path(path).write_bytes(b"".join(chunks))


def write_points3d_binary(path: str | Path, points: dict[int, ColmapPoint3D]) -> None:
    """Write ``points3D.bin``."""
    chunks = [struct.pack("<Q", len(points))]
    for point in points.values():
        chunks.append(
            struct.pack(
                "<Q3d3BdQ",
                point.point3d_id,
                *point.xyz,
                *(int(c) for c in point.rgb),
                point.error,
                len(point.image_ids),
            )
        )
        for image_id, point2d_idx in zip(point.image_ids, point.point2d_idxs, strict=True):
            chunks.append(struct.pack("<ii", image_id, point2d_idx))
    Path(path).write_bytes(b"".join(chunks))


# --------------------------------------------------------------------------------------------- model level

_READERS = {
    ".txt": (read_cameras_text, read_images_text, read_points3d_text),
    ".bin": (read_cameras_binary, read_images_binary, read_points3d_binary),
}
_WRITERS = {
    ".txt": (write_cameras_text, write_images_text, write_points3d_text),
    ".bin": (write_cameras_binary, write_images_binary, write_points3d_binary),
}


def _model_suffix(model_dir: Path) -> str:
    # COLMAP itself prefers the binary form when both exist
    for suffix in (".bin", ".txt"):
        if (model_dir / f"cameras{suffix}").is_file() and (model_dir / f"images{suffix}").is_file():
            return suffix
    raise FileNotFoundError(f"{model_dir}: no COLMAP model (cameras.bin + images.bin or cameras.txt + images.txt)")


def find_colmap_model(path: str | Path) -> Path | None:
    """The COLMAP model folder of a scene folder (``sparse/0``, ``sparse`` or the folder itself), or ``None``."""
    path = Path(path)
    for subdir in _MODEL_SUBDIRS:
        candidate = path / subdir
        if any((candidate / f"cameras{suffix}").is_file() for suffix in (".bin", ".txt")):
            return candidate
    return None


def read_colmap_model(model_dir: str | Path, with_points: bool = True):
    """Read a COLMAP model folder (binary form preferred when both forms exist).

    Returns:
        ``(cameras, images, points)``: dicts by id of ``ColmapCamera``, ``ColmapImage``, ``ColmapPoint3D``;
        ``points`` is empty when ``with_points`` is false or the folder has no points3D file.
    """
    model_dir = Path(model_dir)
    suffix = _model_suffix(model_dir)
    read_cameras, read_images, read_points = _READERS[suffix]
    cameras = read_cameras(model_dir / f"cameras{suffix}")
    images = read_images(model_dir / f"images{suffix}")
    points_path = model_dir / f"points3D{suffix}"
    points = read_points(points_path) if with_points and points_path.is_file() else {}
    return cameras, images, points


def write_colmap_model(model_dir: str | Path, cameras, images, points=None, binary: bool = False) -> Path:
    """Write ``cameras``, ``images`` and ``points3D`` (empty when ``points`` is None) into ``model_dir``
    (created), in text form or, with ``binary``, binary form. Returns ``model_dir``."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".bin" if binary else ".txt"
    write_cameras, write_images, write_points = _WRITERS[suffix]
    write_cameras(model_dir / f"cameras{suffix}", cameras)
    write_images(model_dir / f"images{suffix}", images)
    write_points(model_dir / f"points3D{suffix}", points or {})
    return model_dir


# --------------------------------------------------------------------------------------------- scene level


def camera_to_intrinsics(camera: ColmapCamera) -> np.ndarray:
    """``(3, 3)`` float64 ``K`` in our convention (pixel centres at integer coordinates) from a COLMAP camera's
    pinhole part. Raises ``ValueError`` for models without one (fisheye, FOV)."""
    if camera.model not in _PINHOLE_PARTS:
        raise ValueError(
            f"camera {camera.camera_id}: model {camera.model} is not supported "
            f"(supported: {', '.join(_PINHOLE_PARTS)}); undistort the images first"
        )
    fx, fy, cx, cy = (camera.params[i] for i in _PINHOLE_PARTS[camera.model])
    return np.array([[fx, 0.0, cx - 0.5], [0.0, fy, cy - 0.5], [0.0, 0.0, 1.0]])


def camera_distortion(camera: ColmapCamera) -> LensDistortion | None:
    """The lens distortion of a COLMAP camera (``None`` for the pinhole models); its coefficients act on
    normalised coordinates, so they do not depend on the pixel convention. Raises ``ValueError`` for models
    without a pinhole part and for non-finite coefficients."""
    if camera.model not in _PINHOLE_PARTS:
        raise ValueError(
            f"camera {camera.camera_id}: model {camera.model} is not supported "
            f"(supported: {', '.join(_PINHOLE_PARTS)}); undistort the images first"
        )
    if camera.model not in _DISTORTIONS:
        return None
    model, first, padding = _DISTORTIONS[camera.model]
    try:
        return LensDistortion(model, (*camera.params[first:], *(0.0,) * padding))
    except ValueError as err:
        raise ValueError(f"camera {camera.camera_id}: {err}") from err


def image_to_cam_to_world(image: ColmapImage) -> np.ndarray:
    """``(4, 4)`` float64 camera-to-world (OpenCV axes) from a COLMAP image's world-to-camera pose."""
    world_to_cam = np.eye(4)
    world_to_cam[:3, :3] = quaternion_to_rotation(image.qvec)
    world_to_cam[:3, 3] = image.tvec
    return invert_pose(world_to_cam)


def _find_image_dir(model_dir: Path) -> Path:
    # standard COLMAP project: <project>/images beside <project>/sparse/0
    for folder in (model_dir, model_dir.parent, model_dir.parent.parent):
        if (folder / "images").is_dir():
            return folder / "images"
    return model_dir


def read_colmap_scene(path: str | Path, image_dir: str | Path | None = None, allow_outside: bool = False) -> Scene:
    """Read a COLMAP project as a ``Scene``.

    Args:
        path: a scene folder holding ``sparse/0``, ``sparse`` or the model files directly.
        image_dir: where the images named in the model live; default: the nearest ``images`` folder at or
            up to two levels above the model folder. The names must lead inside it, symlinks resolved.
        allow_outside: accept image names that lead outside ``image_dir`` (absolute, ``..``, a symlink).

    Returns:
        ``Scene`` named after ``path``'s folder, frames sorted by image name (COLMAP's image ids are not a
        capture order; names usually are), with intrinsics, OpenCV camera-to-world poses and, for distorted
        camera models, ``Frame.distortion``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    model_dir = find_colmap_model(path)
    if model_dir is None:
        raise FileNotFoundError(f"{path}: no COLMAP model found in sparse/0, sparse or the folder itself")
    suffix = _model_suffix(model_dir)
    cameras, images, _ = read_colmap_model(model_dir, with_points=False)
    image_dir = Path(image_dir) if image_dir is not None else _find_image_dir(model_dir)

    frames = []
    for image in sorted(images.values(), key=lambda image: image.name):
        where = f"{model_dir / ('images' + suffix)}: image {image.image_id} ({image.name})"
        if image.camera_id not in cameras:
            raise ValueError(f"{where}: camera {image.camera_id} is not in cameras{suffix}")
        camera = cameras[image.camera_id]
        try:
            intrinsics, distortion = camera_to_intrinsics(camera), camera_distortion(camera)
        except ValueError as err:
            raise ValueError(f"{model_dir / ('cameras' + suffix)}: {err}") from err
        if not np.linalg.norm(image.qvec) > 0:  # also catches NaN
            raise ValueError(f"{where}: quaternion {image.qvec.tolist()} is not a rotation")
        image_path = path_inside(image_dir, image.name, where, allow_outside)
        try:
            frames.append(
                Frame(
                    image_path,
                    camera.width,
                    camera.height,
                    intrinsics,
                    image_to_cam_to_world(image),
                    distortion=distortion,
                )
            )
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from err
    if not frames:
        raise ValueError(f"{model_dir}: the model has no registered images")
    return Scene(name=path.resolve().name, root=path, frames=frames)


def write_colmap_scene(model_dir: str | Path, scene: Scene, binary: bool = False) -> Path:
    """Write a scene's cameras as a COLMAP model (PINHOLE cameras, no points), e.g. to ``<scene>/sparse/0``.

    Frames sharing size and intrinsics share a camera. Image names are the paths relative to the nearest
    ``images`` folder ``read_colmap_scene`` would find, so the written model reads back as the same scene.
    Raises ``ValueError`` when a frame has no camera or its intrinsics have skew.
    """
    model_dir = Path(model_dir)
    image_dir = _find_image_dir(model_dir.resolve())
    cameras: dict[int, ColmapCamera] = {}
    camera_ids: dict[tuple, int] = {}
    images: dict[int, ColmapImage] = {}
    for index, frame in enumerate(scene.frames):
        if not frame.has_camera:
            raise ValueError(f"scene {scene.name}: frame {index} ({frame.image_path}) has no camera")
        k = frame.intrinsics
        if k[0, 1] != 0:
            raise ValueError(f"scene {scene.name}: frame {index} ({frame.image_path}) has skew; PINHOLE has none")
        params = (k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5)
        key = (frame.width, frame.height, *params)
        if key not in camera_ids:
            camera_ids[key] = len(camera_ids) + 1
            cameras[camera_ids[key]] = ColmapCamera(
                camera_ids[key], "PINHOLE", frame.width, frame.height, np.array(params)
            )
        world_to_cam = invert_pose(frame.cam_to_world)
        try:
            name = frame.image_path.resolve().relative_to(image_dir).as_posix()
        except ValueError:
            name = frame.image_path.name
        rotation, translation = world_to_cam[:3, :3], world_to_cam[:3, 3]
        images[index + 1] = ColmapImage(index + 1, rotation_to_quaternion(rotation), translation, camera_ids[key], name)
    return write_colmap_model(model_dir, cameras, images, binary=binary)
