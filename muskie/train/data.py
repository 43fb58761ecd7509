"""The training data of a pre-training config: its dataset and one batch sampler per resolution group."""

from __future__ import annotations

from torch.utils.data import Dataset

from muskie.data.sources import load_scenes
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import MultiViewBatchSampler, MultiViewDataset
from muskie.train.config import PretrainConfig


def build_pretrain_dataset(config: PretrainConfig) -> Dataset:
    """Synthetic scenes rendered on the fly, or the scenes found at ``config.data.source``."""
    data = config.data
    if data.source == "synthetic":
        return SyntheticViewDataset(
            split="train",
            config=SyntheticConfig(camera_path=data.synthetic_path, num_frames=data.window),
            num_scenes=data.synthetic_scenes,
        )
    return MultiViewDataset(load_scenes(data.source), window=data.window, crop_scale=tuple(data.crop_scale))


def build_batch_sampler(config: PretrainConfig, num_samples: int, sizes: list[list[int]],
                        group_index: int) -> MultiViewBatchSampler:
    """Batches of ``config.data.batch_size`` scenes, 2..8 views and one of ``sizes`` per batch.

    Each resolution group gets its own seed so the groups of one step show different scenes.
    """
    data = config.data
    return MultiViewBatchSampler(
        num_samples,
        batch_size=data.batch_size,
        num_views=(data.min_views, data.max_views),
        sizes=[tuple(size) for size in sizes],
        seed=config.seed * 1000 + group_index,
        shuffle=True,
        drop_last=True,
    )
