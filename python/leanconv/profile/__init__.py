"""Measurements of every kernel a Graph's plan can use, and the cost database that keeps them."""

from leanconv.profile.db import CostDB, Key, Record, fingerprint
from leanconv.profile.profiler import profile, reference_plan

__all__ = ["CostDB", "Key", "Record", "fingerprint", "profile", "reference_plan"]
