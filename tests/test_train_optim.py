"""The optimiser (muskie.train.optim): weight-decay groups, and the foreach and fused implementations give the
default's parameters; a resumed run may change the implementation."""

import pytest
import torch
from fixtures import SMALL_MUSKIE, tiny_pretrain_config

from muskie.config_io import ConfigError
from muskie.model import Muskie
from muskie.pretraining.task import pretrain
from muskie.train.config import OPTIMIZER_IMPLEMENTATIONS, OptimConfig
from muskie.train.optim import IMPLEMENTATION_KEYS, IMPLEMENTATION_OPTIONS, build_optimizer, load_optimizer_state


def trained_parameters(implementation: str, steps: int = 5, resume_as: str | None = None) -> dict:
    """A small Muskie after ``steps`` AdamW steps on fixed gradients (the same every run); with ``resume_as``,
    the optimiser's state is moved after two steps into an optimiser of that implementation."""
    torch.manual_seed(0)
    model = Muskie(SMALL_MUSKIE)
    config = OptimConfig(lr=1e-2, weight_decay=0.05, implementation=implementation)
    optimizer = build_optimizer(model, config)
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        if step == 2 and resume_as is not None:
            state = optimizer.state_dict()
            optimizer = build_optimizer(model, OptimConfig(lr=1e-2, weight_decay=0.05, implementation=resume_as))
            load_optimizer_state(optimizer, state)
        for param in model.parameters():
            param.grad = torch.randn(param.shape, generator=generator)
        optimizer.step()
    return {name: p.detach().clone() for name, p in model.named_parameters()}, optimizer


def test_decay_groups_exempt_biases_norms_and_tokens():
    optimizer = build_optimizer(Muskie(SMALL_MUSKIE), OptimConfig(weight_decay=0.05))
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"])
    assert all(p.ndim <= 1 or p.shape[:2] == (1, 1) for p in no_decay["params"])  # tokens are (1, 1, n, E)


def test_on_a_cpu_the_default_is_the_for_loop_bit_for_bit():
    default, _ = trained_parameters("default")
    for_loop, _ = trained_parameters("for_loop")
    assert all(torch.equal(default[name], for_loop[name]) for name in default)


@pytest.mark.parametrize("implementation", ["foreach", "fused"])
def test_foreach_and_fused_give_the_default_parameters(implementation):
    """Five steps with weight decay: equal to float32 rounding (relative 1e-6 of each tensor's size)."""
    default, _ = trained_parameters("default")
    other, optimizer = trained_parameters(implementation)
    assert optimizer.param_groups[0][implementation] is True
    torch.manual_seed(0)
    initial = Muskie(SMALL_MUSKIE).state_dict()
    for name, value in default.items():
        assert not torch.equal(initial[name], value), f"{name} did not move"
        torch.testing.assert_close(other[name], value, rtol=1e-6, atol=1e-6 * float(value.abs().max()), msg=name)


@pytest.mark.parametrize(("saved", "resumed"), [("fused", "foreach"), ("default", "fused"), ("foreach", "default")])
def test_a_loaded_state_keeps_the_new_implementation(saved, resumed):
    straight, _ = trained_parameters(saved)
    switched, optimizer = trained_parameters(saved, resume_as=resumed)
    expected = {"foreach": None, "fused": None, **IMPLEMENTATION_OPTIONS[resumed]}
    for group in optimizer.param_groups:
        assert {key: group[key] for key in IMPLEMENTATION_KEYS} == expected
    for name, value in straight.items():
        torch.testing.assert_close(switched[name], value, rtol=1e-6, atol=1e-6 * float(value.abs().max()), msg=name)


def test_implementation_is_checked():
    assert OPTIMIZER_IMPLEMENTATIONS == ("default", "for_loop", "foreach", "fused")
    with pytest.raises(ConfigError, match="optim.implementation must be one of default, for_loop, foreach, fused"):
        OptimConfig(implementation="apex").validate()


def test_a_run_resumes_with_another_implementation(tmp_path):
    pretrain(tiny_pretrain_config(tmp_path, optim={"implementation": "fused"}), stop_at_step=2, progress=False)
    resumed = pretrain(tiny_pretrain_config(tmp_path, optim={"implementation": "foreach"}), progress=False)
    assert resumed.step == 6 and all(torch.isfinite(torch.tensor(resumed.losses)))
