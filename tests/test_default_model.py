"""The default model's training is deterministic given the seed, and its split is fixed."""

from __future__ import annotations

import numpy as np
import torch

from leanconv.models.default_net import DigitSplit, load_digits_split, train


def small_split(seed: int) -> DigitSplit:
    s = load_digits_split(seed)
    return DigitSplit(s.x_train[:256], s.y_train[:256], s.x_test[:100], s.y_test[:100])


def test_training_is_deterministic_given_the_seed() -> None:
    split = small_split(0)
    (a, acc_a), (b, acc_b) = train(seed=0, epochs=1, split=split), train(seed=0, epochs=1, split=split)
    assert acc_a == acc_b
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    c, _ = train(seed=1, epochs=1, split=split)
    assert not torch.equal(a.state_dict()["stem.0.weight"], c.state_dict()["stem.0.weight"])


def test_split_is_balanced_disjoint_and_seeded() -> None:
    s = load_digits_split(0)
    assert len(s.y_train) == 4000 and len(s.y_test) == 1000
    assert np.all(np.bincount(s.y_test) == 100)
    train_rows = {row.tobytes() for row in s.x_train}
    assert sum(row.tobytes() in train_rows for row in s.x_test) <= 5  # MNIST has a few duplicate digits
    again = load_digits_split(0)
    assert np.array_equal(s.y_train, again.y_train) and np.array_equal(s.x_test, again.x_test)
