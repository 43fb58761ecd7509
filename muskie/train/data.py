"""The training data of a pre-training config: its dataset and one batch sampler per resolution group."""

from __future__ import annotations

from torch.utils.data import Dataset

from muskie.data.sources import load_scenes
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import MultiViewBatchSampler, MultiViewDataset
from muskie.train.config import PretrainConfig


def build_pretrain_dataset(config: PretrainConfig) -> Dataset:
    """Synthetic scenes rendered on the fly, or the scenes found at ``config.data.source``.

    Raises ``ValueError`` when no scene on disk has ``data.max_views`` frames. Shorter scenes are allowed:
    a sample asking one for more views than it has is replaced (and logged) by ``MultiViewDataset``.
    """
    data = config.data
    if data.source == "synthetic":
        return SyntheticViewDataset(
            split="train",
            config=SyntheticConfig(camera_path=data.synthetic_path, num_frames=data.window),
            num_scenes=data.synthetic_scenes,
        )
    scenes = load_scenes(data.source)
    longest = max(len(scene) for scene in scenes)
    if longest < data.max_views:
        # every batch of max_views views would be skipped sample by sample until training gives up
        raise ValueError(f"{data.source}: its longest scene has {longest} frame(s), fewer than "
                         f"data.max_views = {data.max_views}; lower data.min_views and data.max_views")
    return MultiViewDataset(scenes, window=data.window, crop_scale=tuple(data.crop_scale))


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
