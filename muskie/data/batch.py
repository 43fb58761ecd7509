"""``ViewBatch``: a typed batch of ``B`` scenes of ``V`` views, and the collation that builds it.

A multi-view dataset returns one sample as a dict (``muskie.data.views``): ``images (V, 3, H, W)`` float32
in [-1, 1]; with cameras ``intrinsics (V, 3, 3)`` (pixels, OpenCV) and ``cam_to_world (V, 4, 4)`` (OpenCV
axes); with depth ``depth (V, H, W)`` z-depth in scene units and ``valid (V, H, W)`` bool; ``scene`` str.
:func:`collate_views` stacks such samples into a :class:`ViewBatch`, whose per-view fields are named, not
guessed by shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

# The fields of a sample that hold one entry per view, in the order they are stored.
PER_VIEW_FIELDS = ("images", "intrinsics", "cam_to_world", "depth", "valid")


@dataclass
class ViewBatch:
    """``B`` scenes of ``V`` views at ``H x W`` pixels.

    Attributes:
        images: ``(B, V, 3, H, W)`` float in [-1, 1].
        intrinsics: ``(B, V, 3, 3)`` float, pixels (OpenCV, pixel centres at integers); None without cameras.
        cam_to_world: ``(B, V, 4, 4)`` float, OpenCV camera axes; None without cameras.
        depth: ``(B, V, H, W)`` float z-depth in scene units; None without depth.
        valid: ``(B, V, H, W)`` bool, pixels with known depth; None without depth.
        scenes: the ``B`` scene names.
    """

    images: torch.Tensor
    intrinsics: torch.Tensor | None = None
    cam_to_world: torch.Tensor | None = None
    depth: torch.Tensor | None = None
    valid: torch.Tensor | None = None
    scenes: list[str] = dataclasses.field(default_factory=list)

    @property
    def has_cameras(self) -> bool:
        return self.intrinsics is not None and self.cam_to_world is not None

    @property
    def has_depth(self) -> bool:
        return self.depth is not None and self.valid is not None

    @property
    def num_scenes(self) -> int:
        return self.images.shape[0]

    @property
    def num_views(self) -> int:
        return self.images.shape[1]

    def _map(self, function) -> ViewBatch:
        fields = {
            name: None if getattr(self, name) is None else function(getattr(self, name)) for name in PER_VIEW_FIELDS
        }
        return ViewBatch(**fields, scenes=list(self.scenes))

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ViewBatch:
        """The batch with every tensor on ``device``."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> ViewBatch:
        """Page-locked copies (called by ``DataLoader(pin_memory=True)``)."""
        return self._map(lambda t: t.pin_memory())

    def permute_views(self, order: torch.Tensor) -> ViewBatch:
        """Reorder the views of each scene: ``order (B, V)`` long, row ``b`` a permutation of ``0..V-1``;
        view ``j`` of scene ``b`` in the result is view ``order[b, j]`` of this batch."""
        if tuple(order.shape) != (self.num_scenes, self.num_views):
            raise ValueError(
                f"order must have shape (B, V) = {(self.num_scenes, self.num_views)}, got {tuple(order.shape)}"
            )

        def gather(tensor: torch.Tensor) -> torch.Tensor:
            index = order.to(tensor.device).view(*order.shape, *([1] * (tensor.ndim - 2))).expand_as(tensor)
            return torch.gather(tensor, 1, index)

        return self._map(gather)

    def select(self, index: int) -> dict:
        """Scene ``index`` as a sample dict (the per-view fields it has, and ``scene``)."""
        sample = {name: getattr(self, name)[index] for name in PER_VIEW_FIELDS if getattr(self, name) is not None}
        sample["scene"] = self.scenes[index] if self.scenes else ""
        return sample


def collate_views(samples: list[dict]) -> ViewBatch:
    """Stack multi-view samples into a :class:`ViewBatch`.

    A per-view field present in every sample is stacked along a new leading ``B`` axis; a field missing from
    any sample (e.g. cameras of an image-only scene) is None in the batch.

    Raises:
        ValueError: no samples, or samples that differ in ``(V, 3, H, W)`` (batch them with
            ``MultiViewBatchSampler``).
    """
    if not samples:
        raise ValueError("collate_views needs at least one sample")
    shapes = {tuple(sample["images"].shape) for sample in samples}
    if len(shapes) > 1:
        raise ValueError(f"samples of one batch must share (V, 3, H, W), got {sorted(shapes)}")
    fields = {
        name: torch.stack([sample[name] for sample in samples])
        for name in PER_VIEW_FIELDS
        if all(name in sample for sample in samples)
    }
    return ViewBatch(**fields, scenes=[sample.get("scene", "") for sample in samples])
