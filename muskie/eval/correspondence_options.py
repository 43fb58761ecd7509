"""The names and defaults of the correspondence benchmark's options (``muskie.eval.correspondence``):
readouts, the paper benchmarks, the bins of the tables. Free of torch, so that ``muskie eval correspondence
--help`` lists them without importing the benchmark."""

# readout -> what it reads (the name is the key of the results)
READOUT_TITLES = {
    "nn": "nearest neighbour on the features of --block",
    "nn-multi": "nearest neighbour on the concatenated L2-normalised features of --layers (probe3d's multi-layer)",
    "attention": "soft-argmax of the symmetrised cross-view attention of --block",
    "attention-all": "soft-argmax of the symmetrised cross-view attention averaged over every block (the paper's)",
}
READOUTS = tuple(READOUT_TITLES)
DEFAULT_READOUTS = ("nn", "attention")
# lower bin edges (the last bin is open-ended): ground-truth displacement in px, relative rotation in degrees
DISPLACEMENT_BINS = (0.0, 4.0, 8.0, 16.0)
ROTATION_BINS = (0.0, 30.0, 60.0, 90.0, 120.0)

# benchmark -> how its samples are chosen (what a results file records)
BENCHMARKS = {
    "navi": "NAVI, the authors' selection: last 10% of each object's multiview collections (objects with a wild "
    "set), the views closest in rotation to each anchor (anchor = view 0), every 20th cluster, each view "
    "cropped to the object's box",
    "scannet": "ScanNet, the authors' selection: per scene the first window of consecutive available frames with "
    "frame-number gaps <= 35 (view 0 = the first), whole frames",
}
