"""Memory the attention readouts hold: every block's full cross-view map against view 0's part alone (issue 16).

    .venv/bin/python benchmarks/attention_capture_memory.py [--presets base large] [--views 8] [--size 512 512]

Computed, not measured: the model runs on the meta device (shapes only: no weights, nothing computed, so the
paper's sizes cost nothing), and the script adds up the bytes of the distinct tensors the forward pass
returns, float32, registers included (the returned maps are views of one ``(B, V, T, V, T)`` or
``(B, 2, T, V, T)`` tensor per block, ``T`` = registers + patches). ``full``: ``attention_blocks`` over every
block without a source view (what ``attention-all`` held before ``source_view``); ``view 0``:
``source_view=0``, what it holds now. While one block's map is computed: ``all heads' scores``, every head's
full ``S x S`` score matrix, what the explicit softmax before the chunked computation held (twice: scores and
probabilities), against ``scores at once``, the most the chunked computation holds
(:data:`muskie.model.layers.attention_maps.CHUNK_ELEMENTS` scores).
"""

from __future__ import annotations

import argparse

import torch

from muskie.model import create_model
from muskie.model.layers import attention_maps


def held_bytes(tensors: list[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views of one tensor count once)."""
    storages = {id(t.untyped_storage()): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def capture_sizes(preset: str, views: int, height: int, width: int) -> dict:
    with torch.device("meta"), torch.no_grad():
        model = create_model(preset).eval()
        images = torch.empty(1, views, 3, height, width)
        blocks = range(model.config.depth)
        full = model(images, attention_blocks=blocks).attention
        part = model(images, attention_blocks=blocks, source_view=0).source_attention
    config = model.config
    tokens = views * (config.num_registers + (height // config.patch_size) * (width // config.patch_size))
    return {
        "preset": preset,
        "blocks": config.depth,
        "tokens": tokens,
        "full_mib": held_bytes(list(full.values())) / 2**20,
        "view0_mib": held_bytes([t for a in part.values() for t in (a.outgoing, a.incoming)]) / 2**20,
        "all_heads_scores_mib": config.num_heads * tokens**2 * 4 / 2**20,
        "chunk_mib": attention_maps.CHUNK_ELEMENTS * 4 / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["base", "large"])
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--size", type=int, nargs=2, default=[512, 512], metavar=("H", "W"))
    args = parser.parse_args()
    height, width = args.size
    print(f"{args.views} views of {height}x{width}, float32, every block's global attention")
    print("preset  blocks  tokens S  full MiB  view 0 MiB  ratio  all heads' scores MiB  scores at once MiB")
    for preset in args.presets:
        row = capture_sizes(preset, args.views, height, width)
        print(
            f"{row['preset']:<7} {row['blocks']:>6} {row['tokens']:>9} {row['full_mib']:>9.1f} "
            f"{row['view0_mib']:>11.1f} {row['full_mib'] / row['view0_mib']:>6.2f} "
            f"{row['all_heads_scores_mib']:>22.1f} {row['chunk_mib']:>19.1f}"
        )


if __name__ == "__main__":
    main()
