"""Device names and the precision a run uses on a device."""

import pytest
import torch

from muskie import devices
from muskie.devices import bf16_slowdown, resolve_device, resolve_precision


def test_auto_device_is_cpu_without_cuda():
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")


def test_a_torch_device_is_taken_as_its_name():
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_unknown_device_names_are_refused():
    with pytest.raises(ValueError, match="not a device name"):
        resolve_device("gpu0")


def test_devices_muskie_does_not_run_on_or_this_machine_lacks_are_refused():
    with pytest.raises(ValueError, match="device 'meta': muskie runs on cpu, cuda, cuda:N or mps, not on 'meta'"):
        resolve_device("meta")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="device 'mps' was asked for but MPS .* is not available"):
            resolve_device("mps")
    with pytest.raises(ValueError, match=f"device 'cuda:{torch.cuda.device_count()}' was asked for but "):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_follows_native_bf16(monkeypatch, native, expected):
    monkeypatch.setattr(devices, "native_bf16", lambda device: native)
    name, reason = resolve_precision("auto", torch.device("cpu"))
    assert name == expected and reason.startswith(f"precision auto: {expected}")
    assert ("has native" if native else "has no native") in reason


def test_explicit_precisions_are_kept_and_others_refused(monkeypatch):
    monkeypatch.setattr(devices, "native_bf16", lambda device: False)
    assert resolve_precision("bf16", torch.device("cpu"))[0] == "bf16"
    assert resolve_precision("fp32", torch.device("cpu"))[0] == "fp32"
    with pytest.raises(ValueError, match="'auto', 'fp32' or 'bf16'"):
        resolve_precision("fp16", torch.device("cpu"))


def test_bf16_slowdown_is_a_positive_ratio():
    assert bf16_slowdown(size=32, repeats=1) > 0


@pytest.mark.parametrize("amx", [True, False])
def test_cpu_capability_names_amx_where_the_cpu_has_it(monkeypatch, amx):
    monkeypatch.setattr(devices, "native_bf16", lambda device: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    described = devices.cpu_capability()
    assert described.startswith(f"{torch.backends.cpu.get_cpu_capability()}, bf16 native")
    assert described.endswith(", AMX") is amx


def test_amx_is_false_where_torch_cannot_tell(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert devices.has_amx() is False
