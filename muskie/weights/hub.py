"""Where ``from_pretrained`` finds its weights: a local path as it is, or a Hugging Face Hub repository
(``org/name``) downloaded into the Hub's cache. Nothing is downloaded for a path that exists, and only a
name shaped like a repository id is looked up; ``HF_HUB_OFFLINE=1`` (or ``local_files_only``) reads the
cache alone."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import snapshot_download

from muskie.weights.card import CARD_FILE
from muskie.weights.folder import CONFIG_FILE, WEIGHTS_FILE

# A Hub model repository id: one owner and one name (letters, digits, '-', '_', '.'), as the Hub spells them.
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")


@dataclass(frozen=True)
class HubOptions:
    """How a Hub repository is fetched (the arguments of ``huggingface_hub.snapshot_download``).

    Attributes:
        revision: a branch, tag or commit of the repository; None is ``main``.
        cache_dir: the Hub cache folder; None is huggingface_hub's default (``HF_HUB_CACHE``).
        force_download: download again even when the cache holds the files.
        token: the Hub token (None: the one ``hf auth login`` stored; False: none).
        local_files_only: read the cache only, never the network (as ``HF_HUB_OFFLINE=1`` does).
    """

    revision: str | None = None
    cache_dir: str | os.PathLike | None = None
    force_download: bool = False
    token: str | bool | None = None
    local_files_only: bool = False


def is_repo_id(name: str) -> bool:
    """Whether ``name`` has the shape of a Hub repository id, ``org/name``."""
    return _REPO_ID.fullmatch(name) is not None and ".." not in name


def resolve_pretrained(name: str | os.PathLike, options: HubOptions = HubOptions()) -> Path:
    """The local path of the weights ``name`` names: ``name`` itself when it exists, else the cached snapshot
    of the Hub repository ``name`` (its ``config.json``, ``model.safetensors`` and model card, downloaded
    unless already cached).

    Raises FileNotFoundError when ``name`` is neither an existing path nor a repository the Hub (or, offline,
    the cache) holds.
    """
    path = Path(name)
    if path.exists():
        return path
    if not isinstance(name, str) or not is_repo_id(name):
        raise FileNotFoundError(f"{name}: no such checkpoint file or directory")
    # huggingface_hub types cache_dir as str | Path: a Path of any os.PathLike
    cache_dir = None if options.cache_dir is None else Path(options.cache_dir)
    try:
        folder = snapshot_download(
            name,
            allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE],
            revision=options.revision,
            cache_dir=cache_dir,
            force_download=options.force_download,
            token=options.token,
            local_files_only=options.local_files_only,
        )
    except OSError as err:  # huggingface_hub's errors (not found, offline and not cached, HTTP) are OSErrors
        reason = " ".join(str(err).split())  # huggingface_hub's messages span lines; ours is one
        raise FileNotFoundError(
            f"{name}: no such local path, and not a Hub repository muskie could read ({type(err).__name__}: {reason})"
        ) from None
    return Path(folder)
