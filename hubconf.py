"""torch.hub entry points of muskie, from a checkout (nothing is downloaded):

    model = torch.hub.load("path/to/muskie", "muskie_base", source="local")                   # random Muskie-B
    model = torch.hub.load("path/to/muskie", "muskie_base", source="local", pretrained="muskie_base.pth")
    model = torch.hub.load("path/to/muskie", "muskie_pretrained", source="local", path="runs/tiny/model")

Each preset entry returns a ``muskie.Muskie``; ``pretrained``: False (random weights) or a weights file or
folder loaded strictly (any file ``Muskie.from_pretrained`` reads) that must fit the preset; ``overrides``
change config fields.
"""

from muskie import model as muskie_model  # a module: torch.hub.list lists only the callables below

dependencies = ["torch", "safetensors", "huggingface_hub", "yaml"]


def _preset(name: str, pretrained, allow_pickle: bool, overrides: dict):
    if pretrained is True:
        raise ValueError("muskie downloads no weights: pass pretrained=<path of a weights file or folder>")
    return muskie_model.create_model(name, pretrained or None, allow_pickle=allow_pickle, **overrides)


def muskie_tiny(pretrained=False, allow_pickle=False, **overrides):
    """Muskie-tiny: ours, for 64x64 CPU runs (sizes: ``muskie info``)."""
    return _preset("tiny", pretrained, allow_pickle, overrides)


def muskie_small(pretrained=False, allow_pickle=False, **overrides):
    """Muskie-S, the released shape."""
    return _preset("small", pretrained, allow_pickle, overrides)


def muskie_base(pretrained=False, allow_pickle=False, **overrides):
    """Muskie-B, the released shape."""
    return _preset("base", pretrained, allow_pickle, overrides)


def muskie_large(pretrained=False, allow_pickle=False, **overrides):
    """Muskie-L, the released shape."""
    return _preset("large", pretrained, allow_pickle, overrides)


def muskie_pretrained(path, allow_pickle=False, **overrides):
    """The Muskie a weights file or folder (or Hub repository ``org/name``) holds, whatever its preset
    (``Muskie.from_pretrained``)."""
    return muskie_model.Muskie.from_pretrained(path, allow_pickle=allow_pickle, **overrides)
