"""The training engine: one loop, readable top to bottom, that runs every task.

A task (:class:`Task`: pre-training, 3D reconstruction, or a user's) supplies its model, its batches, its
loss, its held-out samples and its export. The engine does everything else: run folder and lock, resume
(exact: a resumed run repeats the losses and weights of an uninterrupted one), ``--init-from`` weights,
DistributedDataParallel, gradient accumulation, the learning-rate schedule, gradient clipping, the NaN
stop, ``metrics.jsonl`` and TensorBoard, throughput, validation, checkpoints (the last, the last K, the
best by validation), the time budget, SIGTERM / SIGINT, and the export of the final model.

One optimiser step: the task's stream yields the step's *parts* (micro-batches, and for pre-training one
per resolution group); each part's loss is back-propagated with weight ``1 / parts`` (gradients are
synchronised across processes on the last part only); then clipping and the AdamW step. Losses stay on
the device and are checked and written every ``log_every`` steps and before every checkpoint, so a
step never waits for the device; a NaN stops the run before any checkpoint could hold its weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from muskie.config_io import ConfigError, to_dict
from muskie.devices import emulated_bf16_warning, precision_context, resolve_device, resolve_precision
from muskie.outputs import naming_a_full_disk
from muskie.progress import progress_bar
from muskie.train.config import RunConfig
from muskie.train.distributed import DistInfo, all_ranks_true, any_rank_true, barrier, init_distributed, shutdown
from muskie.train.optim import build_optimizer, load_optimizer_state
from muskie.train.run_folder import RunLock, move_earlier_run, truncate_metrics
from muskie.train.schedule import learning_rate
from muskie.weights.card import TrainingRecord
from muskie.weights.checkpoint import (
    LATEST_NAME,
    Checkpoint,
    CheckpointError,
    read_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)

log = logging.getLogger("muskie.train")

CONFIG_NAME = "config.yaml"
METRICS_NAME = "metrics.jsonl"
FINAL_MODEL_DIR = "model"
BEST_NAME = "checkpoint-best.pt"
TENSORBOARD_DIR = "tensorboard"
# What a run writes into its folder (globs), the checkpoint first: a fresh run moves an earlier run's aside.
RUN_FILES = (
    LATEST_NAME,
    BEST_NAME,
    "checkpoint-[0-9]*.pt",
    CONFIG_NAME,
    METRICS_NAME,
    TENSORBOARD_DIR,
    FINAL_MODEL_DIR,
)
# Keys a resumed run may change: they decide where and how often things are written, or how fast the same
# numbers are computed (up to rounding, as another device computes them), never the result.
RESUME_FREE_KEYS = (
    "device",
    "optim.implementation",
    "compile",
    "out_dir",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "val_every",
    "val_samples",
    "init_from",
    "allow_pickle",
)
# The step index of validation passes, so their random choices never coincide with a training step's.
VALIDATION_STEP = -1


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped without writing a checkpoint after it."""


@dataclass
class StepContext:
    """What a task's loss may need to know about the step it computes.

    ``step``: the 0-based optimiser step (``VALIDATION_STEP`` in validation); ``rank``: this process;
    ``seed``: the run's seed; ``device``: where the model lives; ``autocast``: the precision context to run
    the forward pass in."""

    step: int
    rank: int
    seed: int
    device: torch.device
    autocast: contextlib.AbstractContextManager

    def generator(self, *indices: int) -> torch.Generator:
        """A CPU generator for the step's random choices, seeded by ``(seed, step, *indices, rank)``."""
        return step_generator(self.seed, self.step, *indices, self.rank)


