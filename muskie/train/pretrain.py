"""The multi-view masked image modeling pre-training loop, in one readable function.

One optimiser step: for each of ``accum_steps`` micro-batches and each resolution group, shuffle the view
order of every scene, draw reference views and one mask mode, reconstruct the masked patches, and add the
confidence-weighted loss (averaged over resolution groups and micro-batches) to the gradient. Each loaded
micro-batch serves ``reuse`` consecutive optimiser steps, each with a new view order and a new mask.

Every random choice of a step (view order, reference views, masks) comes from a generator seeded by
``(seed, step, micro-batch, group, rank)``, and batches are addressed by index (``muskie.train.streams``),
so a resumed run repeats an uninterrupted one exactly.
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
from torch.nn.parallel import DistributedDataParallel

from muskie.config_io import to_dict
from muskie.devices import resolve_device
from muskie.masking import sample_pretraining_masks
from muskie.model import Muskie, MuskieConfig
from muskie.model.config import preset_config
from muskie.model.patches import patchify
from muskie.objective import confidence_weighted_loss
from muskie.train.config import PretrainConfig
from muskie.train.data import build_pretrain_dataset, build_batch_sampler
from muskie.train.run_folder import RunLock, truncate_metrics
from muskie.train.distributed import DistInfo, all_ranks_true, barrier, init_distributed, shutdown
from muskie.train.schedule import learning_rate
from muskie.train.streams import batch_stream
from muskie.weights.checkpoint import LATEST_NAME, read_checkpoint, remove_stale_temporaries, save_checkpoint

log = logging.getLogger("muskie.pretrain")

CONFIG_NAME = "config.yaml"
METRICS_NAME = "metrics.jsonl"
FINAL_MODEL_DIR = "model"


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped without writing a checkpoint after it."""


@dataclass
class PretrainResult:
    """Where a run ended: its folder, the optimiser step reached, the latest checkpoint, the losses of the
    steps this call ran, and the trained model (unwrapped from DDP)."""

    out_dir: Path
    step: int
    checkpoint: Path
    losses: list[float]
    model: Muskie


def build_model(config: PretrainConfig) -> Muskie:
    model_config: MuskieConfig = preset_config(config.model, **config.model_overrides)
    return Muskie(model_config)


