"""Peer pre-training recipes, for comparison with Muskie on the same data and budget (brief section 6).

All three encode each view on its own with the frame-wise twin of a Muskie preset (``encoder.py``), drop
the masked patches from the encoder (MAE-style token dropping) and reconstruct per-patch normalised pixels
of the masked patches with a light decoder (``decoders.py``):

- ``mae.py``: MAE, every view on its own, 75% masked, a frame-wise decoder;
- ``mum.py``: MuM-style, every view 75% masked, a multi-view decoder (frame and global layers);
- ``croco.py``: CroCo v2-style, pairs of views, one 90% masked, a decoder cross-attending to the other.

The training side: ``masking.py`` (uniform masks, visible-patch indices), ``objective.py`` (per-patch
normalised targets, the masked-patch loss), ``flops.py`` (analytic FLOPs per method) and ``task.py`` (the
three tasks of the training engine, chosen by ``PretrainConfig.method`` through
``muskie.pretraining.task_for``). Only the models are imported here, so loading one (``muskie.load_model``)
imports no training code. Evaluations read the encoder: a run exports it as a ``MuskieBackbone`` folder.
"""

from muskie.peers.croco import CroCoModel
from muskie.peers.encoder import DecoderConfig, PeerModel, PeerModelConfig, PeerOutput
from muskie.peers.mae import MAEModel
from muskie.peers.mum import MuMModel

__all__ = [
    "CroCoModel",
    "DecoderConfig",
    "MAEModel",
    "MuMModel",
    "PeerModel",
    "PeerModelConfig",
    "PeerOutput",
]