@dataclass
class TaskLoss:
    """A task's loss of one part: ``loss`` (scalar, differentiable), ``metrics`` (detached scalars, averaged
    over the step's parts in the log), ``views`` (views in the part, for throughput), ``flops`` (the
    analytic training FLOPs of the part: forward and backward, summed per step in the log as ``gflop``, so
    recipes can be compared at equal compute) and ``notes`` (plain values, listed per part in the log, e.g.
    the mask mode)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)
    views: int = 0
    flops: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelRecord:
    """How a checkpoint describes its model: the registered class name, the config dict that rebuilds it,
    and facts for users (e.g. the image size it was trained at)."""

    model_class: str
    model_config: dict
    metadata: dict = field(default_factory=dict)


class Task(ABC):
    """What a training task supplies; the engine calls these and nothing else.

    ``name`` is recorded in checkpoints (a run resumes only a checkpoint of its own task); ``config`` is the
    task's :class:`RunConfig` subclass; ``resume_free_keys`` are its extra config keys (dotted) that a
    resumed run may change, such as loader workers.
    """

    name: str
    config: RunConfig
    resume_free_keys: tuple[str, ...] = ()

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The model of a fresh run (random, or the pre-trained parts the config names)."""

    @abstractmethod
    def model_from_checkpoint(self, checkpoint: Checkpoint) -> nn.Module:
        """The model of a resumed run, rebuilt from the checkpoint alone (its weights are loaded after)."""

    @abstractmethod
    def describe_model(self, model: nn.Module) -> ModelRecord:
        """The model's class name, config dict and metadata, for checkpoints."""

    @abstractmethod
    def init_from(self, model: nn.Module, path: str) -> None:
        """Load the weights at ``path`` into a fresh model (``RunConfig.init_from``)."""

    @abstractmethod
    def stream(self, start_step: int, dist: DistInfo, device: torch.device) -> Iterator[list]:
        """Endless: for each optimiser step from ``start_step`` on, the list of its parts (this rank's share).
        Deterministic in ``(config, start_step, rank)``, so that a resumed run reads what an uninterrupted
        one would have read."""

    @abstractmethod
    def loss(self, model: nn.Module, part, context: StepContext) -> TaskLoss:
        """The loss of one part; ``model`` may be wrapped in DistributedDataParallel."""

    def validation_parts(self) -> list:
        """Fixed held-out parts for the validation loss (``val_every``); empty: none."""
        return []

    def validate(self, model: nn.Module, parts: list, context: StepContext) -> dict[str, float]:
        """Held-out metrics of ``model`` (in eval mode, no gradients) on the validation parts; ``"loss"``,
        the mean loss, chooses the best checkpoint. Tasks add diagnostics of their own."""
        return {"loss": sum(float(self.loss(model, part, context).loss) for part in parts) / len(parts)}

    def compile_model(self, model: nn.Module) -> None:
        """Compile ``model`` (on its device, before DDP wraps it) in place for ``RunConfig.compile``. A task
        that supports it overrides this; by default ``compile`` is refused with a ConfigError."""
        raise ConfigError(f"compile: the {self.name} task does not support torch.compile; set compile: false")

    @abstractmethod
    def export(self, model: nn.Module, directory: Path, training: TrainingRecord) -> None:
        """Write the finished model into ``directory``, e.g. ``save_pretrained`` with
        ``model_card_kwargs={"training": training}``: ``training`` (the task, steps, config and last metrics
        of the run) goes into its model card."""


@dataclass
class TrainResult:
    """Where a run ended: its folder, the optimiser step reached, the latest checkpoint, the losses of the
    steps this call ran, the trained model (unwrapped from DDP, in eval mode), and why it ended before
    ``steps`` (``None`` when it finished; ``"stop_at_step"``, ``"time budget"``, ``"SIGTERM"``, ``"SIGINT"``)."""

    out_dir: Path
    step: int
    checkpoint: Path
    losses: list[float]
    model: nn.Module
    ended_by: str | None = None
    exported: Path | None = None


