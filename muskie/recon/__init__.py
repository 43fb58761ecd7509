"""Feed-forward 3D reconstruction on a Muskie backbone (brief section 5): a pi3-style model predicting
per-view local pointmaps with confidence and camera poses, its loss, and prediction from a folder of
images. See ``docs/reconstruction.md``; load a trained model with ``muskie.load_model``. Fine-tuning is a
task of the training engine: ``muskie.recon.task.train_recon`` (not imported here, so that loading a model
imports no training code); the evaluation is ``muskie.eval.reconstruction``."""

from muskie.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "muskie.recon.config": (
            "ReconDataConfig",
            "ReconLossConfig",
            "ReconModelConfig",
            "ReconTrainConfig",
            "load_recon_config",
        ),
        "muskie.recon.loss": ("recon_loss",),
        "muskie.recon.model": ("ReconModel", "ReconOutput", "build_recon_model"),
        "muskie.recon.predict": ("predict_folder",),
    },
)

__all__ = [
    "ReconDataConfig",
    "ReconLossConfig",
    "ReconModel",
    "ReconModelConfig",
    "ReconOutput",
    "ReconTrainConfig",
    "build_recon_model",
    "load_recon_config",
    "predict_folder",
    "recon_loss",
]
