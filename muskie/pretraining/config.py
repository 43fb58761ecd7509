"""Pre-training configuration: plain dataclasses whose defaults are the paper's recipe for Muskie-B.

One config serves every pre-training method (``method``: Muskie's MV-MIM, or a peer recipe of
``muskie.peers``), so recipes compared with each other share their data, optimiser, steps and seeds by
construction. Named recipes live as YAML files in ``muskie/configs/`` (``tiny-cpu``, ``base``, ``large``,
and the peers' ``mae-tiny-cpu``, ``mum-tiny-cpu``, ``croco-tiny-cpu``); a run writes its resolved config as
``config.yaml`` beside its checkpoints. The engine's keys (``steps``, ``optim``, ``precision`` ...) are those
of :class:`muskie.train.config.RunConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from muskie.config_io import ConfigError

# DatasetSourceConfig: the type of the inherited ``sources`` field, named here so that the generated __init__'s
# annotations resolve in this module (the API reference)
from muskie.data.datasets import DatasetSourceConfig, SceneSourceConfig  # noqa: F401
from muskie.model.config import preset_config
from muskie.pretraining.masking import MaskConfig, num_masked_patches
from muskie.train.config import OptimConfig, RunConfig, load_recipe

# The paper trains every step at these three resolutions; at 512 px each step draws one aspect ratio.
PAPER_RESOLUTIONS = [
    [[224, 224]],
    [[384, 384]],
    [[512, 512], [512, 288], [512, 384], [288, 512], [384, 512]],
]


@dataclass
class DataConfig(SceneSourceConfig):
    """Where scenes come from (:class:`muskie.data.datasets.SceneSourceConfig`) and how views are drawn.

    ``min_views``..``max_views`` views per scene. ``resolutions``: one entry per batch of a step; each entry
    lists the (H, W) sizes a batch may take (one drawn per batch). Every step averages the losses of all
    entries.
    """

    min_views: int = 2
    max_views: int = 8
    resolutions: list[list[list[int]]] = field(default_factory=lambda: [r[:] for r in PAPER_RESOLUTIONS])


# The pre-training methods: Muskie's multi-view masked image modeling and the peer recipes (muskie.peers).
METHODS = ("muskie", "mae", "mum", "croco")
PEER_METHODS = METHODS[1:]
# The mask ratio of each peer method when ``peer.mask_ratio`` is null: MAE's and MuM's 75%, CroCo's 90%.
PEER_MASK_RATIOS = {"mae": 0.75, "mum": 0.75, "croco": 0.9}


@dataclass
class PeerConfig:
    """The peer recipes' own settings (``method`` other than ``muskie``; the Muskie method ignores them).

    Attributes:
        mask_ratio: the fraction of patches masked (and dropped from the encoder) in every masked view,
            in (0, 1); null: the method's own (MAE and MuM 0.75, CroCo 0.9). Masks are uniformly random
            and hit the ratio exactly.
        decoder_depth: decoder blocks. MAE: frame-wise blocks of two frame layers; MuM: alternating-attention
            blocks (a frame layer, then a layer over all views); CroCo: blocks of self-attention over the
            masked view, cross-attention to the reference view, and an MLP.
        decoder_dim: the decoder's token width.
        decoder_heads: the decoder's attention heads (``decoder_dim / decoder_heads`` a multiple of 4, for
            2D RoPE).
        norm_pix_loss: predict per-patch normalised pixels (each patch's values minus their mean, over
            their standard deviation), as MAE, MuM and CroCo do; false: raw pixels in [-1, 1].
    """

    mask_ratio: float | None = None
    decoder_depth: int = 1
    decoder_dim: int = 128
    decoder_heads: int = 4
    norm_pix_loss: bool = True

    def ratio(self, method: str) -> float:
        """The mask ratio ``method`` trains with."""
        return PEER_MASK_RATIOS[method] if self.mask_ratio is None else self.mask_ratio

    def validate(self) -> PeerConfig:
        """Check the values; returns self. Raises ConfigError naming the key."""
        if self.mask_ratio is not None and not 0 < self.mask_ratio < 1:
            raise ConfigError(
                f"peer.mask_ratio must lie in (0, 1) (a view keeps at least one patch and masks "
                f"one), or be null for the method's own; got {self.mask_ratio}"
            )
        for name in ("decoder_depth", "decoder_dim", "decoder_heads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"peer.{name} must be >= 1, got {getattr(self, name)}")
        if self.decoder_dim % self.decoder_heads or (self.decoder_dim // self.decoder_heads) % 4:
            raise ConfigError(
                f"peer.decoder_dim / peer.decoder_heads must be a whole multiple of 4 (2D RoPE), got "
                f"{self.decoder_dim} / {self.decoder_heads}"
            )
        return self


# the settings of the Muskie method alone, with what a peer recipe has in their place
MUSKIE_ONLY = {
    "rope_view_shift": "",
    "predict_masked_only": "",
    "decoder_blocks": " (its decoder is peer.decoder_depth)",
    "norm_pix_loss": " (its targets are peer.norm_pix_loss)",
    "hide_mask_tokens": " (its encoder drops the masked patches)",
}


@dataclass
class PretrainConfig(RunConfig):
    """A whole pre-training run.

    ``method``: ``muskie`` (multi-view masked image modeling with reference views, ``mask``), or a peer
    recipe (``mae``, ``mum``, ``croco``; see ``muskie.peers``) with its settings in ``peer``; a peer's
    encoder is the frame-wise twin of the ``model`` preset (``cross_view`` off) and ignores ``mask``.
    ``model`` is a preset name and ``model_overrides`` changes its fields. Each loaded batch is used
    ``reuse`` times, each time with a new view order and a new mask, and each use takes its own optimiser
    step (the paper uses every sample twice). ``rope_view_shift`` (Muskie method only; 0, the paper's
    model, by default): shift each view's RoPE patch positions by whole cells drawn per view and step from
    ``0..rope_view_shift`` along rows and columns, so that views no longer share positions and copying the
    same position of another view is no longer a free guess (evaluation always uses shared positions).
    ``predict_masked_only`` (Muskie method only; off until measured, see docs/performance.md): run the
    pixel head and the loss on the masked patches only, the only ones the loss reads (the same loss up to
    the order of float32 sums; :func:`muskie.pretraining.step.pretraining_loss`).
    ``decoder_blocks`` (Muskie method only; 0, the paper's model, by default): a pixel decoder of that many
    alternating-attention blocks after the ``model``'s, between the encoder and the pixel head. They train
    with the encoder, see every token (no dropping) and attend across views like its blocks; validation
    reads the encoder alone, and the finished run exports it alone, as a ``MuskieBackbone`` folder.
    ``norm_pix_loss`` (Muskie method only; false, the paper's raw pixels in [-1, 1], by default): the
    confidence-weighted loss reconstructs per-patch normalised pixels instead, the peers' targets
    (``peer.norm_pix_loss``; :func:`muskie.model.patches.patch_targets`).
    ``hide_mask_tokens`` (Muskie method only; false, the paper's model, by default): in every attention layer
    the registers and visible patches attend only to each other, never to the mask tokens, which attend to
    every token; the visible tokens then compute what an encoder that drops the masked patches would, as in
    MAE and MuM, while the mask tokens are reconstructed by the same blocks. Not with ``decoder_blocks``.
    """

    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 2_500_000
    precision: str = "auto"
    out_dir: str = "runs/pretrain"
    checkpoint_every: int = 1000
    model: str = "base"
    model_overrides: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    reuse: int = 2
    method: str = "muskie"
    peer: PeerConfig = field(default_factory=PeerConfig)
    rope_view_shift: int = 0
    predict_masked_only: bool = False
    decoder_blocks: int = 0
    norm_pix_loss: bool = False
    hide_mask_tokens: bool = False

    def validate(self) -> PretrainConfig:
        """Check values that types alone do not; returns self. Raises ConfigError."""
        super().validate()
        if self.reuse < 1:
            raise ConfigError(f"reuse must be >= 1, got {self.reuse}")
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        self.peer.validate()
        if self.rope_view_shift < 0:
            raise ConfigError(f"rope_view_shift must be >= 0 (patch cells), got {self.rope_view_shift}")
        if self.decoder_blocks < 0:
            raise ConfigError(f"decoder_blocks must be >= 0, got {self.decoder_blocks}")
        if self.hide_mask_tokens and self.decoder_blocks:
            raise ConfigError("hide_mask_tokens hides the mask tokens in every block: it takes no decoder_blocks")
        if self.method != "muskie":
            for name, peer_twin in MUSKIE_ONLY.items():
                if getattr(self, name):
                    raise ConfigError(f"{name} applies to method muskie only, not {self.method}{peer_twin}")
        data = self.data
        data.validate(needs_validation=self.val_every > 0)
        if not 1 <= data.min_views <= data.max_views:
            raise ConfigError(f"need 1 <= data.min_views <= data.max_views, got {data.min_views}, {data.max_views}")
        if self.method == "croco" and data.min_views < 2:
            raise ConfigError(
                f"method croco trains on pairs of views: data.min_views must be >= 2, got {data.min_views}"
            )
        if self.method in PEER_METHODS and self.model_overrides.get("cross_view", False):
            raise ConfigError(f"method {self.method}: the encoder is frame-wise; drop model_overrides.cross_view")
        try:
            patch_size = preset_config(self.model, **self.model_overrides).patch_size
        except (TypeError, ValueError) as err:
            raise ConfigError(f"model / model_overrides: {err}") from None
        if not data.resolutions:
            raise ConfigError("data.resolutions must list at least one resolution group")
        for group in data.resolutions:
            if not group:
                raise ConfigError("data.resolutions: a resolution group lists no size")
            for size in group:
                if len(size) != 2 or min(size) < 1:
                    raise ConfigError(f"data.resolutions: {size} is not an (H, W) pair of positive sizes")
                if size[0] % patch_size or size[1] % patch_size:
                    raise ConfigError(
                        f"data.resolutions: {size} is not a multiple of the model's patch size {patch_size}"
                    )
                if self.method in PEER_METHODS:
                    self._check_peer_mask(size[0] // patch_size * (size[1] // patch_size), size)
        return self

    def _check_peer_mask(self, num_patches: int, size: list[int]) -> None:
        """A peer's masked views must keep at least one patch and mask at least one, at every size."""
        ratio = self.peer.ratio(self.method)
        masked = num_masked_patches(ratio, num_patches)
        if not 0 < masked < num_patches:
            raise ConfigError(
                f"method {self.method}: a mask ratio of {ratio} masks {masked} of the {num_patches} "
                f"patches of a {size[0]}x{size[1]} view; it must keep one and mask one (change "
                f"peer.mask_ratio or data.resolutions)"
            )


def load_pretrain_config(recipe: str | None = None, overrides: list[dict] = ()) -> PretrainConfig:
    """The default config, then a named recipe or YAML file, then each override dict, validated."""
    return load_recipe(PretrainConfig(), recipe, overrides)
