"""Performance-aware channel pruning: groups of coupled channels (Torch-Pruning's dependency
graph), latency-vs-channels curves per backend, a planner under a latency budget, surgery.
Needs the ``prune`` extra (torch, torch-pruning)."""
