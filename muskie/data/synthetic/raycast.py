"""A vectorised PyTorch ray caster for synthetic scenes: RGB, z-depth, surface normals and validity per view.

Every pixel's ray is intersected analytically with every primitive at once: rays are mapped into each
primitive's unit frame (one matrix product), where the unit cube, sphere, cylinder and square have
closed-form hits. Ray directions are scaled so their camera-frame z is 1, which makes the ray parameter
``t`` the z-depth itself, and affine maps keep ``t``, so the unit-frame ``t`` is the world z-depth.
The nearest hit picks a face and texture coordinates; the texture is sampled bilinearly in the mip level
whose texel size matches the pixel's footprint (no aliasing at low resolution), and shaded with a fixed
directional light (Lambertian, so the colour of a surface point is the same from every view). The shading
normal (exact, analytic per primitive, turned to face the camera) is returned on request, in the camera frame.
Runs on any device (CPU by default); float32 throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from muskie.data.synthetic.scene_spec import BOX, CYLINDER, PLANE, SPHERE, SyntheticScene
from muskie.data.synthetic.textures import TextureAtlas
from muskie.geometry import camera_rays

# Hits closer than this (metres) are ignored: no camera is that close to a surface.
_NEAR = 1e-4
# Ambient share of the lighting; the rest is Lambertian.
_AMBIENT = 0.55
# Grazing angles widen a pixel's footprint; the cosine is floored so mip levels stay sharp enough.
_MIN_COS = 0.1
# Rays x primitives processed per chunk, bounding temporary memory (about 100 MB at this size).
_CHUNK_ELEMENTS = 2_000_000
_SKY_ZENITH = (0.45, 0.62, 0.85)
_SKY_HORIZON = (0.85, 0.88, 0.92)


@dataclass
class RenderedViews:
    """Render output for ``V`` views of ``H x W`` pixels.

    Attributes:
        rgb: ``(V, 3, H, W)`` float32 in [0, 1].
        depth: ``(V, H, W)`` float32 z-depth in metres, 0 where invalid.
        valid: ``(V, H, W)`` bool, False where the ray hits nothing (sky).
        normals: ``(V, 3, H, W)`` float32 unit surface normals in the camera frame (OpenCV axes), facing the
            camera (negative dot product with the viewing ray); 0 where invalid. None unless asked for.
    """

    rgb: torch.Tensor
    depth: torch.Tensor
    valid: torch.Tensor
    normals: torch.Tensor | None = None


class _DeviceScene:
    """A scene's float32 tensors on one device, in the layout the caster needs."""

    def __init__(self, scene: SyntheticScene, device: torch.device):
        objects = scene.objects
        rotation = objects.rotations
        # world -> unit frame: local = A @ world + b with A = S^-1 R^T
        to_unit = rotation.transpose(-1, -2) / objects.half_sizes[:, :, None]
        self.to_unit = to_unit.to(device, torch.float32)  # (P, 3, 3)
        self.to_unit_offset = -(to_unit @ objects.centres[:, :, None])[..., 0].to(device, torch.float32)
        self.kinds = objects.kinds.to(device)
        self.first_face = objects.first_face.to(device)
        kinds = objects.kinds.tolist()
        self.blocks = [(kind, kinds.index(kind), len(kinds) - kinds[::-1].index(kind)) for kind in sorted(set(kinds))]
        self.room_lo = torch.as_tensor(scene.room.lo, dtype=torch.float32, device=device)
        self.room_hi = torch.as_tensor(scene.room.hi, dtype=torch.float32, device=device)
        self.has_ceiling = scene.room.has_ceiling
        self.light = torch.as_tensor(scene.light, dtype=torch.float32, device=device)
        self.atlas: TextureAtlas = scene.atlas.to(device)


# The hit functions take the ray in a block of primitives' unit frames as components: origin
# ``(ox, oy, oz)`` each ``(V, 1, P)`` and direction ``(dx, dy, dz)`` each ``(V, N, P)``; they return the entry
# ``t (V, N, P)``, inf where the ray misses. Components rather than ``(..., 3)`` tensors: reductions over a
# size-3 axis are slow on CPU. Cameras are outside every object, so entry points are the first hits.


def _box_hits(origin, direction) -> torch.Tensor:
    """Entry into the unit cube (slab method)."""
    near = far = None
    for o, d in zip(origin, direction, strict=True):
        inverse = 1.0 / d
        t0 = (-1.0 - o) * inverse
        t1 = (1.0 - o) * inverse
        low, high = torch.minimum(t0, t1), torch.maximum(t0, t1)
        near = low if near is None else torch.maximum(near, low)
        far = high if far is None else torch.minimum(far, high)
    return torch.where((near <= far) & (near > _NEAR), near, math.inf)


