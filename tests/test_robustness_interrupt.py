"""Interrupted and concurrent training runs, as real processes.

``muskie pretrain`` is SIGKILLed at seeded random moments, some of them inside a checkpoint write, and
started again until the run completes: after every kill ``checkpoint-last.pt`` loads, no temporary file of a
killed write survives the next start, and the run ends with the weights, optimiser state and logged losses
of an uninterrupted run, bit for bit. While the last process holds the folder, a second ``muskie pretrain``
on it is refused with exit code 2 and leaves the first unaffected.
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import torch
from safetensors.torch import load_file

from muskie.config_io import parse_override
from muskie.pretraining import load_pretrain_config, pretrain
from muskie.weights.checkpoint import LATEST_NAME, read_checkpoint

STEPS = 8
SETTINGS = [
    "model=tiny",
    "model_overrides={embed_dim: 32, depth: 1, num_heads: 2, patch_size: 8}",
    "data.resolutions=[[[32, 32]]]",
    "data.batch_size=2",
    "data.workers=0",
    "data.min_views=3",
    "data.max_views=3",
    "data.synthetic_scenes=16",
    "optim.warmup_steps=1",
    "precision=fp32",
    "device=cpu",
    f"steps={STEPS}",
    "checkpoint_every=1",
]
CLI_ARGS = ["pretrain", "--threads", "1", "--no-progress", *[arg for s in SETTINGS for arg in ("--set", s)]]

# Runs ``muskie`` with torch.save slowed down: a checkpoint is written in 8 chunks with pauses, and while the
# file $MUSKIE_TEST_HOLD exists the write waits, so a test can kill or hold a process inside a write.
SLOW_SAVE_MAIN = textwrap.dedent("""
    import io, os, sys, time
    import torch
    from muskie.cli.main import main

    real_save = torch.save

    def slow_save(obj, handle, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        chunk = -(-len(data) // 8)
        for start in range(0, len(data), chunk):
            handle.write(data[start:start + chunk])
            handle.flush()
            time.sleep(0.02)
            while os.path.exists(os.environ["MUSKIE_TEST_HOLD"]):
                time.sleep(0.01)

    torch.save = slow_save
    sys.exit(main(sys.argv[1:]))
""")


def temporaries(out_dir):
    return sorted(p.name for p in out_dir.glob(f".{LATEST_NAME}.*.tmp"))


def saved_step(out_dir) -> int:
    path = out_dir / LATEST_NAME
    return read_checkpoint(path).step if path.exists() else 0


def wait_until(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the training process")
        time.sleep(0.005)


def start_slow(helper, out_dir, hold):
    env = {**os.environ, "MUSKIE_TEST_HOLD": str(hold), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(helper), *CLI_ARGS, "--out", str(out_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_inside_write(process, out_dir, writes: int) -> None:
    """SIGKILL ``process`` while it writes its ``writes``-th checkpoint (each write has a fresh temp name)."""
    seen = set()

    def reached():
        seen.update(temporaries(out_dir))
        return len(seen) >= writes or process.poll() is not None

    wait_until(reached)
    process.send_signal(signal.SIGKILL)
    process.wait()


def losses(out_dir) -> list[float]:
    records = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, STEPS + 1)), "every step logged exactly once"
    return [r["loss"] for r in records]


def test_sigkilled_run_resumes_to_the_same_weights_and_a_second_run_is_refused(tmp_path):
    reference = pretrain(
        load_pretrain_config(None, [parse_override(s) for s in SETTINGS] + [{"out_dir": str(tmp_path / "reference")}]),
        progress=False,
    )
    out_dir, hold = tmp_path / "run", tmp_path / "hold"
    helper = tmp_path / "slow_save_main.py"
    helper.write_text(SLOW_SAVE_MAIN)
    rng = random.Random(7)
    # a random moment (start-up, a step or a write), then three kills inside checkpoint writes
    plans = [("anytime", rng.uniform(0.5, 3.5))] + [("write", rng.randint(1, 2)) for _ in range(3)]
    kills_inside_writes = 0
    for kind, when in plans:
        if saved_step(out_dir) >= STEPS - 2:
            break  # leave steps for the last process, which the concurrency check below holds in a write
        before = saved_step(out_dir)
        process = start_slow(helper, out_dir, hold)
        if kind == "write":
            kill_inside_write(process, out_dir, writes=when)
            assert process.returncode == -signal.SIGKILL, process.stderr.read()
            assert len(temporaries(out_dir)) == 1, "killed inside a write: its partial file is on disk"
            kills_inside_writes += 1
        else:
            time.sleep(when)
            process.send_signal(signal.SIGKILL)
            process.wait()
            assert len(temporaries(out_dir)) <= 1, "temp files of earlier kills were removed on start"
        assert saved_step(out_dir) >= before, "checkpoint-last.pt loads and never goes back"
    assert kills_inside_writes >= 1

    hold.touch()
    first = start_slow(helper, out_dir, hold)
    try:
        # once it holds the lock and its temp file is the only one, it waits inside a checkpoint write
        wait_until(
            lambda: (
                first.poll() is not None
                or (out_dir / ".lock").read_text().strip() == str(first.pid)
                and len(temporaries(out_dir)) == 1
            )
        )
        second = subprocess.run(
            [sys.executable, "-m", "muskie", *CLI_ARGS, "--out", str(out_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    finally:
        hold.unlink()
    stdout, stderr = first.communicate(timeout=120)
    assert second.returncode == 2, second.stderr
    assert f"{out_dir}: another muskie run is writing to this folder" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, stderr
    assert f"finished at step {STEPS}/{STEPS}" in stdout

    assert temporaries(out_dir) == [], "no temporary file of a killed write is left"
    final = read_checkpoint(out_dir / LATEST_NAME)
    expected = read_checkpoint(tmp_path / "reference" / LATEST_NAME)
    assert final.step == expected.step == STEPS
    for key, tensor in expected.model_state.items():
        assert torch.equal(final.model_state[key], tensor), key
    for index, state in expected.optimizer_state["state"].items():
        for name, value in state.items():
            assert torch.equal(final.optimizer_state["state"][index][name], value), (index, name)
    exported = load_file(out_dir / "model" / "model.safetensors")
    for key, tensor in reference.model.state_dict().items():
        assert torch.equal(exported[key], tensor), key
    assert losses(out_dir) == losses(tmp_path / "reference")


def test_sigterm_and_ctrl_c_write_a_checkpoint_and_exit_cleanly(tmp_path):
    """SIGTERM (cluster pre-emption) and SIGINT (Ctrl-C: sent to the whole process group, loader worker
    included) arrive during the first checkpoint write: the run finishes the next step, checkpoints it and
    exits with 128 + signal and the line to resume, no traceback; the resumed run ends as an uninterrupted
    one."""
    pretrain(
        load_pretrain_config(None, [parse_override(s) for s in SETTINGS] + [{"out_dir": str(tmp_path / "reference")}]),
        progress=False,
    )
    helper = tmp_path / "slow_save_main.py"
    helper.write_text(SLOW_SAVE_MAIN)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for signum, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        out_dir, hold = tmp_path / signum.name, tmp_path / f"hold-{signum.name}"
        hold.touch()
        # one loader worker, in the process group the signal reaches (as a terminal's Ctrl-C does)
        process = subprocess.Popen(
            [sys.executable, str(helper), *CLI_ARGS, "--set", "data.workers=1", "--out", str(out_dir)],
            env={**env, "MUSKIE_TEST_HOLD": str(hold)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            wait_until(lambda: temporaries(out_dir) or process.poll() is not None)
            os.killpg(process.pid, signum)
        finally:
            hold.unlink()
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == code, stderr
        assert f"interrupted by {signum.name} at step 2/{STEPS}" in stdout and "to resume" in stdout
        assert "Traceback" not in stderr
        assert saved_step(out_dir) == 2
        resumed = subprocess.run(
            [sys.executable, "-m", "muskie", *CLI_ARGS, "--out", str(out_dir)], capture_output=True, text=True, env=env
        )
        assert resumed.returncode == 0, resumed.stderr
        assert losses(out_dir) == losses(tmp_path / "reference")
