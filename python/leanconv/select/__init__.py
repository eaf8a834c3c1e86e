"""Primitive selection: the cost model (:mod:`~leanconv.select.problem`), the ILP
(:mod:`~leanconv.select.ilp`), and their use on a Graph with measured costs."""
