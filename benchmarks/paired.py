"""Paired timing, shared by ``bench_levers.py`` and ``release_compare.py``: ways of doing the same work timed in
one process, in alternating order, so that load which comes and goes on a shared machine hits every way alike;
and the facts of the machine to print next to every figure.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from muskie.devices import cpu_capability


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` says."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts(device: torch.device) -> str:
    """One line: the CPU (model, cores, torch's threads, vector capability and bf16), the GPU if used, torch,
    and the load average when it was called (figures from a loaded machine are not to be trusted)."""
    facts = [
        f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, CPU capability {cpu_capability()}"
    ]
    if device.type == "cuda":
        facts.append(torch.cuda.get_device_name(device))
    facts.append(f"torch {torch.__version__}")
    facts.append("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return "; ".join(facts)


def synchronizer(device: torch.device) -> Callable[[], None]:
    """What waits for the device's queued work before a clock is read: nothing on a CPU."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def time_paired(
    arms: dict[str, Callable[[int], object]], pairs: int, warmup: int, sync: Callable[[], None]
) -> dict[str, list[float]]:
    """Seconds of each call of each arm: ``warmup`` untimed calls of every arm (compilation, allocator, kernel
    choice), then ``pairs`` rounds in which every arm runs once, in the given order in even rounds and reversed
    in odd ones (A B C, C B A, ...). Each arm is called with the call's index (0, 1, ...), the same for every
    arm in a round, so that seeded work (view order, masks) is the same across arms."""
    for index in range(warmup):
        for arm in arms.values():
            arm(index)
    sync()
    times: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for round_index in range(pairs):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            arms[name](warmup + round_index)
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def paired_ratio(times: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """The median over rounds of ``numerator``'s time over ``denominator``'s in the same round: above 1 when
    ``denominator`` is faster. Robust to load that changes between rounds."""
    return statistics.median(a / b for a, b in zip(times[numerator], times[denominator], strict=True))
