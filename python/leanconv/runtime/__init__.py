"""Running a Graph. :mod:`leanconv.runtime.reference` executes one layer by layer with each
op's reference function (torch functional ops, float32 or float64): the semantics that
importers and leanconv's kernels are checked against."""
