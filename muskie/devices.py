"""Device names as users give them (``auto``, ``cpu``, ``cuda``, ``cuda:N``) -> ``torch.device``, and the
precision a device computes in (``auto``, ``fp32``, ``bf16``): what it has in hardware, the autocast context,
the warning when bf16 would run emulated."""

from __future__ import annotations

import contextlib
import warnings

import torch


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (or a ``torch.device``
    of those) as a device;
    ValueError for a name torch does not know, a device type muskie does not run on (``meta`` holds no data),
    or a device this machine does not have."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device {name!r} is not a device name (auto, cpu, cuda or cuda:N): {err}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r} was asked for but this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r} was asked for but MPS (Apple GPU) is not available")
    elif device.type != "cpu":
        raise ValueError(f"device {name!r}: muskie runs on cpu, cuda, cuda:N or mps, not on {device.type!r}")
    return device


def native_bf16(device: torch.device) -> bool:
    """True where ``device`` computes bfloat16 matrix products in hardware: a CUDA device with bf16 support,
    or a CPU whose oneDNN reports bf16 (AVX512-BF16 or AMX). Elsewhere bf16 runs emulated, many times slower
    than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a torch build without oneDNN
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> tuple[str, str]:
    """The precision a run uses on ``device`` and why, as ``(name, reason)``.

    ``auto``: ``bf16`` where the device has native bf16 (:func:`native_bf16`), else ``fp32``; ``fp32`` and
    ``bf16`` are kept as asked (see :func:`bf16_slowdown` for the cost of bf16 without hardware support).
    """
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    native = native_bf16(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"this CPU ({cpu_capability()})"
    if precision == "auto":
        if native:
            return "bf16", f"precision auto: bf16, since {where} has native bf16"
        return "fp32", f"precision auto: fp32, since {where} has no native bf16"
    return precision, f"precision {precision} (as asked; {where} {'has' if native else 'has no'} native bf16)"


def evaluation_precision(precision: str, device: torch.device) -> str:
    """The precision an evaluation asked for ``precision`` (``auto``, ``fp32``, ``bf16``) computes in on
    ``device`` (:func:`resolve_precision`), warning once where that is bf16 run emulated
    (:func:`emulated_bf16_warning`)."""
    name, _ = resolve_precision(precision, device)
    warning = emulated_bf16_warning(name, device)
    if warning:
        warnings.warn(warning, stacklevel=3)
    return name


def precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a forward pass at ``precision`` (``fp32`` or ``bf16``, as :func:`resolve_precision`
    returns) runs in on ``device``: bf16 autocast (weights stay float32), or nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision != "fp32":
        raise ValueError(f"precision must be 'fp32' or 'bf16' here (resolve 'auto' first), got {precision!r}")
    return contextlib.nullcontext()


def emulated_bf16_warning(precision: str, device: torch.device) -> str | None:
    """The warning for ``precision`` on ``device`` when it is bf16 on a CPU without native bf16 (with the
    slowdown measured there, :func:`bf16_slowdown`), else None."""
    if precision != "bf16" or device.type != "cpu" or native_bf16(device):
        return None
    return (
        f"precision bf16 on a CPU without native bf16 ({cpu_capability()}): a bf16 matrix product "
        f"measured {bf16_slowdown():.0f}x slower than float32 here; use precision auto or fp32"
    )


def cpu_capability() -> str:
    """The CPU's vector capability as torch reports it (e.g. ``AVX2``, ``AVX512``), whether oneDNN has bf16, and
    ``AMX`` where the CPU has Intel's matrix tiles (there bf16 products run several times faster than with
    AVX512-BF16 alone: 5-7x fp32 against 2.1x, docs/performance.md): the figure benchmarks record beside
    their timings. E.g. ``AVX512, bf16 native, AMX``."""
    capability = torch.backends.cpu.get_cpu_capability()
    described = f"{capability}, bf16 {'native' if native_bf16(torch.device('cpu')) else 'emulated'}"
    return described + (", AMX" if has_amx() else "")


def has_amx() -> bool:
    """Whether this CPU has AMX tiles, as torch detects them (False where this torch cannot tell)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return probe is not None and bool(probe())


def bf16_slowdown(size: int = 256, repeats: int = 3) -> float:
    """Measured time of a ``size``-cubed matrix product in bf16 over the same in float32 on this CPU (best of
    ``repeats``): about 0.5 with native bf16, 10-70 without."""
    import time

    def best(dtype: torch.dtype) -> float:
        a = torch.randn(size, size).to(dtype)
        b = torch.randn(size, size).to(dtype)
        a @ b  # warm-up: kernel selection
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        return min(times)

    return best(torch.bfloat16) / best(torch.float32)
