"""The screenshot of `recon predict`'s viewer in docs/reconstruction.md: a synthetic scene's ground truth
written by the prediction writer, its viewer.html loaded in headless Chromium.

    .venv/bin/python experiments/viewer_screenshot.py --out runs/viewer-ground-truth \
        --screenshot docs/images/viewer_synthetic.png [--browser chromium-headless-shell]

The "prediction" is the ground truth of 8 views (96x128) of the synthetic `orbit` test scene 0, in view 0's
camera frame, confidence 1 everywhere: what a perfect model would give. So the picture shows the viewer,
not the quality of a trained model. OUT receives every output of `recon predict` (transforms.json, sparse/0,
depth, confidence, points.ply, viewer.html, render.png).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess

import torch

from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import ViewRequest
from muskie.geometry import invert_pose, transform_points, unproject_depth
from muskie.recon.predict import write_prediction
from muskie.recon.prediction import Prediction


def ground_truth_prediction(num_views: int, height: int, width: int) -> Prediction:
    sample = SyntheticViewDataset("test", SyntheticConfig(camera_path="orbit"), num_scenes=1)[
        ViewRequest(0, num_views, height, width, 0)
    ]
    to_first = invert_pose(sample["cam_to_world"][0].double())
    cam_to_world = to_first @ sample["cam_to_world"].double()
    local = unproject_depth(
        sample["depth"].double(),
        sample["intrinsics"].double(),
        torch.eye(4, dtype=torch.float64).expand(num_views, 4, 4),
    )
    points = transform_points(cam_to_world, local.reshape(num_views, -1, 3)).reshape(local.shape)
    # pixels without depth (the background) are left out as non-finite points
    points[~sample["valid"]] = float("nan")
    return Prediction(
        [f"{view:03d}" for view in range(num_views)],
        (sample["images"] + 1) / 2,
        local.float(),
        points.float(),
        torch.ones(num_views, height, width),
        cam_to_world.float(),
        sample["intrinsics"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder of the writer (replaced)")
    parser.add_argument("--screenshot", required=True, help="PNG to write")
    parser.add_argument("--browser", default="chromium-headless-shell")
    parser.add_argument("--window", type=int, nargs=2, default=(800, 600), metavar=("W", "H"))
    args = parser.parse_args()
    paths = write_prediction(ground_truth_prediction(8, 96, 128), args.out, overwrite=True)
    browser = shutil.which(args.browser) or args.browser
    width, height = args.window
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--window-size={width},{height}",
            f"--screenshot={args.screenshot}",
            paths["viewer"].resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"wrote {args.out} and {args.screenshot}")


if __name__ == "__main__":
    main()