def _sphere_hits(origin, direction) -> torch.Tensor:
    """Entry into the unit sphere."""
    (ox, oy, oz), (dx, dy, dz) = origin, direction
    a = dx * dx + dy * dy + dz * dz
    b = ox * dx + oy * dy + oz * dz
    c = ox * ox + oy * oy + oz * oz - 1.0
    disc = b * b - a * c
    t = (-b - disc.clamp_min(0).sqrt()) / a
    return torch.where((disc >= 0) & (t > _NEAR), t, math.inf)


def _cylinder_hits(origin, direction) -> torch.Tensor:
    """Entry into the unit cylinder: the side, or the cap facing the ray."""
    (ox, oy, oz), (dx, dy, dz) = origin, direction
    a = dx * dx + dy * dy
    b = ox * dx + oy * dy
    c = ox * ox + oy * oy - 1.0
    disc = b * b - a * c
    t_side = (-b - disc.clamp_min(0).sqrt()) / a
    z_side = oz + t_side * dz
    side = torch.where((disc >= 0) & (z_side.abs() <= 1.0) & (t_side > _NEAR), t_side, math.inf)
    t_cap = (-torch.sign(dz) - oz) / dz
    x_cap = ox + t_cap * dx
    y_cap = oy + t_cap * dy
    cap = torch.where((x_cap * x_cap + y_cap * y_cap <= 1.0) & (t_cap > _NEAR), t_cap, math.inf)
    return torch.minimum(side, cap)


def _plane_hits(origin, direction) -> torch.Tensor:
    """Hit with the two-sided unit square ``|x|, |y| <= 1`` at ``z = 0``."""
    (ox, oy, oz), (dx, dy, dz) = origin, direction
    t = -oz / dz
    x = ox + t * dx
    y = oy + t * dy
    return torch.where((x.abs() <= 1.0) & (y.abs() <= 1.0) & (t > _NEAR), t, math.inf)


_HIT_FUNCTIONS = {BOX: _box_hits, SPHERE: _sphere_hits, CYLINDER: _cylinder_hits, PLANE: _plane_hits}


def _box_face(q: torch.Tensor):
    """Unit cube: the face is the axis where the point reaches the surface (|coordinate| = 1)."""
    x, y, z = q.unbind(-1)
    magnitude = q.abs()
    axis = magnitude.argmax(-1)
    positive = q.gather(-1, axis[:, None])[:, 0] > 0
    # the face's two other axes, in increasing order
    u = (torch.where(axis == 0, y, x) + 1) / 2
    v = (1 - torch.where(axis == 2, y, z)) / 2
    normal = torch.where(magnitude >= magnitude.amax(-1, keepdim=True), torch.sign(q), 0.0)
    return 2 * axis + positive.long(), u, v, normal


def _longitude(q: torch.Tensor) -> torch.Tensor:
    return torch.atan2(q[:, 1], q[:, 0]) / (2 * math.pi) + 0.5


def _sphere_face(q: torch.Tensor):
    """Unit sphere, equirectangular: u the longitude, v the colatitude."""
    v = torch.acos((q[:, 2] / q.norm(dim=-1).clamp_min(1e-12)).clamp(-1.0, 1.0)) / math.pi
    return torch.zeros_like(v, dtype=torch.int64), _longitude(q), v, q


def _cylinder_face(q: torch.Tensor):
    """Unit cylinder: side (face 0, u around, v down), bottom cap (1), top cap (2)."""
    x, y, z = q.unbind(-1)
    radial = torch.sqrt(x * x + y * y)
    # a cap when the point is nearer the cap plane than the side
    on_cap = (1.0 - z.abs()) < (1.0 - radial)
    face = torch.where(on_cap, torch.where(z > 0, 2, 1), 0)
    u = torch.where(on_cap, (x + 1) / 2, _longitude(q))
    v = torch.where(on_cap, (1 - y) / 2, (1 - z) / 2)
    zero = torch.zeros_like(z)
    cap_normal = torch.stack([zero, zero, torch.sign(z)], -1)
    normal = torch.where(on_cap[:, None], cap_normal, torch.stack([x, y, zero], -1))
    return face, u, v, normal


def _plane_face(q: torch.Tensor):
    """Unit square: u along x, v down y; normal +z (flipped to the viewer later)."""
    normal = torch.zeros_like(q)
    normal[:, 2] = 1.0
    return torch.zeros_like(q[:, 0], dtype=torch.int64), (q[:, 0] + 1) / 2, (1 - q[:, 1]) / 2, normal


_FACE_FUNCTIONS = {BOX: _box_face, SPHERE: _sphere_face, CYLINDER: _cylinder_face, PLANE: _plane_face}


