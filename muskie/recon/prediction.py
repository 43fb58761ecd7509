"""The record of a reconstruction: what :mod:`muskie.recon.predict` computes and its writers write."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from muskie.geometry import Similarity


@dataclass
class Prediction:
    """The model's reconstruction of ``V`` views of ``H x W`` pixels.

    Attributes:
        names: the image file stems, in view order.
        images: ``(V, 3, H, W)`` float RGB in [0, 1], the model's input.
        local_points, points: ``(V, H, W, 3)`` in each camera's frame and in the world frame of view 0.
        confidence: ``(V, H, W)`` in (0, 1).
        cam_to_world: ``(V, 4, 4)`` poses, OpenCV axes, view 0 the identity.
        intrinsics: ``(V, 3, 3)`` estimated ``K`` in pixels of the ``H x W`` input.

    Lengths are in the model's unit (a scene's scale is unknowable from images).
    """

    names: list[str]
    images: torch.Tensor
    local_points: torch.Tensor
    points: torch.Tensor
    confidence: torch.Tensor
    cam_to_world: torch.Tensor
    intrinsics: torch.Tensor

    @property
    def depth(self) -> torch.Tensor:
        """``(V, H, W)`` z-depth: the local points' third coordinate."""
        return self.local_points[..., 2]

    def views(self, indices) -> Prediction:
        """The prediction of the views ``indices`` (a sequence of view indices), in the same world frame."""
        indices = list(indices)
        pick = torch.tensor(indices, dtype=torch.long)
        return Prediction(
            [self.names[i] for i in indices],
            self.images[pick],
            self.local_points[pick],
            self.points[pick],
            self.confidence[pick],
            self.cam_to_world[pick],
            self.intrinsics[pick],
        )

    def moved(self, similarity: Similarity) -> Prediction:
        """The same reconstruction in another world frame: ``points`` and ``cam_to_world`` moved by
        ``similarity``; ``local_points`` (and depth) scaled by its scale, as the world's lengths are;
        images, confidence and intrinsics unchanged. Computed in float64, returned in the input dtype."""

        def back(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(array).to(like.dtype)

        return Prediction(
            list(self.names),
            self.images,
            back(similarity.scale * self.local_points.double().numpy(), self.local_points),
            back(similarity.apply(self.points.double().numpy()), self.points),
            self.confidence,
            back(similarity.apply_to_poses(self.cam_to_world.double().numpy()), self.cam_to_world),
            self.intrinsics,
        )


def concatenate(predictions: list[Prediction]) -> Prediction:
    """The views of ``predictions`` (all in one world frame, of one image size) as one prediction, in order."""
    if not predictions:
        raise ValueError("concatenate needs at least one prediction")
    return Prediction(
        [name for p in predictions for name in p.names],
        *(
            torch.cat([getattr(p, field) for p in predictions])
            for field in ("images", "local_points", "points", "confidence", "cam_to_world", "intrinsics")
        ),
    )
