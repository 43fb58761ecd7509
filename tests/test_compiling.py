"""torch.compile of the blocks (muskie.model.compiling, the ``compile`` key): a compiled pre-training step gives
the eager step's loss and gradients; the engine compiles where the task supports it and refuses elsewhere."""

import pytest
import torch
from fixtures import SMALL_MUSKIE, tiny_pretrain_config

from muskie.config_io import ConfigError
from muskie.model import Muskie, compile_blocks
from muskie.pretraining import MaskConfig
from muskie.pretraining import task as task_module
from muskie.pretraining.step import pretraining_loss
from muskie.pretraining.task import pretrain
from muskie.recon.config import ReconTrainConfig
from muskie.recon.task import ReconTask


def twin_models() -> tuple[Muskie, Muskie]:
    torch.manual_seed(0)
    eager = Muskie(SMALL_MUSKIE)
    with torch.no_grad():
        eager.mask_placeholder.normal_()
    compiled = Muskie(SMALL_MUSKIE)
    compiled.load_state_dict(eager.state_dict())
    return eager, compiled


def test_compiling_blocks_keeps_the_state_dict_and_counts_the_blocks():
    eager, compiled = twin_models()
    assert compile_blocks(compiled) == SMALL_MUSKIE.depth
    assert list(compiled.state_dict()) == list(eager.state_dict())
    assert compile_blocks(torch.nn.Linear(2, 2)) == 0


@pytest.mark.slow  # inductor generates and compiles C++ for the block's forward and backward: minutes, uncached
def test_a_compiled_step_gives_the_eager_loss_and_gradients():
    """Two pre-training steps' losses (forward + backward through the compiled blocks) against eager: equal to
    float32 rounding (inductor fuses and reorders elementwise work and reductions)."""
    eager, compiled = twin_models()
    compile_blocks(compiled)
    images = torch.rand(1, 2, 3, 16, 24, generator=torch.Generator().manual_seed(1)) * 2 - 1
    results = []
    for model in (eager, compiled):
        losses = []
        for step in range(2):
            model.zero_grad()
            out = pretraining_loss(model, images, MaskConfig(), torch.Generator().manual_seed(step))
            out.output.loss.backward()
            losses.append(out.output.loss.detach())
        results.append((torch.stack(losses), {name: p.grad.clone() for name, p in model.named_parameters()}))
    (eager_losses, eager_grads), (compiled_losses, compiled_grads) = results
    torch.testing.assert_close(compiled_losses, eager_losses, rtol=1e-5, atol=0)
    for name, grad in eager_grads.items():
        scale = float(grad.abs().max())
        torch.testing.assert_close(compiled_grads[name], grad, rtol=1e-4, atol=1e-5 * scale, msg=name)


def test_compile_key_compiles_the_pretraining_blocks(tmp_path, monkeypatch):
    compiled = []
    monkeypatch.setattr(task_module, "compile_blocks", lambda model: compiled.append(model) or 1)
    result = pretrain(tiny_pretrain_config(tmp_path, compile=True, steps=1), progress=False)
    assert compiled == [result.model]
    compiled.clear()
    pretrain(tiny_pretrain_config(tmp_path / "eager", steps=1), progress=False)
    assert compiled == []


def test_a_task_without_compile_support_refuses_the_key():
    task = ReconTask(ReconTrainConfig())
    with pytest.raises(ConfigError, match="compile: the recon task does not support torch.compile"):
        task.compile_model(torch.nn.Linear(2, 2))
