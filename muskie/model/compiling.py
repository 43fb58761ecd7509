"""``torch.compile`` of a model's alternating-attention blocks, in place."""

from __future__ import annotations

from typing import Any

from torch import nn

from muskie.model.layers import AlternatingAttentionBlock


def compile_blocks(model: nn.Module, **options: Any) -> int:
    """Compile every :class:`~muskie.model.layers.AlternatingAttentionBlock` inside ``model`` in place with
    ``nn.Module.compile`` (inductor, the default backend; a C++ compiler on a CPU); returns how many.

    The blocks are where the work is; the rest (patch embedding, pixel head, loss) stays eager. In place,
    so the state_dict keys, saving, loading and DistributedDataParallel are unchanged. The blocks of a model
    share one compiled graph per input shape and mode (torch passes module parameters as graph inputs); the
    first call compiles (inductor writes and builds C++ on a CPU, so it is slow); a changed shape recompiles,
    from then on with the changed sizes symbolic, so later shapes mostly reuse that graph. ``options``:
    ``torch.compile``'s (``dynamic``, ``mode`` ...).
    """
    blocks = [module for module in model.modules() if isinstance(module, AlternatingAttentionBlock)]
    for block in blocks:
        block.compile(**options)
    return len(blocks)