def _unit_face(scene: _DeviceScene, kind: torch.Tensor, q: torch.Tensor):
    """Face (within the object) ``(N,)`` int64, texture coordinates u, v ``(N,)`` in [0, 1] and unit-frame
    normal ``(N, 3)`` of hit points ``q (N, 3)`` on primitives of ``kind (N,)``; only kinds the scene has
    are evaluated."""
    result = None
    for block_kind, _, _ in scene.blocks:
        values = _FACE_FUNCTIONS[block_kind](q)
        if result is None:
            result = values
        else:
            mask = kind == block_kind
            result = tuple(
                torch.where(mask[:, None] if new.ndim == 2 else mask, new, old)
                for new, old in zip(values, result, strict=True)
            )
    return result


def _room_hits(scene: _DeviceScene, origin: torch.Tensor, direction: torch.Tensor):
    """Exit from the room box: ``t (N,)`` (inf into the sky), face ``(N,)``, u, v ``(N,)``, normal ``(N, 3)``."""
    bound = torch.where(direction > 0, scene.room_hi, scene.room_lo)
    t_axes = (bound - origin) / direction
    if not scene.has_ceiling:
        t_axes[:, 2] = torch.where(direction[:, 2] > 0, math.inf, t_axes[:, 2])
    t_axes = torch.where(direction == 0, math.inf, t_axes)
    t, axis = t_axes.min(-1)
    positive = direction.gather(-1, axis[:, None])[:, 0] > 0
    face = 2 * axis + positive.long()
    point = origin + t.clamp_max(1e6)[:, None] * direction
    if not scene.has_ceiling:
        # walls end at the room's top: above it is sky
        t = torch.where(point[:, 2] > scene.room_hi[2], math.inf, t)
    unit = (point - scene.room_lo) / (scene.room_hi - scene.room_lo)
    first = torch.where(axis == 0, unit[:, 1], unit[:, 0])
    second = torch.where(axis == 2, unit[:, 1], unit[:, 2])
    # walls show their texture upright: texture rows run down from the ceiling
    v = torch.where(axis == 2, second, 1 - second)
    # inward: against the direction the ray leaves through
    normal = torch.where(t_axes == t[:, None], -torch.sign(direction), 0.0)
    return t, face, first, v, normal


def _cast(scene: _DeviceScene, origin: torch.Tensor, direction: torch.Tensor, focal: torch.Tensor):
    """Shade rays of ``V`` views: origin ``(V, 3)``, direction ``(V, N, 3)``, focal ``(V,)`` pixels.

    Returns rgb ``(V, N, 3)``, depth ``(V, N)``, valid ``(V, N)``, world normals ``(V, N, 3)`` (meaningless where
    invalid).
    """
    num_views, num_rays = direction.shape[:2]
    t_room, face_room, u_room, v_room, normal_room = _room_hits(
        scene, origin[:, None].expand(-1, num_rays, -1).reshape(-1, 3), direction.reshape(-1, 3)
    )
    t = t_room
    face, u, v, normal = face_room, u_room, v_room, normal_room
    if scene.blocks:
        num_objects = scene.to_unit.shape[0]
        # rays in every object's unit frame from one matrix product, as (V, N, 3, P): components
        # contiguous per primitive
        weights = scene.to_unit.permute(2, 1, 0).reshape(3, 3 * num_objects)
        unit_direction = (direction @ weights).view(num_views, num_rays, 3, num_objects)
        unit_origin = torch.einsum("pjk,vk->vjp", scene.to_unit, origin) + scene.to_unit_offset.T  # (V, 3, P)
        t_objects = torch.cat(
            [
                _HIT_FUNCTIONS[kind](
                    unit_origin[:, None, :, start:end].unbind(2), unit_direction[..., start:end].unbind(2)
                )
                for kind, start, end in scene.blocks
            ],
            dim=-1,
        )
        t_object, index = t_objects.min(-1)  # (V, N)
        index = index.reshape(-1)
        t_object = t_object.reshape(-1)
        views = torch.arange(num_views, device=index.device).repeat_interleave(num_rays)
        hit_dir = unit_direction.view(-1, 3, num_objects).gather(2, index[:, None, None].expand(-1, 3, 1))[..., 0]
        hit_origin = unit_origin.transpose(1, 2)[views, index]
        q = hit_origin + t_object.clamp_max(1e6)[:, None] * hit_dir
        kind = scene.kinds[index]
        object_face, object_u, object_v, unit_normal = _unit_face(scene, kind, q)
        # normals map with the inverse transpose of the unit->world map: A^T n
        object_normal = (unit_normal[:, None, :] @ scene.to_unit[index])[:, 0]
        wins = t_object < t_room
        t = torch.where(wins, t_object, t_room)
        face = torch.where(wins, scene.first_face[index] + object_face, face_room)
        u = torch.where(wins, object_u, u_room)
        v = torch.where(wins, object_v, v_room)
        normal = torch.where(wins[:, None], object_normal, normal_room)

    flat_direction = direction.reshape(-1, 3)
    valid = torch.isfinite(t)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    ray_length = flat_direction.norm(dim=-1)
    cos_view = (normal * flat_direction).sum(-1) / ray_length
    # two-sided surfaces (planes) face the viewer
    normal = torch.where((cos_view > 0)[:, None], -normal, normal)
    depth = torch.where(valid, t, 0.0)
    footprint = depth * ray_length / focal.repeat_interleave(num_rays) / cos_view.abs().clamp_min(_MIN_COS).sqrt()
    albedo = scene.atlas.sample(face, u, v, footprint)
    shade = _AMBIENT + (1 - _AMBIENT) * (normal @ scene.light).clamp_min(0.0)
    # sky: a vertical gradient from horizon to zenith
    elevation = (flat_direction[:, 2] / ray_length).clamp(0.0, 1.0)[:, None]
    zenith = torch.tensor(_SKY_ZENITH, dtype=albedo.dtype, device=albedo.device)
    horizon = torch.tensor(_SKY_HORIZON, dtype=albedo.dtype, device=albedo.device)
    sky = horizon + (zenith - horizon) * elevation
    rgb = torch.where(valid[:, None], albedo * shade[:, None], sky).clamp(0.0, 1.0)
    return (
        rgb.view(num_views, num_rays, 3),
        depth.view(num_views, num_rays),
        valid.view(num_views, num_rays),
        normal.view(num_views, num_rays, 3),
    )