def build_optimizer(model: torch.nn.Module, config: PretrainConfig) -> torch.optim.AdamW:
    """AdamW; biases, norms, register and mask tokens get no weight decay (as in MAE/DINOv2)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith("_tokens") or "mask_placeholder" in name else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.optim.lr, betas=config.optim.betas)


def step_generator(seed: int, *indices: int) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and the step's indices, independent of how the run was split."""
    value = seed
    for index in indices:
        value = (value * 1_000_003 + index + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(value)


def shuffle_views(batch: dict, generator: torch.Generator) -> dict:
    """Apply one random permutation of the views to every per-view field of a batch, per scene."""
    images = batch["images"]
    b, v = images.shape[:2]
    order = torch.argsort(torch.rand(b, v, generator=generator), dim=1)
    shuffled = dict(batch)
    for key, value in batch.items():
        if torch.is_tensor(value) and value.ndim >= 2 and value.shape[:2] == (b, v):
            index = order.view(b, v, *([1] * (value.ndim - 2))).expand_as(value)
            shuffled[key] = torch.gather(value, 1, index)
    return shuffled


def training_loss(model, images: torch.Tensor, config: PretrainConfig, generator: torch.Generator,
                  autocast: contextlib.AbstractContextManager):
    """The MV-MIM loss of one batch ``images (B, V, 3, H, W)`` in [-1, 1] (already view-shuffled)."""
    patch_size = model_patch_size(model)
    b, v, _, h, w = images.shape
    masks = sample_pretraining_masks(b, v, h // patch_size, w // patch_size, config.mask, generator)
    mask = masks.mask.to(images.device)
    with autocast:
        output = model(images, patch_mask=mask)
    target = patchify(images, patch_size)
    result = confidence_weighted_loss(
        output.pred.float(), output.confidence.float(), target, mask.flatten(2)
    )
    return result, masks.mode


def model_patch_size(model) -> int:
    module = model.module if isinstance(model, DistributedDataParallel) else model
    return module.config.patch_size


def pretrain(
    config: PretrainConfig,
    resume: bool = True,
    stop_at_step: int | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
) -> PretrainResult:
    """Run (or resume) pre-training as ``config`` says; returns where it ended.

    Args:
        config: the run's configuration (validated).
        resume: continue from ``out_dir/checkpoint-last.pt`` when it exists (the config must match).
        stop_at_step: end early after this many optimiser steps (the schedule still spans
            ``config.steps``), writing a checkpoint; for time-sliced clusters and tests.
        max_minutes: end early, with a checkpoint, once this much wall-clock time has passed.
        progress: show a progress bar (main process only).
    """
    config.validate()
    device = resolve_device(config.device)
    dist_info = init_distributed(device.type)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    out_dir = Path(config.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: out_dir exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out_dir) if dist_info.is_main else contextlib.nullcontext()
    try:
        with lock:
            return _train(config, device, dist_info, out_dir, resume, stop_at_step, max_minutes, progress)
    finally:
        shutdown(dist_info)


def _train(config, device, dist_info: DistInfo, out_dir: Path, resume, stop_at_step, max_minutes, progress):
    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    optimizer = build_optimizer(model, config)
    checkpoint_path = out_dir / LATEST_NAME
    if dist_info.is_main:  # under the folder's lock: no other process is writing a checkpoint here
        for stale in remove_stale_temporaries(checkpoint_path):
            log.info("removed %s, left by a checkpoint write that was interrupted", stale)
    start_step = 0
    losses: list[float] = []
    if resume and checkpoint_path.exists():
        checkpoint = read_checkpoint(checkpoint_path, map_location=device)
        _check_resumable(checkpoint.config, config, checkpoint_path)
        model.load_state_dict(checkpoint.model_state)
        optimizer.load_state_dict(checkpoint.optimizer_state)
        start_step = checkpoint.step
        if dist_info.is_main:
            truncate_metrics(out_dir / METRICS_NAME, start_step)
        log.info("resumed from %s at step %d", checkpoint_path, start_step)
    elif dist_info.is_main:
        (out_dir / METRICS_NAME).unlink(missing_ok=True)
    if dist_info.is_main:
        (out_dir / CONFIG_NAME).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    barrier(dist_info)

    train_model = model
    if dist_info.enabled:
        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    dataset = build_pretrain_dataset(config)
    groups = config.data.resolutions
    first_batch = (start_step // config.reuse) * config.accum_steps
    streams = [
        batch_stream(dataset, build_batch_sampler(config, len(dataset), group, index), first_batch,
                     dist_info.rank, dist_info.world_size, config.data.workers, device.type == "cuda")
        for index, group in enumerate(groups)
    ]
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if config.precision == "bf16"
                else contextlib.nullcontext())

    writer = _make_writer(out_dir, start_step) if dist_info.is_main else None
    metrics_file = open(out_dir / METRICS_NAME, "a") if dist_info.is_main else None
    end_step = min(config.steps, stop_at_step) if stop_at_step is not None else config.steps
    bar = _progress_bar(start_step, end_step, progress and dist_info.is_main)
    started = time.perf_counter()
    micro_batches: list[list[dict]] = []
    step = start_step
    try:
        while step < end_step:
            if step % config.reuse == 0 or not micro_batches:
                wait_start = time.perf_counter()
                micro_batches = [[next(stream) for stream in streams] for _ in range(config.accum_steps)]
                data_wait = time.perf_counter() - wait_start
            else:
                data_wait = 0.0
            step_start = time.perf_counter()
            lr = learning_rate(step, config.optim.lr, config.optim.warmup_steps, config.steps, config.optim.min_lr)
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr

            total_loss, total_mse, views, modes = 0.0, 0.0, 0, []
            num_parts = config.accum_steps * len(groups)
            for micro, group_batches in enumerate(micro_batches):
                for group, batch in enumerate(group_batches):
                    generator = step_generator(config.seed, step, micro, group, dist_info.rank)
                    images = shuffle_views(batch, generator)["images"].to(device, non_blocking=True)
                    last = micro == len(micro_batches) - 1 and group == len(group_batches) - 1
                    sync = contextlib.nullcontext() if last or not dist_info.enabled else train_model.no_sync()
                    with sync:
                        result, mode = training_loss(train_model, images, config, generator, autocast)
                        (result.loss / num_parts).backward()
                    total_loss += result.loss.item() / num_parts
                    total_mse += result.masked_mse.item() / num_parts
                    views += images.shape[0] * images.shape[1]
                    modes.append(mode)

            if not all_ranks_true(math.isfinite(total_loss), dist_info, device):
                raise NonFiniteLossError(
                    f"step {step}: the loss is {total_loss} (non-finite on at least one process); stopped. "
                    f"The last good checkpoint is {checkpoint_path}"
                    + ("" if checkpoint_path.exists() else " (none written yet)")
                    + ". Lower optim.lr, set optim.clip_grad, or use precision fp32, then resume."
                )
            grad_norm = None
            if config.optim.clip_grad is not None:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.clip_grad))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(total_loss)

            if dist_info.is_main:
                step_time = time.perf_counter() - step_start
                record = {
                    "step": step, "loss": total_loss, "masked_mse": total_mse, "lr": lr, "modes": modes,
                    "views_per_s": views * dist_info.world_size / max(step_time + data_wait, 1e-9),
                    "data_wait_s": data_wait, "step_s": step_time,
                }
                if grad_norm is not None:
                    record["grad_norm"] = grad_norm
                metrics_file.write(json.dumps(record) + "\n")
                if step % config.log_every == 0 or step == end_step:
                    metrics_file.flush()
                    for key in ("loss", "masked_mse", "lr", "views_per_s", "data_wait_s"):
                        writer.add_scalar(f"train/{key}", record[key], step)
                if bar is not None:
                    bar.set_postfix(loss=f"{total_loss:.4f}", lr=f"{lr:.2e}", views_s=f"{record['views_per_s']:.0f}")
                    bar.update(1)

            out_of_time = max_minutes is not None and (time.perf_counter() - started) / 60 >= max_minutes
            out_of_time = all_ranks_true(out_of_time, dist_info, device) if dist_info.enabled else out_of_time
            if step % config.checkpoint_every == 0 or step == end_step or out_of_time:
                if metrics_file is not None:
                    # a checkpoint's steps must be in metrics.jsonl: a resumed run does not log them again
                    metrics_file.flush()
                _save(model, optimizer, config, step, checkpoint_path, dist_info, total_loss)
            if out_of_time:
                log.info("time budget of %.1f min reached at step %d", max_minutes, step)
                break
    finally:
        if bar is not None:
            bar.close()
        if metrics_file is not None:
            metrics_file.close()
        if writer is not None:
            writer.close()

    if step >= config.steps and dist_info.is_main:
        model.save_pretrained(out_dir / FINAL_MODEL_DIR)
    barrier(dist_info)
    return PretrainResult(out_dir=out_dir, step=step, checkpoint=checkpoint_path, losses=losses, model=model)


def _save(model, optimizer, config, step, path, dist_info, loss):
    if dist_info.is_main:
        save_checkpoint(path, task="pretrain", step=step, model_class="Muskie", model_config=model.config.to_dict(),
                        model_state=model.state_dict(), optimizer_state=optimizer.state_dict(),
                        config=to_dict(config), metrics={"loss": loss})
    barrier(dist_info)


def _check_resumable(saved: dict, config: PretrainConfig, path: Path) -> None:
    """Refuse to resume a run whose model or data recipe differs from the checkpoint's."""
    current = to_dict(config)
    keys = ("model", "model_overrides", "data", "mask", "optim", "steps", "reuse", "accum_steps", "seed")
    differing = [key for key in keys if saved.get(key) != current.get(key)]
    if differing:
        raise ValueError(
            f"{path}: cannot resume, the config differs from the checkpoint's in {differing}; "
            "use another out_dir or the same config"
        )


def _make_writer(out_dir: Path, start_step: int):
    """TensorBoard writer; on resume, events a killed run logged after its checkpoint are purged."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(out_dir / "tensorboard"), purge_step=start_step + 1 if start_step else None)


def _progress_bar(start: int, end: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=end, initial=start, desc="pretrain", unit="step", dynamic_ncols=True)
