"""Feed-forward 3D reconstruction on a Muskie backbone (brief section 5): a pi3-style model predicting
per-view local pointmaps with confidence and camera poses, its loss and metrics, fine-tuning, evaluation
and prediction from a folder of images. See ``docs/reconstruction.md``; load a trained model with
``muskie.load_model``."""

from muskie.recon.config import ReconDataConfig, ReconLossConfig, ReconModelConfig, ReconTrainConfig, load_recon_config
from muskie.recon.evaluate import evaluate_recon, evaluation_dataset, write_tables
from muskie.recon.loss import recon_loss
from muskie.recon.metrics import pointmap_metrics, pose_metrics, relative_pose_errors
from muskie.recon.model import ReconModel, ReconOutput, build_recon_model
from muskie.recon.predict import predict_folder

__all__ = [
    "ReconDataConfig",
    "ReconLossConfig",
    "ReconModel",
    "ReconModelConfig",
    "ReconOutput",
    "ReconTrainConfig",
    "build_recon_model",
    "evaluate_recon",
    "evaluation_dataset",
    "load_recon_config",
    "pointmap_metrics",
    "pose_metrics",
    "predict_folder",
    "recon_loss",
    "relative_pose_errors",
    "train_recon",
    "write_tables",
]


def __getattr__(name: str):
    # the training loop (and the pre-training code it builds on) is imported only when asked for, so that
    # loading a reconstruction model (muskie.load_model) does not import it
    if name == "train_recon":
        from muskie.recon.train import train_recon

        return train_recon
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
