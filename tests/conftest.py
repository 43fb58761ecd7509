"""Shared test settings: one thread per test process (the suite runs in parallel processes)."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent


def real_data_root() -> Path:
    """The shared real scenes: ``$MUSKIE_REAL_DATA`` or ``<repo>/../shared/data/real``."""
    return Path(os.environ.get("MUSKIE_REAL_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))


@pytest.fixture
def real_data() -> Path:
    root = real_data_root()
    if not (root / "templeRing" / "transforms.json").is_file():
        pytest.skip(f"real scenes not found at {root} (set MUSKIE_REAL_DATA to the shared/data/real folder)")
    return root
