"""Model configuration: the :class:`MuskieConfig` dataclass and the named presets.

The presets ``small``, ``base``, ``large`` and ``huge`` have the shapes of the released checkpoints (brief
section 2); ``base`` and ``large`` are the paper's models. ``tiny`` is ours: the released architecture at
width 128, 4 heads, 4 alternating-attention blocks and 8-pixel patches (1.66 M parameters with the pixel
head), small enough to pre-train in minutes on one CPU core at 64x64 pixels. Their sizes are defined once,
in :data:`muskie.constants.PRESET_SIZES`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from muskie.config_io import check_fields
from muskie.constants import NUM_REGISTER_TOKENS, PRESET_SIZES, ROPE_BASE


@dataclass(frozen=True)
class MuskieConfig:
    """Shape and behaviour of a Muskie backbone.

    Attributes:
        embed_dim: token width ``E``.
        depth: number of alternating-attention (AA) blocks; each holds a frame and a global layer.
        num_heads: attention heads; ``E / num_heads`` must be a multiple of 4 (2D RoPE splits each head in
            a row half and a column half, each rotated in pairs).
        patch_size: side ``p`` of the square patches, in pixels.
        mlp_ratio: MLP hidden width as a multiple of ``E``.
        num_registers: register tokens per view (the same ones for every view).
        rope_base: base frequency of the 2D rotary position embedding.
        cross_view: if False the global layers attend within each view only: a frame-wise twin with the
            same parameters, used as a baseline.
        grad_checkpointing: recompute each block in the backward pass instead of storing its activations.
    """

    embed_dim: int
    depth: int
    num_heads: int
    patch_size: int = 16
    mlp_ratio: float = 4.0
    num_registers: int = NUM_REGISTER_TOKENS
    rope_base: float = ROPE_BASE
    cross_view: bool = True
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        # the fields come from files (config.json, recipes): integers, finite numbers and true booleans only
        check_fields(self, "MuskieConfig")
        for name in ("embed_dim", "depth", "num_heads", "patch_size"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"MuskieConfig.{name} must be a positive integer, got {value!r}")
        if self.num_registers < 0:
            raise ValueError(f"MuskieConfig.num_registers must be a non-negative integer, got {self.num_registers!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.head_dim % 4:
            raise ValueError(f"head width embed_dim/num_heads = {self.head_dim} must be a multiple of 4 for 2D RoPE")
        if self.mlp_ratio <= 0 or self.mlp_hidden_dim < 1:
            raise ValueError(f"MuskieConfig.mlp_ratio must be positive, got {self.mlp_ratio!r}")
        if self.rope_base <= 0:
            raise ValueError(f"MuskieConfig.rope_base must be positive, got {self.rope_base!r}")

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def mlp_hidden_dim(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)

    @property
    def pixel_dim(self) -> int:
        """Values per RGB patch, ``3 * p * p``."""
        return 3 * self.patch_size * self.patch_size

    def replace(self, **overrides: Any) -> MuskieConfig:
        """A copy with some fields changed; unknown field names raise ValueError."""
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"unknown MuskieConfig fields: {', '.join(unknown)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> MuskieConfig:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown MuskieConfig fields: {', '.join(unknown)}")
        try:
            return cls(**values)
        except TypeError as err:  # a required field is missing
            raise ValueError(f"incomplete MuskieConfig: {err}") from None


PRESETS: dict[str, MuskieConfig] = {name: MuskieConfig(**size) for name, size in PRESET_SIZES.items()}


def preset_config(name: str, **overrides: Any) -> MuskieConfig:
    """The preset called ``name`` (see :data:`PRESETS`) with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides)
