"""Write the version-1 weights files of this folder. Run ONCE, with the code of commit 0acf8db (before
``muskie.weights`` existed); the files are kept so that every later version must still load them.

    PYTHONPATH=. python tests/data/checkpoints_v1/make_v1.py

Each file is written exactly as the training loops of that commit wrote theirs (``save_training_checkpoint``
from ``muskie pretrain``, ``save_recon_checkpoint`` from ``muskie recon train``, ``save_pretrained`` for the
``model/`` folder of a finished run), with a tiny model and the optimiser state of one real AdamW step.
``expected.pt`` holds what a test compares against: one input batch and each model's output for it.

The reconstruction model is as small as the format allows: ``torch.save`` costs about 270 bytes per
tensor, and AdamW keeps three tensors per parameter, so the file stays under 200 KB only with a one-block
backbone, one new block (the DPT head reads blocks 0, 0, 1, 1), a frozen backbone and a step on the camera
loss alone (the point head gets no gradient, hence no optimiser state, as happens in real runs).
"""

from pathlib import Path

import torch

from muskie.config_io import to_dict
from muskie.recon.config import load_recon_config
from muskie.recon.model import build_recon_model
from muskie.recon.train import save_recon_checkpoint
from muskie.train.checkpoint import save_training_checkpoint
from muskie.train.config import load_pretrain_config
from muskie.train.pretrain import build_model, build_optimizer

HERE = Path(__file__).resolve().parent
BACKBONE = {"embed_dim": 8, "num_heads": 1, "depth": 2, "patch_size": 4}
RECON_BACKBONE = {**BACKBONE, "depth": 1}


def one_adamw_step(model, optimizer, loss_of) -> float:
    loss = loss_of(model)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def main() -> None:
    torch.manual_seed(0)
    images = torch.rand(1, 2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    expected = {"images": images}

    # muskie pretrain: checkpoint-last.pt
    config = load_pretrain_config(
        "tiny-cpu",
        [{"model": "tiny", "model_overrides": BACKBONE, "steps": 1, "device": "cpu", "out_dir": "runs/v1-pretrain"}],
    )
    model = build_model(config)
    optimizer = build_optimizer(model, config)
    loss = one_adamw_step(model, optimizer, lambda m: m(images).pred.square().mean())
    save_training_checkpoint(
        HERE / "pretrain.pt",
        step=1,
        model_state=model.state_dict(),
        optimizer_state=optimizer.state_dict(),
        config=to_dict(config),
        metrics={"loss": loss},
    )
    model.eval()
    with torch.no_grad():
        expected["pretrain_pred"] = model(images).pred

    # a finished run's model/ folder
    model.save_pretrained(HERE / "model")

    # muskie recon train: checkpoint-last.pt
    recon_config = load_recon_config(
        None,
        [
            {
                "model": {
                    "backbone": "tiny",
                    "backbone_overrides": RECON_BACKBONE,
                    "new_blocks": 1,
                    "head_layers": [0, 0, 1, 1],
                    "dpt_dim": 4,
                    "camera_dim": 4,
                    "freeze_backbone": True,
                }
            },
            {"data": {"num_views": 2, "size": [8, 8], "batch_size": 1}},
            {"steps": 1, "device": "cpu", "out_dir": "runs/v1-recon"},
        ],
    )
    recon = build_recon_model(recon_config.model)
    recon_optimizer = build_optimizer(recon, recon_config)
    loss = one_adamw_step(recon, recon_optimizer, lambda m: m(images).cam_to_world.square().mean())
    save_recon_checkpoint(HERE / "recon.pt", recon, recon_optimizer, recon_config, 1, {"loss": loss})
    recon.eval()
    with torch.no_grad():
        expected["recon_points"] = recon(images).points

    torch.save(expected, HERE / "expected.pt")


if __name__ == "__main__":
    main()
