"""Saving and loading through huggingface_hub's PyTorchModelHubMixin (``muskie.model.hub``): today's folders
load and are written again byte for byte, the model card, a Hub repository read offline from a cache
built here, no download for local paths, and ``push_to_hub`` uploading the saved folder (HfApi mocked)."""

import json
import struct
from pathlib import Path

import huggingface_hub
import pytest
import torch
import yaml
from fixtures import tiny_pretrain_config

from muskie.loading import load_model
from muskie.model import Muskie, MuskieBackbone, MuskieConfig
from muskie.pretraining.task import pretrain
from muskie.recon.model import ReconModel
from muskie.weights import TrainingRecord, save_folder
from muskie.weights import hub as hub_module

FOLDERS = Path(__file__).resolve().parent / "data" / "folders_v2"
CITATION = Path(__file__).resolve().parent.parent / "CITATION.cff"
FILES = ("config.json", "model.safetensors")


def safetensors_parts(path: Path) -> tuple[dict, bytes]:
    """``(header as JSON, tensor bytes)`` of a safetensors file."""
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + size]), data[8 + size :]


@pytest.mark.parametrize("name, cls", [("muskie", Muskie), ("backbone", MuskieBackbone)])
def test_a_folder_of_today_loads_and_is_written_again_byte_for_byte(tmp_path, name, cls):
    model = cls.from_pretrained(FOLDERS / name)
    assert type(model) is cls
    saved = model.save_pretrained(tmp_path / name)
    for file in FILES:
        assert (saved / file).read_bytes() == (FOLDERS / name / file).read_bytes(), file


def test_a_reconstruction_folder_keeps_its_metadata_and_bytes(tmp_path):
    model = ReconModel.from_pretrained(FOLDERS / "recon")
    assert model.metadata == {"image_size": [8, 8]}
    saved = model.save_pretrained(tmp_path / "recon")
    assert (saved / "config.json").read_bytes() == (FOLDERS / "recon" / "config.json").read_bytes()
    # safetensors orders a header's metadata keys at random (a Rust HashMap), so with two keys even the old
    # code did not repeat its bytes: the header is compared as JSON, the tensors byte for byte
    assert safetensors_parts(saved / "model.safetensors") == safetensors_parts(FOLDERS / "recon" / "model.safetensors")
    assert load_model(FOLDERS / "recon").metadata == {"image_size": [8, 8]}, "load_model keeps it too"
    with pytest.raises(ValueError, match="holds a Muskie, not a ReconModel"):
        ReconModel.from_pretrained(FOLDERS / "muskie")


def test_from_pretrained_takes_huggingface_hubs_argument_name_and_config_overrides():
    backbone = MuskieBackbone.from_pretrained(pretrained_model_name_or_path=FOLDERS / "muskie", cross_view=False)
    assert not backbone.config.cross_view
    recon = ReconModel.from_pretrained(FOLDERS / "recon", freeze_backbone=True)
    assert recon.config.freeze_backbone and not any(p.requires_grad for p in recon.backbone.parameters())
    with pytest.raises(ValueError, match="no_such_field"):
        ReconModel.from_pretrained(FOLDERS / "recon", no_such_field=1)


def test_save_pretrained_writes_what_save_folder_writes_plus_a_card(tmp_path):
    torch.manual_seed(0)
    model = Muskie(MuskieConfig(embed_dim=8, depth=1, num_heads=1, patch_size=4))
    ours = model.save_pretrained(tmp_path / "ours")
    plain = save_folder(
        tmp_path / "plain", state_dict=model.state_dict(), model_class="Muskie", model_config=model.config_dict()
    )
    for file in FILES:
        assert (ours / file).read_bytes() == (plain / file).read_bytes()
    assert (ours / "README.md").is_file()
    with pytest.raises(ValueError, match="config.json is the model's own config"):
        model.save_pretrained(tmp_path / "other", config={"embed_dim": 8})


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_the_card_of_a_finished_run_records_its_training_and_the_paper(tmp_path):
    result = pretrain(tiny_pretrain_config(tmp_path / "run", steps=2, val_every=2, val_samples=2), progress=False)
    card = (result.exported / "README.md").read_text()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    last = [record for record in records if "loss" in record][-1]
    assert front_matter(card)["library_name"] == "muskie" and front_matter(card)["license"] == "mit"
    assert "The muskie `pretrain` task, 2 optimiser steps." in card
    assert f"| loss | {last['loss']:.6g} |" in card
    assert "| best_val_loss |" in card and "| val_loss |" in card
    assert "synthetic_scenes: 64" in card, "the training data"
    assert '"embed_dim": 32' in card, "the model's config"
    assert "MIT licence" in card
    paper = yaml.safe_load(CITATION.read_text())["preferred-citation"]
    assert paper["title"] in card and "arXiv:2511.18115" in card
    assert all(author["family-names"] in card for author in paper["authors"])
    again = Muskie.from_pretrained(result.exported).save_pretrained(tmp_path / "again")
    assert "Not recorded: this model was saved outside a muskie training run." in (again / "README.md").read_text()


