import math

import numpy as np
import pytest

from muskie.geometry import Similarity, icp, nearest_distances, umeyama


def rotation_about(axis, degrees):
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = math.radians(degrees)
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def test_umeyama_recovers_a_known_similarity_exactly():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(50, 3))
    truth = Similarity(2.5, rotation_about([0.2, 1, -0.4], 123.0), np.array([1.0, -3.0, 0.5]))
    found = umeyama(source, truth.apply(source))
    assert found.scale == pytest.approx(2.5, abs=1e-12)
    np.testing.assert_allclose(found.rotation, truth.rotation, atol=1e-12)
    np.testing.assert_allclose(found.translation, truth.translation, atol=1e-12)
    rigid = umeyama(source, truth.apply(source), with_scale=False)
    assert rigid.scale == 1.0
    np.testing.assert_allclose(rigid.rotation, truth.rotation, atol=1e-12)
    # a mirrored target: the best *rotation* is returned, never a reflection
    mirrored = umeyama(source, source * np.array([1.0, 1.0, -1.0]))
    assert np.linalg.det(mirrored.rotation) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same N"):
        umeyama(source, source[:10])


def test_weighted_umeyama_counts_integer_weights_as_repeated_points_and_ignores_zero_weights():
    rng = np.random.default_rng(3)
    source = rng.normal(size=(30, 3))
    target = Similarity(0.7, rotation_about([1, -1, 2], 40.0), np.array([0.3, 0.1, -2.0])).apply(source)
    target += rng.normal(scale=0.05, size=target.shape)  # noise: the weights change the answer
    counts = rng.integers(1, 4, size=30)
    weighted = umeyama(source, target, weights=counts)
    repeated = umeyama(np.repeat(source, counts, axis=0), np.repeat(target, counts, axis=0))
    assert weighted.scale == pytest.approx(repeated.scale, abs=1e-12)
    np.testing.assert_allclose(weighted.rotation, repeated.rotation, atol=1e-12)
    np.testing.assert_allclose(weighted.translation, repeated.translation, atol=1e-12)
    assert abs(weighted.scale - umeyama(source, target).scale) > 1e-6, "the weights matter"
    outliers = np.concatenate([target[:20], rng.normal(scale=50.0, size=(10, 3))])
    clean = umeyama(source[:20], target[:20])
    ignored = umeyama(source, outliers, weights=np.r_[np.ones(20), np.zeros(10)])
    np.testing.assert_allclose(ignored.rotation, clean.rotation, atol=1e-12)
    assert ignored.scale == pytest.approx(clean.scale, abs=1e-12)
    with pytest.raises(ValueError, match="positive weight"):
        umeyama(source, target, weights=np.r_[1.0, 1.0, np.zeros(28)])
    with pytest.raises(ValueError, match="non-negative"):
        umeyama(source, target, weights=-np.ones(30))


def test_a_similarity_moves_poses_with_the_world_keeping_them_rigid():
    rng = np.random.default_rng(4)
    similarity = Similarity(3.0, rotation_about([0.5, 1, 0], 70.0), np.array([1.0, 2.0, -1.0]))
    poses = np.tile(np.eye(4), (2, 1, 1))
    poses[:, :3, :3] = [rotation_about([0, 0, 1], 30.0), rotation_about([1, 0, 0], -50.0)]
    poses[:, :3, 3] = rng.normal(size=(2, 3))
    local = rng.normal(size=(2, 5, 3))  # points in each camera's frame
    world = np.einsum("vij,vnj->vni", poses[:, :3, :3], local) + poses[:, None, :3, 3]
    moved = similarity.apply_to_poses(poses)
    # the moved world point is the moved camera's view of the same local point, `scale` times longer
    seen = np.einsum("vij,vnj->vni", moved[:, :3, :3], similarity.scale * local) + moved[:, None, :3, 3]
    np.testing.assert_allclose(seen, similarity.apply(world), atol=1e-12)
    np.testing.assert_allclose(
        moved[:, :3, :3] @ moved[:, :3, :3].transpose(0, 2, 1), np.tile(np.eye(3), (2, 1, 1)), atol=1e-12
    )
    np.testing.assert_array_equal(moved[:, 3], [[0, 0, 0, 1]] * 2)


def test_icp_fixes_a_small_known_misalignment():
    rng = np.random.default_rng(2)
    # an asymmetric shape: points on three faces of a box of different sides
    faces = [
        np.c_[rng.uniform(0, 2, 400), rng.uniform(0, 1, 400), np.zeros(400)],
        np.c_[np.zeros(400), rng.uniform(0, 1, 400), rng.uniform(0, 0.5, 400)],
        np.c_[rng.uniform(0, 2, 400), np.zeros(400), rng.uniform(0, 0.5, 400)],
    ]
    target = np.concatenate(faces)
    source = rng.permutation(target)  # no correspondences by index
    start = Similarity(1.0, rotation_about([1, 2, 3], 3.0), np.array([0.03, -0.02, 0.02]))
    initial_error = nearest_distances(start.apply(source), target).mean()
    found = icp(source, target, start, max_distance=0.3, iterations=100)
    final_error = nearest_distances(found.apply(source), target).mean()
    assert initial_error > 0.02 and final_error < 1e-6
    np.testing.assert_allclose(found.apply(source[:5]), source[:5], atol=1e-6)


def test_nearest_distances_of_known_points():
    reference = np.array([[0.0, 0, 0], [1.0, 0, 0], [0, 2.0, 0]])
    query = np.array([[0.0, 0, 0.5], [0.9, 0, 0], [0, 3.0, 0]])
    np.testing.assert_allclose(nearest_distances(query, reference), [0.5, 0.1, 1.0], rtol=1e-12)
    with pytest.raises(ValueError, match="empty"):
        nearest_distances(query, np.zeros((0, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        nearest_distances(np.array([[np.nan, 0, 0]]), reference)


def test_point_normals_of_a_tilted_plane_and_nearest_neighbour_indices():
    from muskie.geometry import nearest_neighbours, point_normals

    grid = np.stack(np.meshgrid(np.linspace(0, 1, 30), np.linspace(0, 1, 30)), -1).reshape(-1, 2)
    plane = np.c_[grid, 0.3 * grid[:, 0] - 0.2 * grid[:, 1]]
    normal = np.array([-0.3, 0.2, 1.0]) / np.linalg.norm([-0.3, 0.2, 1.0])
    normals = point_normals(plane, chunk=100)  # several chunks
    np.testing.assert_allclose(np.abs(normals @ normal), 1.0, atol=1e-9)
    distance, index = nearest_neighbours(plane[[5, 17]] + [0.0, 0.0, 0.01], plane)
    np.testing.assert_array_equal(index, [5, 17])
    np.testing.assert_allclose(distance, 0.01, atol=1e-12)
