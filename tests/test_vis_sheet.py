"""muskie.vis.sheet: one row per view group, views left to right."""

import torch

from muskie.vis.sheet import contact_sheet


def test_rows_hold_the_groups_views():
    white = {"images": torch.ones(3, 3, 8, 10), "scene": "a"}
    black = {"images": -torch.ones(2, 3, 8, 10), "scene": "b"}
    sheet = contact_sheet([white, black])
    assert sheet.size == (4 + 3 * (10 + 4), 4 + 2 * (14 + 8 + 4))
    assert sheet.getpixel((4, 4 + 14)) == (255, 255, 255)
    assert sheet.getpixel((4, 4 + 2 * 14 + 8 + 4)) == (0, 0, 0)
