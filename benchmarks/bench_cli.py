"""Seconds per ``muskie ... --help``: each (sub-)command's help in a fresh interpreter, as a user's shell runs
it, best of ``--repeats`` runs (the machine's other load adds to single runs, never subtracts).

    python benchmarks/bench_cli.py [--repeats 5]

Prints a markdown table (command, best and median seconds) and the machine (CPU count, load average,
Python), the figures docs/performance.md quotes."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

from muskie.cli.main import build_parser

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_cli_help import command_parsers  # noqa: E402  (the one list of the commands)


def seconds(words: list[str]) -> float:
    """Wall-clock seconds of ``python -m muskie WORDS --help`` in a fresh process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "muskie", *words, "--help"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (default: 5)")
    args = parser.parse_args()
    baseline = []
    rows = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - start)
    for words in command_parsers(build_parser()):
        times = [seconds(list(words)) for _ in range(args.repeats)]
        rows.append((" ".join(("muskie", *words, "--help")), min(times), statistics.median(times)))
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, Python "
        f"{platform.python_version()}; a bare `python -c pass` takes {min(baseline):.3f} s (best of "
        f"{args.repeats})\n"
    )
    print("| command | best s | median s |\n|---|---|---|")
    for command, best, median in rows:
        print(f"| `{command}` | {best:.3f} | {median:.3f} |")


if __name__ == "__main__":
    main()
