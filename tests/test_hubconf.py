"""torch.hub from the checkout (``hubconf.py``, ``source="local"``: nothing downloaded): the preset entry
points, their ``pretrained`` weights loaded strictly, and any weights folder."""

import importlib.util
from pathlib import Path

import pytest
import torch

from muskie.model import Muskie, create_model

REPO = str(Path(__file__).resolve().parent.parent)
FOLDER = Path(__file__).resolve().parent / "data" / "folders_v2" / "muskie"


def test_the_entry_points_are_the_presets_and_a_weights_loader():
    spec = importlib.util.spec_from_file_location("hubconf", Path(REPO) / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    # what torch.hub.list shows (it reads only GitHub repositories): the public callables
    entries = {name for name in dir(hubconf) if callable(getattr(hubconf, name)) and not name.startswith("_")}
    assert entries == {"muskie_tiny", "muskie_small", "muskie_base", "muskie_large", "muskie_pretrained"}


def test_a_preset_loads_random_or_with_weights_that_fit_it(tmp_path):
    model = torch.hub.load(REPO, "muskie_tiny", source="local", pretrained=False)
    assert type(model) is Muskie and model.config == create_model("tiny").config
    saved = create_model("tiny", depth=1).save_pretrained(tmp_path / "tiny")
    loaded = torch.hub.load(REPO, "muskie_tiny", source="local", pretrained=str(saved), depth=1)
    expected = Muskie.from_pretrained(saved)
    for key, tensor in expected.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    with pytest.raises(ValueError, match="but preset 'base'"):
        torch.hub.load(REPO, "muskie_base", source="local", pretrained=str(saved))
    with pytest.raises(ValueError, match="muskie downloads no weights"):
        torch.hub.load(REPO, "muskie_base", source="local", pretrained=True)


def test_muskie_pretrained_loads_any_folder():
    model = torch.hub.load(REPO, "muskie_pretrained", source="local", path=str(FOLDER))
    assert model.config.embed_dim == 8 and model.config.depth == 2