def step_generator(seed: int, *indices: int) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and indices, independent of how the run was split."""
    value = seed
    for index in indices:
        value = (value * 1_000_003 + index + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(value)


def train(
    task: Task,
    resume: bool = True,
    stop_at_step: int | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Run (or resume) ``task`` as its config says; returns where it ended.

    Args:
        task: the task; its config is validated here.
        resume: continue from ``out_dir/checkpoint-last.pt`` when it exists (the config must match it, except
            for the keys that only change where and how often things are written, and a larger ``steps``).
        stop_at_step: end early after this many optimiser steps (the schedule still spans ``steps``), with a
            checkpoint; for time-sliced clusters and tests.
        max_minutes: end early, with a checkpoint, once this much wall-clock time has passed.
        progress: show a progress bar (main process only).
    """
    config = task.config.validate()
    device = resolve_device(config.device)
    dist = init_distributed(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    out_dir = Path(config.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: out_dir exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out_dir) if dist.is_main else contextlib.nullcontext()
    try:
        with lock, _StopSignals() as stop_signal:
            return _run(task, config, device, dist, out_dir, resume, stop_at_step, max_minutes, progress, stop_signal)
    finally:
        shutdown(dist)


def _run(
    task: Task,
    config: RunConfig,
    device,
    dist: DistInfo,
    out_dir: Path,
    resume,
    stop_at_step,
    max_minutes,
    progress,
    stop_signal,
) -> TrainResult:
    # ---- the model, the optimiser and where the run starts
    torch.manual_seed(config.seed)
    checkpoint_path = out_dir / LATEST_NAME
    if dist.is_main:  # under the folder's lock: no other process is writing a checkpoint here
        for stale in remove_stale_temporaries(checkpoint_path):
            log.info("removed %s, left by a checkpoint write that was interrupted", stale)
    saved = read_checkpoint(checkpoint_path, map_location="cpu") if resume and checkpoint_path.exists() else None
    _settle_precision(config, saved, device)
    if saved is not None:
        _check_resumable(task, saved, checkpoint_path)
        model = task.model_from_checkpoint(saved)
        model.load_state_dict(saved.model_state)
        model.to(device)
        optimizer = build_optimizer(model, config.optim)
        try:
            load_optimizer_state(optimizer, saved.optimizer_state)
        except ValueError as err:  # another set of trainable parameters (e.g. a checkpoint of an older muskie)
            raise CheckpointError(
                f"{checkpoint_path}: its optimiser state does not fit this run's trainable "
                f"parameters ({err}); start a fresh run from its weights with --init-from "
                f"{checkpoint_path} and another --out"
            ) from None
        start_step, best_val = saved.step, saved.state.get("best_val")
        last_loss, last_val = saved.metrics.get("loss"), {}  # for the model card of a run resumed at its end
        if dist.is_main:
            truncate_metrics(out_dir / METRICS_NAME, start_step)
        log.info(
            "resumed from %s at step %d%s",
            checkpoint_path,
            start_step,
            f"; extending the schedule to {config.steps} steps" if saved.config.get("steps") != config.steps else "",
        )
    else:
        model = task.build_model()
        if config.init_from is not None:
            task.init_from(model, config.init_from)
            log.info("initialised the model from %s", config.init_from)
        model.to(device)
        optimizer = build_optimizer(model, config.optim)
        start_step, best_val, last_loss, last_val = 0, None, None, {}
        if dist.is_main:
            moved = move_earlier_run(out_dir, RUN_FILES)
            if moved is not None:
                log.warning("starting a fresh run: moved the files of the earlier run in %s to %s", out_dir, moved)
    if config.compile:
        task.compile_model(model)
    if dist.is_main:
        with naming_a_full_disk(out_dir, f"{CONFIG_NAME} was not written; free space and run again"):
            (out_dir / CONFIG_NAME).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    barrier(dist)
    train_model = model
    if dist.enabled:
        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()

    # ---- data, precision, logs
    stream = task.stream(start_step, dist, device)
    validation = task.validation_parts() if config.val_every else []
    autocast = precision_context(config.precision, device)
    end_step = config.steps if stop_at_step is None else min(config.steps, stop_at_step)
    log_file = (
        _MetricsLog(out_dir, start_step, progress and end_step > start_step, end_step, task.name)
        if dist.is_main
        else None
    )
    pending: list[dict] = []  # step records whose tensors have not been read from the device yet
    losses: list[float] = []
    started = time.perf_counter()
    ended_by = None
    step = start_step

    def flush() -> None:
        """Read the pending records from the device, stop on a non-finite loss, write them."""
        records = _to_host(pending)
        pending.clear()
        bad = next((r for r in records if not math.isfinite(r["loss"])), None)
        if any_rank_true(bad is not None, dist, device):
            if log_file is not None:
                log_file.write([r for r in records if bad is None or r["step"] < bad["step"]])
            raise NonFiniteLossError(
                f"step {bad['step'] - 1 if bad else step}: the loss is {bad['loss'] if bad else 'non-finite'} "
                f"(non-finite on at least one process); stopped. The last good checkpoint is {checkpoint_path}"
                + ("" if checkpoint_path.exists() else " (none written yet)")
                + ". Lower optim.lr, set optim.clip_grad, or use precision fp32, then resume."
            )
        losses.extend(r["loss"] for r in records)
        if log_file is not None:
            log_file.write(records)

    def save(path: Path, metrics: dict) -> None:
        """Write a checkpoint of the current step (main process; every process waits for it)."""
        if dist.is_main:
            record = task.describe_model(model)
            save_checkpoint(
                path,
                task=task.name,
                step=step,
                model_class=record.model_class,
                model_config=record.model_config,
                model_state=model.state_dict(),
                optimizer_state=optimizer.state_dict(),
                config=to_dict(config),
                metrics=metrics,
                metadata=record.metadata,
                state={"best_val": best_val},
            )
        barrier(dist)

    # ---- the loop
    try:
        while step < end_step:
            wait_start = time.perf_counter()
            parts = next(stream)
            data_wait = time.perf_counter() - wait_start
            step_start = time.perf_counter()
            lr = learning_rate(step, config.optim.lr, config.optim.warmup_steps, config.steps, config.optim.min_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr

            context = StepContext(step, dist.rank, config.seed, device, autocast)
            total, sums, views, flops, notes = 0.0, {}, 0, 0.0, {}
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                sync = contextlib.nullcontext() if last or not dist.enabled else train_model.no_sync()
                with sync:
                    result = task.loss(train_model, part, context)
                    (result.loss / len(parts)).backward()
                total = total + result.loss.detach() / len(parts)
                for key, value in result.metrics.items():
                    sums[key] = sums.get(key, 0.0) + value.detach() / len(parts)
                for key, value in result.notes.items():
                    notes.setdefault(key, []).append(value)
                views += result.views
                flops += result.flops

            grad_norm = None
            if config.optim.clip_grad is not None:
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.clip_grad)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            step_time = time.perf_counter() - step_start
            record = {
                "step": step,
                "loss": total,
                **sums,
                "lr": lr,
                **notes,
                "views_per_s": views * dist.world_size / max(step_time + data_wait, 1e-9),
                "data_wait_s": data_wait,
                "step_s": step_time,
                **({"gflop": flops / 1e9} if flops else {}),
            }
            if grad_norm is not None:
                record["grad_norm"] = grad_norm
            pending.append(record)

            if validation and step % config.val_every == 0:
                flush()
                val_metrics = _validate(task, train_model, validation, config, device, autocast)
                if log_file is not None:
                    log_file.validation(step, val_metrics)
                last_val = {f"val_{name}": value for name, value in val_metrics.items()}
                if best_val is None or val_metrics["loss"] < best_val:
                    best_val = val_metrics["loss"]
                    save(out_dir / BEST_NAME, {"loss": losses[-1], "val_loss": best_val})

            out_of_time = all_ranks_true(
                max_minutes is not None and (time.perf_counter() - started) / 60 >= max_minutes, dist, device
            )
            signalled = any_rank_true(stop_signal.received is not None, dist, device)
            if step % config.log_every == 0:
                flush()
            if step % config.checkpoint_every == 0 or step == end_step or out_of_time or signalled:
                flush()  # a checkpoint's steps must be in metrics.jsonl: a resumed run does not log them again
                save(checkpoint_path, {"loss": losses[-1]})
                if dist.is_main:
                    _keep_recent(checkpoint_path, step, config.keep_checkpoints)
            if out_of_time or signalled:
                ended_by = "time budget" if out_of_time else stop_signal.name()
                log.info("%s at step %d: checkpoint written", ended_by, step)
                break
        flush()
    finally:
        if log_file is not None:
            log_file.close()

    if ended_by is None and step < config.steps:
        ended_by = "stop_at_step"
    exported = None
    # a run cut short by its time budget still leaves a usable model (of the step it reached)
    if step >= config.steps or ended_by == "time budget":
        exported = out_dir / FINAL_MODEL_DIR
        if dist.is_main:
            last_loss = losses[-1] if losses else last_loss
            metrics = {
                **({"loss": last_loss} if last_loss is not None else {}),
                **last_val,
                **({"best_val_loss": best_val} if best_val is not None else {}),
            }
            task.export(model, exported, TrainingRecord(task.name, step, to_dict(config), metrics))
        barrier(dist)
    return TrainResult(
        out_dir=out_dir,
        step=step,
        checkpoint=checkpoint_path,
        losses=losses,
        model=model.eval(),
        ended_by=ended_by,
        exported=exported,
    )


def _settle_precision(config: RunConfig, saved: Checkpoint | None, device: torch.device) -> None:
    """Replace ``auto`` by the precision the run uses (a resumed run's own, else the device's), so checkpoints and
    ``config.yaml`` record it; log which and why; warn once, with the measured cost, about bf16 on a CPU that
    emulates it."""
    if config.precision == "auto" and saved is not None and saved.config.get("precision") in ("fp32", "bf16"):
        config.precision = saved.config["precision"]
        reason = f"precision auto: {config.precision}, the precision this run started with"
    else:
        config.precision, reason = resolve_precision(config.precision, device)
    log.info(reason)
    warning = emulated_bf16_warning(config.precision, device)
    if warning:
        warnings.warn(warning, stacklevel=3)


@torch.no_grad()
def _validate(task: Task, model, parts: list, config: RunConfig, device, autocast) -> dict[str, float]:
    """The task's held-out metrics (the same on every process), with fixed random choices."""
    model.eval()
    metrics = task.validate(model, parts, StepContext(VALIDATION_STEP, 0, config.seed, device, autocast))
    model.train()
    return metrics


def _check_resumable(task: Task, saved: Checkpoint, path: Path) -> None:
    """Refuse a checkpoint of another task, or of a run whose result-changing settings differ."""
    if saved.task != task.name:
        raise ValueError(
            f"{path}: cannot resume, it is a checkpoint of the {saved.task!r} task, not "
            f"{task.name!r}; use another out_dir or --no-resume"
        )
    current, previous = _flatten(to_dict(task.config)), _flatten(saved.config)
    # a key the checkpoint's muskie did not have yet ran with what is now its default
    defaults = _flatten(to_dict(type(task.config)()))
    previous = {**{key: defaults[key] for key in current.keys() - previous.keys() if key in defaults}, **previous}
    free = (*RESUME_FREE_KEYS, *task.resume_free_keys)
    # the task's own settings (model, data ...) are named first, then the engine's
    engine_keys = {f.name for f in dataclasses.fields(RunConfig)}
    keys = sorted(dict.fromkeys([*current, *previous]), key=lambda k: k.split(".")[0] in engine_keys)
    differing = [key for key in keys if key != "steps" and key not in free and current.get(key) != previous.get(key)]
    if differing:
        raise ValueError(
            f"{path}: cannot resume, the config differs from the checkpoint's in {differing}; "
            "use another out_dir, the same config, or --no-resume"
        )
    if task.config.steps < saved.step:
        raise ValueError(
            f"{path}: cannot resume, steps = {task.config.steps} is below the checkpoint's step {saved.step}"
        )


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _keep_recent(latest: Path, step: int, keep: int) -> None:
    """Keep ``checkpoint-<step>.pt`` copies of the last ``keep`` checkpoints (hard links where possible)."""
    if keep <= 0:
        return
    copy = latest.with_name(f"checkpoint-{step:08d}.pt")
    copy.unlink(missing_ok=True)
    try:
        os.link(latest, copy)
    except OSError:  # a filesystem without hard links
        copy.write_bytes(latest.read_bytes())
    for old in sorted(latest.parent.glob("checkpoint-[0-9]*.pt"))[:-keep]:
        old.unlink(missing_ok=True)


def _to_host(records: list[dict]) -> list[dict]:
    """The records with every tensor read as a float, in one transfer per record."""
    out = []
    for record in records:
        keys = [k for k, v in record.items() if torch.is_tensor(v)]
        values = torch.stack([record[k].float() for k in keys]).tolist() if keys else []
        out.append({**record, **dict(zip(keys, values, strict=True))})
    return out


class _MetricsLog:
    """``metrics.jsonl`` (one JSON line per step), TensorBoard scalars and the progress bar. A full disk while
    writing them raises :class:`muskie.outputs.NoSpaceLeftError` naming the run folder."""

    def __init__(self, out_dir: Path, start_step: int, progress: bool, end_step: int, desc: str):
        from torch.utils.tensorboard import SummaryWriter

        self.out_dir = out_dir
        with self.full_disk():
            self.file = open(out_dir / METRICS_NAME, "a")
            # on resume, events a killed run logged after its checkpoint are purged
            self.writer = SummaryWriter(
                log_dir=str(out_dir / TENSORBOARD_DIR), purge_step=start_step + 1 if start_step else None
            )
        self.bar = progress_bar(total=end_step, initial=start_step, desc=desc, unit="step", enabled=progress)

    def full_disk(self):
        """The guard of every write: a full disk says so, naming the run folder (a resumed run truncates
        ``metrics.jsonl`` to its checkpoint's step and logs the later steps again)."""
        return naming_a_full_disk(
            self.out_dir,
            f"{METRICS_NAME} or {TENSORBOARD_DIR}/ could not be written; the "
            "run stopped. Free space and run the same command again to resume from the last "
            "checkpoint",
        )

    def write(self, records: list[dict]) -> None:
        with self.full_disk():
            for record in records:
                self.file.write(json.dumps(record) + "\n")
                for key, value in record.items():
                    if key != "step" and isinstance(value, float):
                        self.writer.add_scalar(f"train/{key}", value, record["step"])
            self.file.flush()
        if records:
            last = records[-1]
            self.bar.set_postfix(
                loss=f"{last['loss']:.4f}", lr=f"{last['lr']:.2e}", views_s=f"{last['views_per_s']:.0f}"
            )
            self.bar.update(len(records))

    def validation(self, step: int, metrics: dict[str, float]) -> None:
        with self.full_disk():
            self.file.write(
                json.dumps({"step": step, **{f"val_{key}": value for key, value in metrics.items()}}) + "\n"
            )
            self.file.flush()
            for key, value in metrics.items():
                self.writer.add_scalar(f"val/{key}", value, step)

    def close(self) -> None:
        self.bar.close()
        with self.full_disk():
            try:
                self.file.close()
            finally:
                self.writer.close()


class _StopSignals:
    """While active, SIGTERM and SIGINT ask the loop to checkpoint and stop after the current step; a second
    signal of the same kind stops at once. Installed only in the main thread (signals reach only it)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received: int | None = None
        self._previous: dict = {}

    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else "a signal"

    def _handle(self, signum, frame) -> None:
        if self.received == signum:  # asked twice: stop now
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
            return
        self.received = signum
        log.warning(
            "%s received: writing a checkpoint after this step, then stopping (send it again to stop at once)",
            signal.Signals(signum).name,
        )

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
