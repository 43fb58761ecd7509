"""Packages export their names lazily: ``import muskie`` imports no torch, and every exported name resolves."""

import importlib
import subprocess
import sys

import pytest

LAZY_PACKAGES = [
    "muskie",
    "muskie.data",
    "muskie.data.synthetic",
    "muskie.geometry",
    "muskie.model",
    "muskie.recon",
    "muskie.pretraining",
]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018


def test_import_muskie_imports_no_torch_until_a_model_is_asked_for():
    code = (
        "import sys, muskie; before = 'torch' in sys.modules; muskie.load_model; print(before, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_a_submodule_is_reached_as_an_attribute():
    import muskie.geometry

    assert muskie.geometry.cameras.pixel_grid is muskie.geometry.pixel_grid
