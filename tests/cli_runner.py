"""Run the ``muskie`` command in a subprocess, as a user would (shared by the CLI test files)."""

import subprocess
import sys


def muskie(*args, check=True) -> subprocess.CompletedProcess:
    """``python -m muskie ARGS``; with ``check``, a non-zero exit fails with the command's output."""
    result = subprocess.run([sys.executable, "-m", "muskie", *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"muskie {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