def cache_with(tmp_path: Path, repo_id: str, folder: Path) -> Path:
    """A Hub cache folder (huggingface_hub's layout: ``models--org--name/refs/main`` naming a snapshot) that
    holds ``folder``'s files as the ``main`` revision of ``repo_id``."""
    cache = tmp_path / "hub-cache"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in folder.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return cache


@pytest.fixture
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1 for huggingface_hub, which read the variable when it was imported."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_a_hub_repository_loads_from_the_cache_offline(tmp_path, offline):
    expected = Muskie.from_pretrained(FOLDERS / "muskie")
    cache = cache_with(tmp_path, "org/muskie-tiny", FOLDERS / "muskie")
    model = Muskie.from_pretrained("org/muskie-tiny", cache_dir=cache)
    for key, tensor in expected.state_dict().items():
        assert torch.equal(model.state_dict()[key], tensor), key
    frame_wise = MuskieBackbone.from_pretrained("org/muskie-tiny", cache_dir=cache, cross_view=False)
    assert not frame_wise.config.cross_view
    recon_cache = cache_with(tmp_path / "r", "org/recon", FOLDERS / "recon")
    assert ReconModel.from_pretrained("org/recon", cache_dir=recon_cache).metadata == {"image_size": [8, 8]}
    with pytest.raises(FileNotFoundError, match="org/absent: no such local path, and not a Hub repository"):
        Muskie.from_pretrained("org/absent", cache_dir=cache)


def test_nothing_is_downloaded_for_a_local_path_or_a_name_that_is_no_repository(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("downloaded")

    monkeypatch.setattr(hub_module, "snapshot_download", no_download)
    monkeypatch.chdir(tmp_path)
    MuskieBackbone.from_pretrained(FOLDERS / "muskie").save_pretrained(Path("org") / "name")
    assert type(MuskieBackbone.from_pretrained("org/name")) is MuskieBackbone, "a local folder shaped like an id"
    for name in ("runs/tiny/model", "missing.pth", "org/name/extra"):
        with pytest.raises(FileNotFoundError, match=f"{name}: no such checkpoint file or directory"):
            Muskie.from_pretrained(name)


def test_push_to_hub_uploads_the_saved_folder_with_its_card(tmp_path, monkeypatch):
    uploads = []

    class FakeApi:
        """huggingface_hub.HfApi at the network boundary: records what would be uploaded."""

        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

        def upload_folder(self, repo_id, folder_path, **kwargs):
            folder = Path(folder_path)
            uploads.append((repo_id, {p.name: p.read_bytes() for p in folder.iterdir()}))
            return "https://huggingface.co/commit"

    monkeypatch.setattr(huggingface_hub.hub_mixin, "HfApi", FakeApi)
    model = ReconModel.from_pretrained(FOLDERS / "recon")
    record = TrainingRecord("recon", 7, {"data": {"source": "scenes/"}}, {"loss": 0.25})
    assert model.push_to_hub("org/recon", model_card_kwargs={"training": record}) == "https://huggingface.co/commit"
    ((repo_id, files),) = uploads
    assert repo_id == "org/recon" and sorted(files) == ["README.md", "config.json", "model.safetensors"]
    assert files["config.json"] == (FOLDERS / "recon" / "config.json").read_bytes()
    assert "The muskie `recon` task, 7 optimiser steps." in files["README.md"].decode()
    assert "| loss | 0.25 |" in files["README.md"].decode()
