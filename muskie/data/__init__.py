"""Data: scene records and sources on disk, dataset adapters, image reading, view transforms, multi-view
sampling and weighted mixtures of datasets, indexing and checking datasets.

The synthetic renderer lives in ``muskie.data.synthetic``.
"""

from muskie.data.imageio import ImageReadError, read_image
from muskie.data.scene import Frame, Scene
from muskie.data.depth_codecs import read_depth, read_frame_depth
from muskie.data.sources import build_manifest, load_manifest, load_scene, load_scenes, write_transforms_json
from muskie.data.batch import ViewBatch, collate_views
from muskie.data.datasets import DatasetSourceConfig, evaluation_batches, open_mixture, open_view_dataset
from muskie.data.mixture import MixtureDataset
from muskie.data.views import MultiViewBatchSampler, MultiViewDataset, ViewRequest, seed_worker
from muskie.data.indexing import index_dataset
from muskie.data.checks import check_manifest

__all__ = [
    "DatasetSourceConfig",
    "Frame",
    "ImageReadError",
    "MixtureDataset",
    "MultiViewBatchSampler",
    "MultiViewDataset",
    "Scene",
    "ViewBatch",
    "ViewRequest",
    "build_manifest",
    "check_manifest",
    "collate_views",
    "evaluation_batches",
    "index_dataset",
    "load_manifest",
    "load_scene",
    "load_scenes",
    "open_mixture",
    "open_view_dataset",
    "read_depth",
    "read_frame_depth",
    "read_image",
    "seed_worker",
    "write_transforms_json",
]
