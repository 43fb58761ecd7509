"""Run the ``muskie`` command in a subprocess, as a user would (shared by the CLI test files)."""

import subprocess
import sys


def muskie(*args, check=True) -> subprocess.CompletedProcess:
    """``python -m muskie ARGS``; with ``check``, a non-zero exit fails with the command's output."""
    result = subprocess.run(
        [sys.executable, "-m", "muskie", *map(str, args)], capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"muskie {args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run_cli(argv, capsys) -> tuple[int, str]:
    """Exit code and stderr of ``muskie argv`` run in this process (argparse errors exit via SystemExit)."""
    from muskie.cli.main import main

    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err
