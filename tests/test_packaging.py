"""Packaging basics: one version everywhere, the licence the metadata names, a citation file that parses."""

import importlib.metadata
from pathlib import Path

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
