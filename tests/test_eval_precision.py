"""Evaluations at bf16: the backbone runs under autocast, its features and attention come back as float32
close to the fp32 ones, the attention maps are computed in float32, and every result records its precision."""

import json
import warnings

import pytest
import torch

from muskie import devices
from muskie.cli.main import main
from muskie.devices import emulated_bf16_warning, evaluation_precision, precision_context
from muskie.eval.backbones import build_backbone
from muskie.eval.backbones.on_device import OnDevice, on_device
from muskie.eval.probes import extract_features
from muskie.model import create_model

CPU = torch.device("cpu")


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.fixture
def images():
    torch.manual_seed(0)
    return torch.rand(1, 3, 3, 32, 32) * 2 - 1


def test_bf16_backbone_returns_float32_close_to_fp32(images):
    torch.manual_seed(0)
    backbone = build_backbone("random:tiny")
    exact = backbone(images, block=-1, with_attention=True)
    rounded = OnDevice(backbone, CPU, "bf16")(images, block=-1, with_attention=True)
    assert rounded.features.dtype == rounded.attention.dtype == torch.float32
    assert 0 < _relative(rounded.features, exact.features) < 0.05, "bf16 differs from fp32, but only by rounding"
    assert _relative(rounded.attention, exact.attention) < 0.02


def test_bf16_read_blocks_runs_in_bf16_and_returns_float32(images):
    backbone = build_backbone("random:tiny")
    last = backbone.depth - 1
    asked = {"feature_blocks": [-1], "attention_blocks": [-1], "source_view": 1}
    exact = backbone.read_blocks(images, **asked)
    part = OnDevice(backbone, CPU, "bf16").read_blocks(images, **asked)
    features, rounded = part.features[last], part.source_attention[last]
    assert features.dtype == torch.float32 and 0 < _relative(features, exact.features[last]) < 0.05
    assert rounded.source == 1 and rounded.outgoing.dtype == rounded.incoming.dtype == torch.float32
    exact_part = exact.source_attention[last]
    assert 0 < _relative(rounded.outgoing, exact_part.outgoing) < 0.02
    assert _relative(rounded.incoming, exact_part.incoming) < 0.02


def test_the_attention_maps_of_a_float64_model_stay_float64(images):
    model = create_model("tiny").double().eval()
    with torch.no_grad():
        out = model(images.double(), attention_blocks=[0])
    assert out.attention[0].dtype == torch.float64


def test_the_attention_maps_are_float32_under_autocast(images):
    """The readouts compare probabilities that differ in the third digit: the maps are computed in float32
    from the (rounded) queries and keys, not in bf16."""
    model = create_model("tiny").eval()
    with torch.no_grad(), precision_context("bf16", CPU):
        out = model(images, attention_blocks=[0])
        part = model(images, attention_blocks=[0], source_view=0).source_attention[0]
    assert out.attention[0].dtype == torch.float32 and part.outgoing.dtype == torch.float32
    assert out.features[0].dtype == torch.bfloat16, "the blocks themselves did run in bf16"


def test_fp32_on_the_cpu_is_not_wrapped_and_bf16_is():
    backbone = build_backbone("identity")
    assert on_device(backbone, CPU, "fp32") is backbone
    assert isinstance(on_device(backbone, CPU, "bf16"), OnDevice)
    with pytest.raises(ValueError, match="resolve 'auto' first"):
        OnDevice(backbone, CPU, "auto")


def test_probe_features_at_bf16_are_float32(images):
    backbone = build_backbone("random:tiny")
    samples = [{"images": images[0]}, {"images": images[0].flip(-1)}]
    exact = extract_features(backbone, samples, blocks=(-1,), batch_size=2)
    rounded = extract_features(backbone, samples, blocks=(-1,), batch_size=2, precision="bf16")
    assert rounded.dtype == torch.float32 and rounded.shape == exact.shape == (6, 128, 4, 4)
    assert 0 < _relative(rounded, exact) < 0.05


def test_evaluation_precision_resolves_auto_and_warns_where_bf16_is_emulated(monkeypatch):
    monkeypatch.setattr(devices, "native_bf16", lambda device: True)
    assert evaluation_precision("auto", CPU) == "bf16"
    assert emulated_bf16_warning("bf16", CPU) is None
    monkeypatch.setattr(devices, "native_bf16", lambda device: False)
    assert evaluation_precision("auto", CPU) == "fp32"
    assert emulated_bf16_warning("fp32", CPU) is None
    with pytest.warns(UserWarning, match="without native bf16"):
        assert evaluation_precision("bf16", CPU) == "bf16"
    with pytest.raises(ValueError, match="precision must be"):
        evaluation_precision("fp16", CPU)


def test_correspondence_cli_runs_and_records_its_precision(tmp_path, capsys, monkeypatch):
    from muskie.eval.backbones import on_device as module

    contexts = []
    monkeypatch.setattr(module, "precision_context", lambda p, d: contexts.append(p) or precision_context(p, d))
    monkeypatch.setattr(devices, "native_bf16", lambda device: False)  # so auto means fp32 here
    small = ["--backbone", "random", "--samples", "2", "--views", "3", "--size", "32", "32", "--queries", "20"]
    scores = {}
    for asked, used in (("fp32", "fp32"), ("bf16", "bf16"), ("auto", "fp32")):
        out = tmp_path / asked
        contexts.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bf16 warns on this (patched) CPU; that is tested above
            assert main(["eval", "correspondence", *small, "--precision", asked, "--out", str(out)]) == 0
        report = json.loads((out / "results.json").read_text())
        assert report["settings"]["precision"] == used
        assert f"backbones in {used}" in (out / "results.md").read_text()
        assert set(contexts) == ({"bf16"} if used == "bf16" else set()), "bf16 runs wrapped; fp32 on a CPU is not"
        scores[asked] = report["results"][0]["readouts"]["nn"]["pooled"]["pairs"]
    assert scores["fp32"] == scores["bf16"] == scores["auto"], "the same samples and queries are scored"
    with pytest.raises(SystemExit) as refused:
        main(["eval", "correspondence", *small, "--precision", "fp16", "--out", str(tmp_path / "x")])
    assert refused.value.code == 2 and "--precision: invalid choice: 'fp16'" in capsys.readouterr().err
