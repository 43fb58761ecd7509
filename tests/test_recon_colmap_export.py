"""A reconstruction as a COLMAP text model (muskie.recon.colmap_export): read back by muskie's COLMAP reader,
and its conventions checked by projecting the points with the file's own numbers."""

import numpy as np
import torch
from fixtures import capture_seen_through, known_capture

from muskie.data.sources.colmap import read_colmap_model, read_colmap_scene
from muskie.geometry import quaternion_to_rotation
from muskie.recon.colmap_export import sample_pixels, write_colmap_prediction


def exact_prediction(num_views=3):
    """A prediction whose cameras explain its points exactly (ground truth, float64)."""
    capture = known_capture(np.random.default_rng(5), num_views=num_views)
    return capture_seen_through(capture, list(range(num_views)), np.eye(4))


def test_poses_and_intrinsics_round_trip_through_the_colmap_reader(tmp_path):
    prediction = exact_prediction()
    keep = torch.ones(3, 5, 6, dtype=torch.bool)
    write_colmap_prediction(tmp_path / "sparse" / "0", prediction, keep)
    written = sorted(p.name for p in (tmp_path / "sparse" / "0").iterdir())
    assert written == ["cameras.txt", "images.txt", "points3D.txt"]
    scene = read_colmap_scene(tmp_path)
    assert [frame.image_path.name for frame in scene.frames] == ["v0.png", "v1.png", "v2.png"]
    for view, frame in enumerate(scene.frames):
        assert (frame.width, frame.height) == (6, 5)
        np.testing.assert_allclose(frame.intrinsics, prediction.intrinsics[view].numpy(), atol=1e-12, rtol=0)
        np.testing.assert_allclose(frame.cam_to_world, prediction.cam_to_world[view].numpy(), atol=1e-12, rtol=0)


def test_each_point_is_seen_at_its_pixel_through_the_files_cameras(tmp_path):
    prediction = exact_prediction()
    keep = torch.ones(3, 5, 6, dtype=torch.bool)
    keep[1, 2, 3] = False
    write_colmap_prediction(tmp_path, prediction, keep)
    cameras, images, points = read_colmap_model(tmp_path)
    assert len(points) == 3 * 5 * 6 - 1
    for point in points.values():
        (image_id,), (index,) = point.image_ids, point.point2d_idxs
        image = images[image_id]
        camera = cameras[image.camera_id]
        assert image.point3d_ids[index] == point.point3d_id
        # COLMAP's conventions, by hand: world-to-camera qvec / tvec, pixel centres at +0.5
        x, y, z = quaternion_to_rotation(image.qvec) @ point.xyz + image.tvec
        fx, fy, cx, cy = camera.params
        np.testing.assert_allclose([fx * x / z + cx, fy * y / z + cy], image.xys[index], atol=1e-9)
        assert point.error < 1e-9
        column, row = (image.xys[index] - 0.5).round().astype(int)
        view = image_id - 1
        assert (view, row, column) != (1, 2, 3), "a pixel left out of keep has no point"
        np.testing.assert_allclose(point.xyz, prediction.points[view, row, column].numpy(), atol=1e-12)
        expected_rgb = np.round(prediction.images[view, :, row, column].numpy() * 255)
        np.testing.assert_array_equal(point.rgb, expected_rgb)


def test_reprojection_errors_are_measured_and_points_are_capped(tmp_path):
    prediction = exact_prediction()
    prediction.intrinsics[:, 0, 0] *= 1.1  # a focal length 10% off: points no longer land on their pixels
    write_colmap_prediction(tmp_path, prediction, torch.ones(3, 5, 6, dtype=torch.bool), max_points=20)
    cameras, images, points = read_colmap_model(tmp_path)
    assert len(points) == 20 and sum(len(image.xys) for image in images.values()) == 20
    for point in points.values():
        image = images[int(point.image_ids[0])]
        x, y, z = quaternion_to_rotation(image.qvec) @ point.xyz + image.tvec
        fx, fy, cx, cy = cameras[image.camera_id].params
        seen = np.array([fx * x / z + cx, fy * y / z + cy])
        assert abs(point.error - np.linalg.norm(seen - image.xys[point.point2d_idxs[0]])) < 1e-9
    assert max(point.error for point in points.values()) > 0.01


def test_pixel_samples_are_seeded_subsets_in_pixel_order():
    keep = torch.rand(2, 10, 10, generator=torch.Generator().manual_seed(0)) > 0.3
    every = sample_pixels(keep, 1000)
    assert len(every) == int(keep.sum())
    some = sample_pixels(keep, 25)
    assert len(some) == 25 and np.array_equal(some, sample_pixels(keep, 25))
    assert keep[tuple(torch.from_numpy(some).T)].all()
    flat = some @ np.array([100, 10, 1])
    assert np.all(np.diff(flat) > 0)
