"""A backbone computed on another device returns what it returns on the CPU, on the CPU (checked here with
the CPU as the other device: this machine has no GPU)."""

import torch

from muskie.eval.backbones import build_backbone
from muskie.eval.backbones.on_device import OnDevice, on_device


def test_on_device_gives_the_backbones_own_outputs_on_the_cpu():
    torch.manual_seed(0)
    backbone = build_backbone("random:tiny")
    wrapped = OnDevice(backbone, torch.device("cpu"))
    images = torch.rand(1, 3, 3, 32, 32) * 2 - 1
    direct, moved = backbone(images, block=-1, with_attention=True), wrapped(images, block=-1, with_attention=True)
    assert torch.equal(direct.features, moved.features) and torch.equal(direct.attention, moved.attention)
    blocks = wrapped.read_blocks(images, feature_blocks=[0, -1], attention_blocks=[1])
    assert set(blocks.features) == {0, backbone.depth - 1} and set(blocks.attention) == {1}
    assert all(t.device.type == "cpu" for t in [*blocks.features.values(), *blocks.attention.values()])
    part = wrapped.read_blocks(images, attention_blocks=[1], source_view=2).source_attention[1]
    expected = backbone.read_blocks(images, attention_blocks=[1], source_view=2).source_attention[1]
    assert part.source == 2 and part.outgoing.device.type == part.incoming.device.type == "cpu"
    assert torch.equal(part.outgoing, expected.outgoing) and torch.equal(part.incoming, expected.incoming)
    assert (wrapped.name, wrapped.multi_view, wrapped.depth) == (backbone.name, backbone.multi_view, backbone.depth)
    assert wrapped.grid_size(32, 32) == backbone.grid_size(32, 32)


def test_on_the_cpu_the_backbone_is_not_wrapped():
    backbone = build_backbone("identity")
    assert on_device(backbone, torch.device("cpu")) is backbone
