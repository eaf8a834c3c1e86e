"""Performance-aware channel pruning: groups of coupled channels (Torch-Pruning's dependency
graph), latency-vs-channels curves per backend, a planner under a latency or MAC budget,
surgery, and end-to-end verification. Needs the ``prune`` extra (torch, torch-pruning).

    plan = leanconv.prune.plan(model, example, "0.7x", backend="torch")
    pruned = leanconv.prune.apply(model, example, plan)
    leanconv.prune.verify(model, pruned, example, plan)  # PlanRefusedError if it did not pay off
"""

from leanconv.prune.api import PrunePlan, Verification, analyze, apply, plan, plan_analysis, verify
from leanconv.prune.errors import PlanRefusedError, PruneError
from leanconv.prune.surgery import fine_tune

__all__ = ["PrunePlan", "Verification", "analyze", "apply", "plan", "plan_analysis", "verify",
           "PlanRefusedError", "PruneError", "fine_tune"]
