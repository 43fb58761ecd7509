"""Write the weights folders of this folder. Run ONCE, with the code of commit aaa6172 (before models saved
through huggingface_hub's ``PyTorchModelHubMixin``); the folders are kept so that every later version must
load them and write the same bytes again (``tests/test_hub.py``).

    PYTHONPATH=. python tests/data/folders_v2/make_folders.py
"""

from pathlib import Path

import torch

from muskie.model import Muskie, MuskieBackbone, MuskieConfig
from muskie.recon.config import ReconModelConfig
from muskie.recon.model import ReconModel

HERE = Path(__file__).resolve().parent
CONFIG = MuskieConfig(embed_dim=8, depth=2, num_heads=1, patch_size=4)


def main() -> None:
    torch.manual_seed(0)
    Muskie(CONFIG).save_pretrained(HERE / "muskie")
    MuskieBackbone(CONFIG).save_pretrained(HERE / "backbone")
    recon = ReconModel(
        MuskieBackbone(CONFIG), ReconModelConfig(new_blocks=1, head_layers=[0, 1, 2, 2], dpt_dim=8, camera_dim=8)
    )
    recon.save_pretrained(HERE / "recon", metadata={"image_size": [8, 8]})


if __name__ == "__main__":
    main()
