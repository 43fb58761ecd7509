"""The one size check of HDF5 arrays (MegaDepth and HyperSim depth, HyperSim cameras) before they are read.

h5py allocates what a dataset's shape claims before it reads a byte, so a crafted file of a few kilobytes could
claim terabytes. A stored array cannot hold more bytes than the file; a compressed one no more than
:data:`MAX_COMPRESSION_RATIO` times the file (deflate, HDF5's usual filter, cannot compress more than about
1032 to 1; a chunked dataset whose chunks were never written reads as its fill value and is bounded the same).
"""

from __future__ import annotations

from pathlib import Path

MAX_COMPRESSION_RATIO = 1032


def hdf5_array_fits(dataset, path: Path) -> bool:
    """The h5py ``dataset`` of the file ``path`` claims no more bytes than the file can hold (see the module
    docstring); the caller raises its error naming the file when it does not."""
    claimed = dataset.size * dataset.dtype.itemsize
    stored = Path(path).stat().st_size
    return claimed <= (
        stored if dataset.compression is None and dataset.chunks is None else MAX_COMPRESSION_RATIO * stored
    )
