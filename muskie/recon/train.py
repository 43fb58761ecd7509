"""Fine-tuning the reconstruction model, in one readable loop.

Each optimiser step loads one batch (``B`` scenes of ``V`` views with depth and cameras), runs the model,
and takes the loss of ``muskie.recon.loss``. Batches are addressed by step (``muskie.train.streams``) and
checkpoints are written atomically (``muskie.weights.checkpoint``), so a resumed run reads exactly the batches
an uninterrupted one would have. The model is permutation-equivariant over views, so view order is left as
the dataset gives it.

A checkpoint (task ``"recon"``) carries the model's ``config_dict()``, enough to rebuild it
(``muskie.load_model``) without the backbone's original weights file, and the training image size in its
metadata.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch.utils.data import Dataset

from muskie.config_io import to_dict
from muskie.data.sources import load_scenes
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import MultiViewBatchSampler, MultiViewDataset
from muskie.devices import resolve_device
from muskie.recon.config import ReconTrainConfig
from muskie.recon.loss import recon_loss
from muskie.recon.model import ReconModel, build_recon_model
from muskie.train.pretrain import CONFIG_NAME, METRICS_NAME, NonFiniteLossError, build_optimizer
from muskie.train.run_folder import RunLock, truncate_metrics
from muskie.train.schedule import learning_rate
from muskie.train.streams import batch_stream
from muskie.weights.checkpoint import LATEST_NAME, read_checkpoint, save_checkpoint

log = logging.getLogger("muskie.recon.train")

TASK = "recon"


@dataclass
class ReconTrainResult:
    """Where a run ended: its folder, the step reached, the checkpoint, the losses of the steps this call
    ran, and the model."""

    out_dir: Path
    step: int
    checkpoint: Path
    losses: list[float]
    model: ReconModel


def build_recon_dataset(config: ReconTrainConfig) -> Dataset:
    """Synthetic train-split scenes rendered on the fly, or the scenes at ``config.data.source``, which must
    all have depth and cameras (a ValueError names those that do not)."""
    data = config.data
    if data.source == "synthetic":
        return SyntheticViewDataset(
            split="train", config=SyntheticConfig(camera_path=data.synthetic_path, num_frames=data.window),
            num_scenes=data.synthetic_scenes)
    scenes = load_scenes(data.source)
    lacking = [s.name for s in scenes if not (s.has_depth and s.has_cameras)]
    if lacking:
        raise ValueError(f"{data.source}: training needs depth and cameras for every frame; scenes without "
                         f"them: {', '.join(lacking[:5])}{' ...' if len(lacking) > 5 else ''}")
    return MultiViewDataset(scenes, window=data.window, crop_scale=tuple(data.crop_scale), skip_bad=True)


def train_recon(
    config: ReconTrainConfig,
    resume: bool = True,
    stop_at_step: int | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
) -> ReconTrainResult:
    """Run (or resume) fine-tuning as ``config`` says.

    Args:
        config: the run (validated here). ``config.model.backbone_weights`` chooses the start: a
            pre-trained Muskie (or frame-wise twin) checkpoint, or None for a random ``config.model.backbone``.
        resume: continue from ``out_dir/checkpoint-last.pt`` when it exists (same config required).
        stop_at_step: end early after this many steps (the schedule still spans ``config.steps``).
        max_minutes: end early, with a checkpoint, after this much wall-clock time.
        progress: show a progress bar.
    """
    config.validate()
    device = resolve_device(config.device)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(out_dir):
        return _train(config, device, out_dir, resume, stop_at_step, max_minutes, progress)


def _train(config: ReconTrainConfig, device, out_dir: Path, resume, stop_at_step, max_minutes, progress):
    torch.manual_seed(config.seed)
    checkpoint_path = out_dir / LATEST_NAME
    start_step = 0
    if resume and checkpoint_path.exists():
        checkpoint = read_checkpoint(checkpoint_path, map_location="cpu")
        if checkpoint.task != TASK or checkpoint.config != to_dict(config):
            raise ValueError(f"{checkpoint_path}: cannot resume, the checkpoint was written with another config; "
                             "use another out_dir, the same config, or --no-resume")
        # the backbone comes from the checkpoint: the original weights file is not needed any more
        model = ReconModel.from_config_dict(checkpoint.model_config)
        model.load_state_dict(checkpoint.model_state)
        model = model.to(device)
        optimizer = build_optimizer(model, config)
        optimizer.load_state_dict(checkpoint.optimizer_state)
        start_step = checkpoint.step
        truncate_metrics(out_dir / METRICS_NAME, start_step)
        log.info("resumed from %s at step %d", checkpoint_path, start_step)
    else:
        model = build_recon_model(config.model).to(device)
        optimizer = build_optimizer(model, config)
        (out_dir / METRICS_NAME).unlink(missing_ok=True)
    (out_dir / CONFIG_NAME).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))

    data = config.data
    dataset = build_recon_dataset(config)
    sampler = MultiViewBatchSampler(len(dataset), batch_size=data.batch_size, num_views=data.num_views,
                                    sizes=[tuple(data.size)], seed=config.seed, shuffle=True,
                                    drop_last=len(dataset) >= data.batch_size)
    stream = batch_stream(dataset, sampler, start_step, workers=data.workers, pin_memory=device.type == "cuda")
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if config.precision == "bf16"
                else contextlib.nullcontext())

    end_step = min(config.steps, stop_at_step) if stop_at_step is not None else config.steps
    bar = _progress_bar(start_step, end_step, progress)
    started = time.perf_counter()
    losses: list[float] = []
    step = start_step
    model.train()
    with open(out_dir / METRICS_NAME, "a") as metrics_file:
        try:
            while step < end_step:
                batch = next(stream)
                step_start = time.perf_counter()
                lr = learning_rate(step, config.optim.lr, config.optim.warmup_steps, config.steps, config.optim.min_lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = {k: t.to(device, non_blocking=True) if torch.is_tensor(t) else t for k, t in batch.items()}
                with autocast:
                    output = model(batch["images"])
                result = recon_loss(output.local_points, output.confidence_logits, output.cam_to_world,
                                    batch["depth"], batch["valid"], batch["intrinsics"], batch["cam_to_world"],
                                    config.loss)
                if not math.isfinite(result.loss.item()):
                    raise NonFiniteLossError(
                        f"step {step}: the loss is {result.loss.item()}; stopped. The last good checkpoint is "
                        f"{checkpoint_path}" + ("" if checkpoint_path.exists() else " (none written yet)")
                        + ". Lower optim.lr or set optim.clip_grad, then resume.")
                result.loss.backward()
                record = {"step": step + 1, **result.as_dict(), "lr": lr}
                if config.optim.clip_grad is not None:
                    record["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                                               config.optim.clip_grad))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                losses.append(record["loss"])
                record["step_s"] = time.perf_counter() - step_start
                metrics_file.write(json.dumps(record) + "\n")
                if step % config.log_every == 0:
                    metrics_file.flush()
                if bar is not None:
                    bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{lr:.2e}")
                    bar.update(1)
                out_of_time = max_minutes is not None and (time.perf_counter() - started) / 60 >= max_minutes
                if step % config.checkpoint_every == 0 or step == end_step or out_of_time:
                    save_checkpoint(checkpoint_path, task=TASK, step=step, model_class="ReconModel",
                                    model_config=model.config_dict(), model_state=model.state_dict(),
                                    optimizer_state=optimizer.state_dict(), config=to_dict(config),
                                    metrics={"loss": record["loss"]}, metadata={"image_size": list(config.data.size)})
                if out_of_time:
                    log.info("time budget of %.1f min reached at step %d", max_minutes, step)
                    break
        finally:
            if bar is not None:
                bar.close()
    return ReconTrainResult(out_dir=out_dir, step=step, checkpoint=checkpoint_path, losses=losses,
                            model=model.eval())


def _progress_bar(start: int, end: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=end, initial=start, desc="recon train", unit="step", dynamic_ncols=True)
