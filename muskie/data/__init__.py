"""Data: scene records and sources on disk, dataset adapters, image reading, view transforms, multi-view
sampling and weighted mixtures of datasets, indexing and checking datasets.

The synthetic renderer lives in ``muskie.data.synthetic``.
"""

from muskie.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "muskie.data.imageio": ("ImageReadError", "read_image"),
        "muskie.data.scene": ("Frame", "Scene"),
        "muskie.data.depth_codecs": ("read_depth", "read_frame_depth"),
        "muskie.data.sources": (
            "build_manifest",
            "load_manifest",
            "load_scene",
            "load_scenes",
            "write_transforms_json",
        ),
        "muskie.data.batch": ("ViewBatch", "collate_views"),
        "muskie.data.datasets": ("DatasetSourceConfig", "evaluation_batches", "open_mixture", "open_view_dataset"),
        "muskie.data.mixture": ("MixtureDataset",),
        "muskie.data.views": ("MultiViewBatchSampler", "MultiViewDataset", "ViewRequest", "seed_worker"),
        "muskie.data.indexing": ("index_dataset",),
        "muskie.data.checks": ("check_manifest",),
    },
)

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
