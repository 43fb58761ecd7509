"""Camera and pose math: the one home of projection, unprojection, pose conventions, visibility, epipolar
geometry and point-cloud alignment. Every other module imports it from here.

Conventions (everywhere in muskie; see also ``muskie.constants``):

- Camera axes are OpenCV's: x right, y down, z forward. Sources in OpenGL axes (x right, y up, z backwards:
  nerfstudio, Blender) are converted on reading with :func:`opengl_to_opencv`.
- Poses are camera-to-world ``(..., 4, 4)`` rigid transforms (``cam_to_world``); ``invert_pose`` gives
  world-to-camera. A world point ``X`` is at ``R^T (X - t)`` in the camera.
- Intrinsics ``K (..., 3, 3)`` are in pixels with pixel centres at integer coordinates: pixel
  ``(row i, column j)`` has centre ``(u, v) = (j, i)``; pixel coordinates are always ``(u, v)`` = (column, row).
- Depth is z-depth: a point's coordinate along the camera's optical axis, not its distance from the camera
  centre.

Modules: ``cameras`` (pixel grid, intrinsics, rays, project / unproject / lift, depth transfer), ``poses``
(inversion, the OpenGL <-> OpenCV flip, look-at, relative poses, angles, nearest rotation, quaternions),
``visibility`` (the occlusion test, covisibility), ``epipolar`` (fundamental matrix, symmetric epipolar
distance), ``align`` (Umeyama, ICP, nearest neighbours, point-cloud normals), ``projection`` (projection
matrices as pinholes: RQ factorisation, OpenGL-style matrices). The package depends on torch and NumPy only
(SciPy's k-d tree is imported by ``align`` when first used).
"""

from muskie.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "muskie.geometry.align": (
            "Similarity",
            "icp",
            "nearest_distances",
            "nearest_neighbours",
            "point_normals",
            "umeyama",
        ),
        "muskie.geometry.cameras": (
            "camera_rays",
            "gather_pixels",
            "intrinsics_from_fov",
            "lift_pixels",
            "nearest_pixel",
            "pixel_grid",
            "pixel_rays",
            "project_points",
            "transfer_depth",
            "unproject",
            "unproject_depth",
        ),
        "muskie.geometry.epipolar": ("fundamental_matrix", "symmetric_epipolar_distance"),
        "muskie.geometry.poses": (
            "invert_pose",
            "look_at",
            "opencv_to_opengl",
            "opengl_to_opencv",
            "pair_mask",
            "quaternion_to_rotation",
            "relative_poses",
            "rotation_angle",
            "rotation_to_quaternion",
            "special_orthonormalize",
            "transform_points",
            "vector_angle",
        ),
        "muskie.geometry.projection": ("factor_projection", "pinhole_from_opengl_projection"),
        "muskie.constants": ("OCCLUSION_TOLERANCE",),
        "muskie.geometry.visibility": ("covisible", "visible_in_view"),
    },
)

__all__ = [
    "OCCLUSION_TOLERANCE",
    "Similarity",
    "camera_rays",
    "covisible",
    "factor_projection",
    "fundamental_matrix",
    "gather_pixels",
    "icp",
    "intrinsics_from_fov",
    "invert_pose",
    "lift_pixels",
    "look_at",
    "nearest_distances",
    "nearest_neighbours",
    "nearest_pixel",
    "opencv_to_opengl",
    "opengl_to_opencv",
    "pair_mask",
    "pinhole_from_opengl_projection",
    "pixel_grid",
    "pixel_rays",
    "point_normals",
    "project_points",
    "quaternion_to_rotation",
    "relative_poses",
    "rotation_angle",
    "rotation_to_quaternion",
    "special_orthonormalize",
    "symmetric_epipolar_distance",
    "transfer_depth",
    "transform_points",
    "umeyama",
    "unproject",
    "unproject_depth",
    "vector_angle",
    "visible_in_view",
]
