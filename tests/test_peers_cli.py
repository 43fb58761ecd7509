"""``muskie pretrain --recipe {mae,mum,croco}-tiny-cpu`` as a user runs it, with tiny overrides."""

import json

import pytest
from cli_runner import muskie

from muskie.model import MuskieBackbone

TINY = [
    "--set",
    "model_overrides={embed_dim: 32, depth: 1, num_heads: 2, patch_size: 8}",
    "--set",
    "peer.decoder_dim=16",
    "--set",
    "peer.decoder_heads=2",
    "--set",
    "data.resolutions=[[[32, 32]]]",
    "--set",
    "data.batch_size=2",
    "--set",
    "data.workers=0",
    "--set",
    "data.synthetic_scenes=8",
    "--set",
    "optim.warmup_steps=1",
    "--no-progress",
]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mae", "mum", "croco"])
def test_pretrain_a_peer_recipe(method, tmp_path):
    run = tmp_path / method
    out = muskie("pretrain", "--recipe", f"{method}-tiny-cpu", "--steps", 3, "--out", run, *TINY)
    assert "finished at step 3/3" in out.stdout
    assert f"method: {method}" in (run / "config.yaml").read_text()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["gflop"] > 0 for r in records)
    assert MuskieBackbone.from_pretrained(run / "model").config.cross_view is False


@pytest.mark.slow
def test_resuming_with_another_recipe_is_refused(tmp_path):
    muskie("pretrain", "--recipe", "mae-tiny-cpu", "--steps", 3, "--stop-at-step", 1, "--out", tmp_path, *TINY)
    result = muskie("pretrain", "--recipe", "croco-tiny-cpu", "--steps", 3, "--out", tmp_path, *TINY, check=False)
    assert result.returncode == 2
    assert "cannot resume" in result.stderr and "'method'" in result.stderr
