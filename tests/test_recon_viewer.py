"""The HTML viewer (muskie.recon.viewer): one self-contained page, its point cap, and what a real browser
draws of it (headless Chromium; skipped where none is installed)."""

import base64
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from muskie.data.synthetic import SyntheticConfig, SyntheticViewDataset
from muskie.data.views import ViewRequest
from muskie.geometry import unproject_depth
from muskie.recon.render import BACKGROUND
from muskie.recon.viewer import viewer_html, write_viewer

# headless browsers a Debian machine may have: `apt-get install chromium-headless-shell` (or chromium)
BROWSERS = ("chromium-headless-shell", "chrome-headless-shell", "chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    """The headless browser to load pages in: ``$MUSKIE_BROWSER`` or the first of BROWSERS on PATH."""
    found = os.environ.get("MUSKIE_BROWSER") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if found is None:
        pytest.skip(
            f"no headless browser to load the viewer in (none of {', '.join(BROWSERS)} on PATH, "
            "MUSKIE_BROWSER unset); on Debian: apt-get install chromium-headless-shell"
        )
    return found


def capture(num_views=3, height=24, width=32):
    """A synthetic scene seen from an orbit: its world points, colours and cameras."""
    dataset = SyntheticViewDataset("test", SyntheticConfig(camera_path="orbit"), num_scenes=1)
    sample = dataset[ViewRequest(0, num_views, height, width, 0)]
    points = unproject_depth(sample["depth"], sample["intrinsics"], sample["cam_to_world"])[sample["valid"]]
    colors = ((sample["images"] + 1) / 2).permute(0, 2, 3, 1)[sample["valid"]]
    return (
        points.double().numpy(),
        colors.numpy(),
        sample["cam_to_world"].double().numpy(),
        sample["intrinsics"].double().numpy(),
        (height, width),
    )


def scene_of(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="scene">(.*?)</script>', page, re.S).group(1))


def test_the_page_holds_everything_and_fetches_nothing():
    points, colors, poses, intrinsics, size = capture()
    page = viewer_html(points, colors, poses, intrinsics, size, title="a <b>")
    assert "<title>a &lt;b&gt;</title>" in page
    assert "://" not in page and " src=" not in page and "<link" not in page, "no address, nothing to load"
    scene = scene_of(page)
    assert scene["count"] == len(points)
    stored = np.frombuffer(base64.b64decode(scene["positions"]), dtype="<f4").reshape(-1, 3)
    np.testing.assert_array_equal(stored, points.astype(np.float32))
    stored_colors = np.frombuffer(base64.b64decode(scene["colors"]), dtype=np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(stored_colors, np.round(np.clip(colors, 0, 1) * 255))
    assert len(scene["cameras"]) == 3 and scene["cameras"][0]["color"] == [255, 51, 51]
    assert np.array(scene["cameras"][1]["segments"]).shape == (8, 2, 3)
    np.testing.assert_allclose(scene["cameras"][1]["segments"][0][0], poses[1, :3, 3], atol=1e-6)


def test_large_clouds_are_subsampled_to_the_cap():
    points, colors, poses, intrinsics, size = capture()
    page = viewer_html(points, colors, poses, intrinsics, size, max_points=100)
    scene = scene_of(page)
    stored = np.frombuffer(base64.b64decode(scene["positions"]), dtype="<f4").reshape(-1, 3)
    assert scene["count"] == 100 and len(stored) == 100
    assert len({tuple(p) for p in stored} & {tuple(p) for p in points.astype(np.float32)}) == 100, "a subset"
    everything = scene_of(viewer_html(points, colors, poses, intrinsics, size))
    assert len(scene["positions"]) < len(everything["positions"]) / 10
    with pytest.raises(ValueError, match="non-finite"):
        viewer_html(np.full((2, 3), np.nan), np.zeros((2, 3)), poses, intrinsics, size)


def test_chromium_draws_the_cloud_and_the_cameras(tmp_path):
    executable = browser()
    points, colors, poses, intrinsics, size = capture()
    page = write_viewer(tmp_path / "viewer.html", points, colors, poses, intrinsics, size)
    command = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=400,300"]
    dom = subprocess.run([*command, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    drawn = re.search(r'data-drawn-points="(\d+)"', dom.stdout)
    assert drawn, f"the script did not finish drawing: {dom.stderr[-2000:]}"
    assert int(drawn.group(1)) > 0.9 * len(points), "most points are in the first view"
    subprocess.run(
        [*command, f"--screenshot={tmp_path / 'shot.png'}", page.as_uri()], capture_output=True, timeout=120, check=True
    )
    shot = np.asarray(Image.open(tmp_path / "shot.png").convert("RGB")).astype(int)
    assert shot.shape[:2] == (300, 400)
    drawn_pixels = np.abs(shot - np.array(BACKGROUND)).sum(-1) > 30
    assert drawn_pixels.mean() > 0.02, f"only {drawn_pixels.mean():.2%} of the canvas is not background"
    reddish = (shot[..., 0] > 180) & (shot[..., 1] < 120) & (shot[..., 2] < 120)
    assert reddish.sum() >= 10, "view 0's frustum is drawn in red"
