"""The planner: optimal against brute force on small random instances; the baselines."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from leanconv.models.default_net import load_default
from leanconv.prune.curves import Curve
from leanconv.prune.errors import PruneError
from leanconv.prune.groups import find_groups
from leanconv.prune.planner import Option, fast_end_counts, retained, solve, uniform_counts

option = st.builds(Option, count=st.integers(1, 64), latency=st.floats(0.1, 10), macs=st.floats(1, 1e6),
                   importance=st.floats(0, 100))
instances = st.dictionaries(st.sampled_from("abcd"), st.lists(option, min_size=1, max_size=4, unique_by=lambda o: o.count),
                            min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(options=instances, slack=st.floats(0, 1), resource=st.sampled_from(["latency", "macs"]))
def test_plan_is_optimal_against_brute_force(options: dict[str, list[Option]], slack: float, resource: str) -> None:
    names = list(options)
    lo = sum(min(o.cost(resource) for o in options[n]) for n in names)  # type: ignore[arg-type]
    hi = sum(max(o.cost(resource) for o in options[n]) for n in names)  # type: ignore[arg-type]
    budget = lo + slack * (hi - lo)
    best = max(sum(o.importance for o in combo) for combo in itertools.product(*options.values())
               if sum(o.cost(resource) for o in combo) <= budget)  # type: ignore[arg-type]
    counts = solve(options, budget, resource)  # type: ignore[arg-type]
    chosen = [next(o for o in options[n] if o.count == counts[n]) for n in names]
    assert sum(o.cost(resource) for o in chosen) <= budget * (1 + 1e-9)  # type: ignore[arg-type]
    assert sum(o.importance for o in chosen) == pytest.approx(best, rel=1e-6, abs=1e-6)


def test_a_budget_below_the_cheapest_plan_is_refused() -> None:
    options = {"a": [Option(4, 1.0, 10, 1), Option(8, 2.0, 20, 2)], "b": [Option(2, 0.5, 5, 1)]}
    assert solve(options, 2.5) == {"a": 8, "b": 2}
    assert solve(options, 2.4) == {"a": 4, "b": 2}
    with pytest.raises(PruneError, match="cheapest plan needs 1.5"):
        solve(options, 1.4)
    with pytest.raises(PruneError, match="at least one option"):
        solve({"a": []}, 1.0)


def test_retained_importance_keeps_the_top_scores() -> None:
    assert retained(np.array([1.0, 5.0, 3.0]), 2) == 8.0
    assert retained(np.array([1.0, 5.0, 3.0]), 3) == 9.0


def test_uniform_baselines() -> None:
    model, x = load_default(), torch.zeros(1, 1, 28, 28)
    groups = find_groups(model, x)
    plain = uniform_counts(model, x, groups, 0.25)
    assert plain == {g.name: g.channels * 3 // 4 for g in groups}
    rounded = uniform_counts(model, x, groups, 0.12, round_to=8)
    assert all(c % 8 == 0 and c < g.channels for g, c in zip(groups, rounded.values()))
    curves = {"stem.0": Curve("stem.0", 16, {4: 1.0, 8: 1.0, 12: 2.0, 16: 2.0}, [(8, 12)])}
    assert fast_end_counts(curves, {"stem.0": 6}) == {"stem.0": 8}
    assert fast_end_counts(curves, {"stem.0": 13}) == {"stem.0": 16}
    with pytest.raises(PruneError, match="ratio"):
        uniform_counts(model, x, groups, 1.0)
