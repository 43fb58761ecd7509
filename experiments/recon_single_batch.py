"""Can the reconstruction model learn cameras at all? Fit one batch and print the loss terms.

    .venv/bin/python experiments/recon_single_batch.py [--steps 120] [--camera-weight 1.0] [--lr 3e-4]

A diagnostic for `experiments/reconstruction.py`: a random-start model of the `tiny-cpu` recon recipe is
trained on one fixed batch (4 synthetic `rig` training scenes x 8 views at 64x64). If the camera terms fall,
the model, heads and loss can learn poses, and a flat camera loss in a full run is a matter of budget and
weights, not a bug.
"""

from __future__ import annotations

import argparse

import torch

from muskie.data.batch import collate_views
from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import ViewRequest
from muskie.recon.config import ReconLossConfig, load_recon_config
from muskie.recon.loss import recon_loss
from muskie.recon.model import build_recon_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--camera-weight", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=3e-4)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build_recon_model(load_recon_config("tiny-cpu", []).model)
    dataset = SyntheticViewDataset("train", SyntheticConfig(camera_path="rig"), num_scenes=100)
    batch = collate_views([dataset[ViewRequest(i, 8, 64, 64, i)] for i in range(4)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    loss_config = ReconLossConfig(camera_weight=args.camera_weight)
    print("step  loss    points  normal  rotation  translation")
    for step in range(args.steps):
        out = model(batch.images)
        terms = recon_loss(
            out.local_points,
            out.confidence_logits,
            out.cam_to_world,
            batch.depth,
            batch.valid,
            batch.intrinsics,
            batch.cam_to_world,
            loss_config,
        )
        terms.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 20 == 0 or step == args.steps - 1:
            print(
                f"{step:>4}  {terms.loss.item():.4f}  {terms.points.item():.4f}  {terms.normal.item():.4f}  "
                f"{terms.rotation.item():.4f}    {terms.translation.item():.4f}"
            )


if __name__ == "__main__":
    main()
