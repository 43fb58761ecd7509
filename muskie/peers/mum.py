"""MuM-style multi-view MAE (arXiv 2511.17309): every view masked uniformly (75% of its patches dropped) and
encoded on its own by a frame-wise encoder; a light multi-view decoder of alternating frame and global
layers reconstructs each view's masked patches (per-patch normalised) from what all views of the scene
kept. Only the decoder attends across views; the encoder's features stay frame-wise."""

from __future__ import annotations

from muskie.peers.mae import MAEModel


class MuMModel(MAEModel):
    """:class:`MAEModel` whose decoder blocks' second layer attends over the tokens of all views of the scene."""

    multi_view_decoder = True
