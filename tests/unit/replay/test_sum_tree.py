"""SumTree against a brute-force ``np.cumsum`` oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apexrl.replay import SumTree


def _check_consistent(tree: SumTree) -> None:
    """Every internal node equals exactly the sum of its two children."""
    t, size = tree._tree, tree._size
    for i in range(1, size):
        assert t[i] == t[2 * i] + t[2 * i + 1], f"node {i} inconsistent"
    assert np.all(t[size + tree.capacity:] == 0.0)


@st.composite
def _scenario(draw):
    capacity = draw(st.integers(1, 70))
    rounds = draw(st.integers(1, 5))
    updates = []
    for _ in range(rounds):
        n = draw(st.integers(0, 2 * capacity + 3))  # duplicates guaranteed when n > capacity
        idx = draw(st.lists(st.integers(0, capacity - 1), min_size=n, max_size=n))
        # quarter-integers (incl. many zeros): all partial sums are exact in float64,
        # so the tree must agree with np.cumsum bit for bit
        vals = draw(st.lists(st.sampled_from([0, 0, 0, 1, 2, 7, 100]).map(float)
                             | st.integers(0, 400).map(lambda k: k / 4),
                             min_size=n, max_size=n))
        updates.append((np.array(idx, dtype=np.int64), np.array(vals, dtype=np.float64)))
    return capacity, updates


@settings(max_examples=200, deadline=None)
@given(_scenario(), st.randoms(use_true_random=False))
def test_matches_bruteforce(scenario, rnd):
    capacity, updates = scenario
    tree = SumTree(capacity)
    leaves = np.zeros(capacity)
    for idx, vals in updates:
        tree.update(idx, vals)
        for i, v in zip(idx, vals):  # oracle: sequential assignment, last occurrence wins
            leaves[i] = v
        np.testing.assert_array_equal(tree.get(np.arange(capacity)), leaves)
        assert tree.total == leaves.sum()
        _check_consistent(tree)
    total = leaves.sum()
    if total == 0:
        with pytest.raises(ValueError, match="total is 0"):
            tree.find_prefixsum(np.array([0.0]))
        return
    cumsum = np.cumsum(leaves)
    # random targets, every boundary exactly, and the values just below the boundaries
    below = np.nextafter(total, 0)  # uniform() may return its upper bound
    targets = [min(rnd.uniform(0, total), below) for _ in range(50)]
    targets += [0.0, np.nextafter(total, 0)] + list(cumsum[cumsum < total])
    targets += [np.nextafter(c, 0) for c in cumsum if c > 0]
    targets = np.array(targets)
    got = tree.find_prefixsum(targets)
    expected = np.searchsorted(cumsum, targets, side="right")
    np.testing.assert_array_equal(got, expected)
    assert np.all(leaves[got] > 0), "returned a zero leaf"
    # out of range masses are clamped to the last / first positive leaf
    pos = np.flatnonzero(leaves > 0)
    np.testing.assert_array_equal(
        tree.find_prefixsum(np.array([total, total * 2 + 1, -3.0])), [pos[-1], pos[-1], pos[0]]
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0, 1e6, allow_subnormal=False), min_size=1, max_size=200),
    st.randoms(use_true_random=False),
)
def test_arbitrary_floats_never_zero_leaf(values, rnd):
    """With inexact sums the result must still be a positive leaf and the right one up to rounding."""
    leaves = np.array(values)
    leaves[::3] = 0.0  # zeros interleaved, and possibly trailing
    tree = SumTree(len(leaves))
    tree.update(np.arange(len(leaves)), leaves)
    _check_consistent(tree)
    if tree.total == 0:
        return
    total = tree.total
    targets = np.array([rnd.uniform(0, total) for _ in range(100)] + [np.nextafter(total, 0), total])
    got = tree.find_prefixsum(targets)
    assert np.all(leaves[got] > 0)
    cumsum = np.cumsum(leaves)
    tol = 1e-9 * total
    before = np.where(got > 0, cumsum[np.maximum(got - 1, 0)], 0.0)
    assert np.all(before <= targets + tol)
    assert np.all((cumsum[got] > targets - tol) | (got == np.flatnonzero(leaves > 0)[-1]))


def test_rounding_guard_trailing_zeros():
    # 0.1 + 0.2 > 0.3 in float64: a target equal to the total must not walk into the zeros
    tree = SumTree(8)
    tree.update(np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]))
    got = tree.find_prefixsum(np.array([tree.total, np.nextafter(tree.total, 0), 0.6]))
    np.testing.assert_array_equal(got, [2, 2, 2])


def test_hand_example_duplicates_last_wins():
    tree = SumTree(5)  # internal size 8
    assert tree._size == 8
    tree.update(np.array([0, 3, 3, 4, 0]), np.array([9.0, 2.0, 5.0, 0.5, 1.0]))
    np.testing.assert_array_equal(tree.get(np.arange(5)), [1.0, 0.0, 0.0, 5.0, 0.5])
    assert tree.total == 6.5
    # cumsum = [1, 1, 1, 6, 6.5]
    np.testing.assert_array_equal(
        tree.find_prefixsum(np.array([0.0, 0.999, 1.0, 5.99, 6.0, 6.4])), [0, 0, 3, 3, 4, 4]
    )
    tree.update(np.array([3]), np.array([0.0]))  # zero a leaf: its mass disappears
    assert tree.total == 1.5
    np.testing.assert_array_equal(tree.find_prefixsum(np.array([0.5, 1.0, 1.49])), [0, 4, 4])
    assert tree.nbytes == 16 * 8


def test_capacity_one():
    tree = SumTree(1)
    tree.update(np.array([0, 0]), np.array([3.0, 2.0]))
    assert tree.total == 2.0
    np.testing.assert_array_equal(tree.find_prefixsum(np.array([0.0, 1.9])), [0, 0])


@pytest.mark.parametrize("cap", [0, -1, 2.5, True, "3"])
def test_bad_capacity(cap):
    with pytest.raises(ValueError, match="capacity"):
        SumTree(cap)


def test_bad_updates_leave_tree_unchanged():
    tree = SumTree(4)
    tree.update(np.array([1]), np.array([2.0]))
    before = tree._tree.copy()
    with pytest.raises(ValueError, match="indices"):
        tree.update(np.array([4]), np.array([1.0]))
    with pytest.raises(ValueError, match="indices"):
        tree.update(np.array([-1]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        tree.update(np.array([0]), np.array([np.nan]))
    with pytest.raises(ValueError, match=">= 0"):
        tree.update(np.array([0, 2]), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="finite"):
        tree.find_prefixsum(np.array([np.inf]))
    np.testing.assert_array_equal(tree._tree, before)
