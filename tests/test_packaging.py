"""Packaging basics: one version everywhere, the licence the metadata names, a citation file that parses, the
type marker shipped, and the developer tooling (CONTRIBUTING.md) in place."""

import importlib.metadata
import os
import re
from pathlib import Path

import pytest
import yaml

import muskie

REPO = Path(__file__).resolve().parent.parent


def test_one_version_in_the_package_its_metadata_and_the_citation_file():
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert importlib.metadata.version("muskie") == muskie.__version__
    assert str(citation["version"]) == muskie.__version__
    assert f"## {muskie.__version__.split('.dev')[0]}" in (REPO / "CHANGELOG.md").read_text()


def test_licence_file_matches_the_metadata():
    assert importlib.metadata.metadata("muskie")["License-Expression"] == "MIT"
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


def test_citation_names_the_paper():
    paper = yaml.safe_load((REPO / "CITATION.cff").read_text())["preferred-citation"]
    assert paper["title"].startswith("Muskie: Multi-view Masked Image Modeling")
    assert {"type": "other", "value": "arXiv:2511.18115"} in paper["identifiers"]


def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_type_marker_ships_with_the_package():
    """PEP 561: without py.typed in the wheel, users' type checkers ignore muskie's annotations."""
    assert (REPO / "muskie" / "py.typed").is_file()
    assert "py.typed" in pyproject()["tool"]["setuptools"]["package-data"]["muskie"]


def test_the_developer_checks_are_in_place():
    config = pyproject()
    dev = config["project"]["optional-dependencies"]["dev"]
    tools = {re.split("[=<>]", requirement)[0] for requirement in dev}
    assert tools == {"ruff", "mypy", "pdoc", "pre-commit"}
    # CI checks the format and the types: a new ruff or mypy release must not turn it red unasked
    assert all("==" in requirement for requirement in dev if requirement.startswith(("ruff", "mypy")))
    assert all((REPO / file).is_file() for file in config["tool"]["mypy"]["files"])
    for script in ("check.sh", "docs.sh"):
        assert os.access(REPO / "scripts" / script, os.X_OK), f"scripts/{script} is not executable"
    # local hooks on the tools of .venv, so that pre-commit needs no network
    hooks = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"]
    assert [repo["repo"] for repo in hooks] == ["local"]
    assert {hook["id"] for hook in hooks[0]["hooks"]} == {"ruff-check", "ruff-format", "mypy"}
    assert all(hook["language"] == "system" for hook in hooks[0]["hooks"])
