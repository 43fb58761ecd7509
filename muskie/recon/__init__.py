"""Feed-forward 3D reconstruction on a Muskie backbone (brief section 5): a pi3-style model predicting
per-view local pointmaps with confidence and camera poses, its loss and metrics, fine-tuning, evaluation
and prediction from a folder of images. See ``docs/reconstruction.md``; load a trained model with
``muskie.load_model``. Fine-tuning is a task of the training engine: ``muskie.recon.task.train_recon`` (not
imported here, so that loading a model imports no training code)."""

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
    "write_tables",
]