_DEVICE_CACHE_ATTR = "_device_tensors"


def _device_scene(scene: SyntheticScene, device: torch.device) -> _DeviceScene:
    """The scene's render tensors on ``device``, built once per scene and device."""
    cache = scene.__dict__.setdefault(_DEVICE_CACHE_ATTR, {})
    if device not in cache:
        cache[device] = _DeviceScene(scene, device)
    return cache[device]


def render_views(
    scene: SyntheticScene,
    intrinsics: torch.Tensor,
    cam_to_world: torch.Tensor,
    height: int,
    width: int,
    device: torch.device | str | None = None,
    with_normals: bool = False,
) -> RenderedViews:
    """Render ``V`` views of a scene.

    Args:
        scene: from ``make_scene``.
        intrinsics: ``(V, 3, 3)`` pinhole ``K`` in pixels (OpenCV, pixel centres at integers).
        cam_to_world: ``(V, 4, 4)`` poses, OpenCV axes, metres.
        height, width: image size in pixels.
        device: where to render (default: CPU); outputs live there.
        with_normals: also return the surface normals (off by default: training batches do not use them).

    Returns:
        ``RenderedViews`` (float32 RGB in [0, 1], z-depth in metres, validity, camera-frame normals if asked).
    """
    if intrinsics.ndim != 3 or intrinsics.shape[1:] != (3, 3):
        raise ValueError(f"intrinsics must have shape (V, 3, 3), got {tuple(intrinsics.shape)}")
    if cam_to_world.shape != (intrinsics.shape[0], 4, 4):
        raise ValueError(f"cam_to_world must have shape ({intrinsics.shape[0]}, 4, 4), got {tuple(cam_to_world.shape)}")
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    device = torch.device(device if device is not None else "cpu")
    device_scene = _device_scene(scene, device)
    intrinsics = intrinsics.to(device, torch.float32)
    cam_to_world = cam_to_world.to(device, torch.float32)
    origins, directions = camera_rays(intrinsics, cam_to_world, height, width)
    directions = directions.reshape(len(intrinsics), height * width, 3)
    focal = torch.sqrt(intrinsics[:, 0, 0] * intrinsics[:, 1, 1])

    num_objects = max(1, len(scene.objects))
    views_per_chunk = max(1, _CHUNK_ELEMENTS // (height * width * num_objects))
    outputs = [
        _cast(device_scene, origins[chunk], directions[chunk], focal[chunk])
        for chunk in (slice(start, start + views_per_chunk) for start in range(0, len(intrinsics), views_per_chunk))
    ]
    rgb, depth, valid, normals = (torch.cat(parts) for parts in zip(*outputs, strict=True))
    if with_normals:
        # world -> camera: n_cam = R^T n_world, i.e. n_world @ R for row vectors
        normals = torch.where(valid[..., None], normals @ cam_to_world[:, :3, :3], 0.0)
        normals = normals.view(-1, height, width, 3).permute(0, 3, 1, 2).contiguous()
    return RenderedViews(
        rgb=rgb.view(-1, height, width, 3).permute(0, 3, 1, 2).contiguous(),
        depth=depth.view(-1, height, width),
        valid=valid.view(-1, height, width),
        normals=normals if with_normals else None,
    )
