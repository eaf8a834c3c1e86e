"""The errors of the pruner, under LeanconvError so callers catch one class."""

from __future__ import annotations

from leanconv.errors import LeanconvError


class PruneError(LeanconvError):
    """A model, plan or target the pruner cannot work with (an untraceable model, an unknown
    group, a channel count out of range, a latency target no plan reaches)."""


class PlanRefusedError(PruneError):
    """A pruned model that, measured end to end, is slower than the unpruned model or more than
    the allowed margin slower than its plan predicted. ``report`` names the layers responsible."""

    def __init__(self, message: str, report: dict[str, object]) -> None:
        super().__init__(message)
        self.report = report
