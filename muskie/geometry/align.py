"""Aligning point clouds: the Umeyama similarity from correspondences and a nearest-neighbour ICP; nearest
neighbours and point-cloud normals.

Everything here is float64 NumPy; a transform ``(scale, rotation (3, 3), translation (3,))`` maps a point
``x`` to ``scale * rotation @ x + translation``. The nearest-neighbour searches use SciPy's k-d tree,
imported when first needed so that ``import muskie.geometry`` (and the data pipeline) loads torch and NumPy
only.
"""

# no `from __future__ import annotations`: Similarity's fields keep real types, so the constructor NamedTuple
# generates (which belongs to no module's namespace) has annotations that resolve, e.g. in the API reference
from typing import NamedTuple

import numpy as np


class Similarity(NamedTuple):
    """``x -> scale * rotation @ x + translation``; ``rotation`` is a proper rotation (det +1)."""

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform ``points (..., 3)``."""
        return self.scale * np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation

    def apply_to_poses(self, cam_to_world: np.ndarray) -> np.ndarray:
        """Move camera-to-world poses ``(..., 4, 4)`` with the world: rotation ``R @ R_i``, centre
        ``apply(t_i)``. The camera frame keeps its axes; lengths in it scale by ``scale`` (a camera's local
        points become ``scale`` times longer), so the poses stay rigid."""
        poses = np.array(cam_to_world, dtype=np.float64)
        poses[..., :3, :3] = self.rotation @ poses[..., :3, :3]
        poses[..., :3, 3] = self.apply(poses[..., :3, 3])
        return poses


def _check_points(name: str, points) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} has non-finite coordinates")
    return points


def umeyama(source, target, with_scale: bool = True, weights=None) -> Similarity:
    """The similarity (or rigid transform, without ``with_scale``) minimising
    ``sum_k w_k |scale * R @ source_k + t - target_k|^2`` for corresponding points ``source, target (N, 3)``
    (Umeyama, PAMI 1991), ``weights (N,)`` non-negative (default all 1; integer weights act as repeated
    points). Needs ``N >= 3`` points of positive weight, not all on a line."""
    source = _check_points("source", source)
    target = _check_points("target", target)
    if source.shape != target.shape or len(source) < 3:
        raise ValueError(f"umeyama needs two (N, 3) arrays of the same N >= 3, got {source.shape} and {target.shape}")
    weights = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(source),) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"umeyama weights must be ({len(source)},) finite and non-negative, got shape {weights.shape}")
    if (weights > 0).sum() < 3:
        raise ValueError("umeyama needs at least 3 points of positive weight")
    weights = weights / weights.sum()
    mean_source, mean_target = weights @ source, weights @ target
    centred_source, centred_target = source - mean_source, target - mean_target
    covariance = (weights[:, None] * centred_target).T @ centred_source
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2] = -1.0  # the best orthogonal map is a reflection: take the best rotation instead
    rotation = (u * sign) @ vt
    variance = weights @ (centred_source**2).sum(1)
    if variance <= 0:
        raise ValueError("umeyama: the source points all coincide")
    scale = float((singular * sign).sum() / variance) if with_scale else 1.0
    translation = mean_target - scale * rotation @ mean_source
    return Similarity(scale, rotation, translation)


def icp(
    source, target, initial: Similarity, max_distance: float, iterations: int = 30, tolerance: float = 1e-9
) -> Similarity:
    """Refine ``initial`` so that ``source (N, 3)`` lands on ``target (M, 3)``: point-to-point ICP.

    Each iteration pairs every transformed source point with its nearest target point, keeps the pairs
    closer than ``max_distance``, and re-solves the rigid part (the scale stays ``initial.scale``: it came
    from correspondences, which ICP's nearest neighbours would only bias). Stops after ``iterations`` or
    when the mean pair distance improves by less than ``tolerance``; returns ``initial`` if fewer than 3
    pairs are ever close enough.
    """
    from scipy.spatial import cKDTree

    source = _check_points("source", source)
    target = _check_points("target", target)
    if max_distance <= 0:
        raise ValueError(f"max_distance must be positive, got {max_distance}")
    tree = cKDTree(target)
    current = initial
    previous = np.inf
    for _ in range(iterations):
        moved = current.apply(source)
        distance, index = tree.query(moved, distance_upper_bound=max_distance)
        close = np.isfinite(distance)
        if close.sum() < 3:
            break
        mean = distance[close].mean()
        if previous - mean < tolerance:
            break
        previous = mean
        # solve for the rigid step on top of the current transform, then compose
        step = umeyama(moved[close], target[index[close]], with_scale=False)
        current = Similarity(
            current.scale, step.rotation @ current.rotation, step.rotation @ current.translation + step.translation
        )
    return current


def nearest_neighbours(query, reference) -> tuple[np.ndarray, np.ndarray]:
    """Distance ``(N,)`` float64 from each point of ``query (N, 3)`` to its nearest point of ``reference
    (M, 3)``, and that point's index ``(N,)``."""
    from scipy.spatial import cKDTree

    query = _check_points("query", query)
    reference = _check_points("reference", reference)
    if len(reference) == 0:
        raise ValueError("reference point cloud is empty")
    return cKDTree(reference).query(query)


def nearest_distances(query, reference) -> np.ndarray:
    """Distance ``(N,)`` from each point of ``query (N, 3)`` to its nearest point of ``reference (M, 3)``."""
    return nearest_neighbours(query, reference)[0]


def point_normals(points, neighbours: int = 30, chunk: int = 1 << 16) -> np.ndarray:
    """Unit normals ``(N, 3)`` float64 of a point cloud ``(N, 3)``: per point, the direction of least variance
    of its ``neighbours`` nearest points (itself included), the principal-component estimate Open3D's
    ``estimate_normals`` makes with its default 30-neighbour search. The sign is arbitrary (compare normals
    by the absolute value of their dot product). Points are processed ``chunk`` at a time."""
    from scipy.spatial import cKDTree

    points = _check_points("points", points)
    if len(points) < 3:
        raise ValueError(f"normals need at least 3 points, got {len(points)}")
    k = min(neighbours, len(points))
    tree = cKDTree(points)
    normals = np.empty_like(points)
    for start in range(0, len(points), chunk):
        _, index = tree.query(points[start : start + chunk], k=k)
        near = points[index]  # (n, k, 3)
        centred = near - near.mean(axis=1, keepdims=True)
        _, vectors = np.linalg.eigh(np.einsum("nki,nkj->nij", centred, centred))
        normals[start : start + chunk] = vectors[:, :, 0]  # eigh sorts eigenvalues ascending
    return normals
