"""The model card (``README.md``) of a weights folder: what the model is, how to load it, how it was
trained, its licence and the paper to cite. The Hugging Face Hub shows it as the repository's page; its
YAML front matter is the Hub's metadata (library, licence, tags)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CARD_FILE = "README.md"
LIBRARY_NAME = "muskie"
LICENSE = "mit"
PAPER_URL = "https://arxiv.org/abs/2511.18115"
TAGS = ["muskie", "multi-view", "masked-image-modeling", "3d-vision", "vision-transformer", "pytorch_model_hub_mixin"]
# The paper as CITATION.cff's preferred-citation names it (tests/test_hub.py keeps the two equal).
CITATION = """@article{li2025muskie,
  title   = {Muskie: Multi-view Masked Image Modeling for 3D Vision Pre-training},
  author  = {Li, Wenyu and Liu, Sidun and Qiao, Peng and Dou, Yong and Hu, Tongrui},
  journal = {arXiv preprint arXiv:2511.18115},
  year    = {2025}
}"""


@dataclass
class TrainingRecord:
    """How a model was trained, as the training engine knows it when it exports the finished model.

    Attributes:
        task: the engine's task name (``"pretrain"``, ``"recon"``).
        steps: optimiser steps the model was trained for.
        config: the run's resolved config (what the run folder's ``config.yaml`` holds); its ``data``
            entry says what the model was trained on.
        metrics: the run's last known metrics, e.g. ``{"loss": 0.41, "best_val_loss": 0.39}``.
    """

    task: str
    steps: int
    config: dict
    metrics: dict[str, float] = field(default_factory=dict)


def model_card(model_class: str, module: str, model_config: dict, training: TrainingRecord | None = None) -> str:
    """The card of a ``model_class`` (importable from ``module``) with ``model_config``, in Markdown.

    ``training``: how it was trained; None for a model saved outside a training run (the card says so).
    """
    front = yaml.safe_dump({"library_name": LIBRARY_NAME, "license": LICENSE, "tags": TAGS}, sort_keys=False)
    sections = [
        f"---\n{front}---\n",
        f"# {model_class}\n\nA `{model_class}` of muskie, the PyTorch implementation of "
        f"*Muskie: Multi-view Masked Image Modeling for 3D Vision Pre-training* ([arXiv 2511.18115]({PAPER_URL})).\n",
        "## Use\n\n```python\n"
        f"from {module} import {model_class}\n\n"
        f'model = {model_class}.from_pretrained("<this folder, or the Hub repository org/name>")\n```\n',
        "## Config\n\n```json\n" + json.dumps(model_config, indent=2) + "\n```\n",
        _training_section(training),
        "## Licence\n\nmuskie, the code that defines and trains this model, is under the MIT licence.\n",
        f"## Citation\n\n```bibtex\n{CITATION}\n```\n",
    ]
    return "\n".join(sections)


def _training_section(training: TrainingRecord | None) -> str:
    if training is None:
        return "## Training\n\nNot recorded: this model was saved outside a muskie training run.\n"
    lines = [f"## Training\n\nThe muskie `{training.task}` task, {training.steps} optimiser steps.\n"]
    data = training.config.get("data")
    if data is not None:
        lines.append("Data:\n\n```yaml\n" + yaml.safe_dump(data, sort_keys=False) + "```\n")
    if training.metrics:
        rows = "\n".join(f"| {name} | {value:.6g} |" for name, value in training.metrics.items())
        lines.append(f"Metrics at the end of the run:\n\n| metric | value |\n|---|---|\n{rows}\n")
    lines.append(
        "<details><summary>The run's config</summary>\n\n```yaml\n"
        + yaml.safe_dump(training.config, sort_keys=False)
        + "```\n</details>\n"
    )
    return "\n".join(lines)


def write_card(directory: str | os.PathLike, text: str) -> Path:
    """Write ``directory/README.md`` (under a temporary name, then renamed); returns its path."""
    path = Path(directory) / CARD_FILE
    temporary = path.with_name(CARD_FILE + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    return path
