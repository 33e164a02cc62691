"""PrioritizedReplay: sampling distribution, IS weights, FIFO, stale keys, validation."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay import ArrayStorage, PrioritizedReplay
from apexrl.types import Transitions


def _items(values) -> Transitions:
    """Items whose obs/next_obs/action encode ``values`` (so the data identifies the item)."""
    v = np.asarray(values, dtype=np.float32)
    n = v.shape[0]
    return Transitions(
        obs=v[:, None].repeat(2, axis=1),
        action=v.astype(np.int64),
        reward=v * 10,
        discount=np.full(n, 0.5, np.float32),
        next_obs=(v[:, None] + 0.5).repeat(2, axis=1),
    )


def _replay(capacity=8, **kw) -> PrioritizedReplay:
    return PrioritizedReplay(ArrayStorage(capacity, (2,), np.float32), **kw)


def _snapshot(rb: PrioritizedReplay):
    s = rb.storage
    return (len(rb), rb.num_added, rb.max_priority, rb.sum_tree._tree.copy(),
            s.obs.copy(), s.next_obs.copy(), s.action.copy(), s.reward.copy(), s.discount.copy())


def _assert_same(a, b):
    assert a[:3] == b[:3]
    for x, y in zip(a[3:], b[3:]):
        np.testing.assert_array_equal(x, y)


def test_sampling_frequencies_match_P():
    prios = np.array([0.5, 1.0, 2.0, 3.0, 0.0, 4.0])
    rb = _replay(8, priority_exponent=0.6, priority_epsilon=0.0, seed=123)
    keys = rb.add(_items(np.arange(6)), prios)
    np.testing.assert_array_equal(keys, np.arange(6))
    expected_p = prios**0.6 / np.sum(prios**0.6)
    counts = np.zeros(6)
    n_batches, bs = 400, 256
    for _ in range(n_batches):
        b = rb.sample(bs)
        # the data is that of the sampled key
        np.testing.assert_array_equal(b.data.obs[:, 0], b.keys.astype(np.float32))
        np.testing.assert_array_equal(b.data.action, b.keys)
        counts += np.bincount(b.keys, minlength=6)
    total = n_batches * bs
    assert counts[4] == 0, "zero-priority item sampled"
    freq = counts / total
    np.testing.assert_allclose(freq, expected_p, atol=4e-3)
    # chi-square over the 5 items with positive probability (df = 4); 18.47 is the 0.999 quantile
    m = expected_p > 0
    chi2 = np.sum((counts[m] - total * expected_p[m]) ** 2 / (total * expected_p[m]))
    assert chi2 < 18.47, chi2


def test_stratified_sampling_covers_every_segment():
    # with equal priorities, stratified sampling of B = N items hits each item exactly once
    rb = _replay(16, seed=0)
    rb.add(_items(np.arange(16)), np.ones(16))
    for _ in range(20):
        np.testing.assert_array_equal(np.sort(rb.sample(16).keys), np.arange(16))


def test_is_weights_closed_form():
    # p = [1, 3, 0.5], α = 0.5, ε = 0, β = 0.4, N = 3:
    #   P = [1, √3, √.5] / (1 + √3 + √.5) = [0.29076888, 0.50362647, 0.20560465]
    #   w = (3P)^-0.4 = [1.05616636, 0.84782863, 1.21321655]; max (item 2) = 1.21321655
    #   w / max = (P / P_2)^-0.4 = [(√2)^-0.4, (√6)^-0.4, 1] = [2^-0.2, 6^-0.2, 1]
    rb = _replay(4, priority_exponent=0.5, importance_sampling_exponent=0.4,
                 priority_epsilon=0.0, seed=1)
    rb.add(_items([0, 1, 2]), np.array([1.0, 3.0, 0.5]))
    b = rb.sample(64)
    assert set(b.keys.tolist()) == {0, 1, 2}
    expected = {0: 0.87055056, 1: 0.69882712, 2: 1.0}
    np.testing.assert_allclose([2**-0.2, 6**-0.2], [expected[0], expected[1]], rtol=1e-7)
    assert b.weights.dtype == np.float32
    np.testing.assert_allclose(b.weights, [expected[k] for k in b.keys], rtol=1e-6)
    # β annealing: β = 1 gives (P / P_min)^-1
    rb.importance_sampling_exponent = 1.0
    b = rb.sample(64)
    np.testing.assert_allclose(b.weights, (np.sqrt([1.0, 3.0, 0.5]) / np.sqrt(0.5))[b.keys] ** -1.0,
                               rtol=1e-6)
    rb.importance_sampling_exponent = 0.0
    np.testing.assert_array_equal(rb.sample(8).weights, np.ones(8, np.float32))


def test_weights_use_batch_max_only():
    # a batch with a single distinct item has weight exactly 1
    rb = _replay(4, priority_epsilon=0.0, seed=0)
    rb.add(_items([0, 1]), np.array([0.0, 2.0]))
    b = rb.sample(10)
    np.testing.assert_array_equal(b.keys, np.ones(10))
    np.testing.assert_array_equal(b.weights, np.ones(10, np.float32))


def test_fifo_overwrite_and_stale_keys():
    rb = _replay(4, priority_exponent=1.0, priority_epsilon=0.0, seed=0)
    np.testing.assert_array_equal(rb.add(_items([0, 1, 2]), np.ones(3)), [0, 1, 2])
    np.testing.assert_array_equal(rb.add(_items([3, 4, 5]), np.ones(3) * 2), [3, 4, 5])
    assert len(rb) == 4 and rb.capacity == 4 and rb.num_added == 6
    # slots 0, 1 now hold keys 4, 5; keys 0, 1 are gone
    np.testing.assert_array_equal(rb.storage.obs[:, 0], [4, 5, 2, 3])
    np.testing.assert_array_equal(rb.sum_tree.get(np.arange(4)), [2.0, 2.0, 1.0, 2.0])
    seen = set()
    for _ in range(50):
        b = rb.sample(8)
        np.testing.assert_array_equal(b.data.obs[:, 0], b.keys)
        seen |= set(b.keys.tolist())
    assert seen == {2, 3, 4, 5}
    # stale keys 0 and 1 (same slots as 4 and 5) and never-issued keys are ignored
    before = rb.sum_tree._tree.copy()
    rb.update_priorities(np.array([0, 1, 6, 100, -1]), np.array([50.0, 60.0, 1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(rb.sum_tree._tree, before)
    assert rb.max_priority == 2.0
    # live keys are updated; duplicate keys: last wins
    rb.update_priorities(np.array([5, 2, 5]), np.array([7.0, 3.0, 9.0]))
    np.testing.assert_array_equal(rb.sum_tree.get(np.arange(4)), [2.0, 9.0, 3.0, 2.0])
    assert rb.sum_tree.total == 16.0
    assert rb.max_priority == 9.0


def test_add_more_than_capacity_at_once():
    rb = _replay(4, seed=0)
    rb.add(_items([0]), np.ones(1))
    keys = rb.add(_items(np.arange(1, 7)), np.arange(1, 7, dtype=float))
    np.testing.assert_array_equal(keys, [-1, -1, 3, 4, 5, 6])
    assert len(rb) == 4 and rb.num_added == 7
    np.testing.assert_array_equal(rb.storage.obs[:, 0], [4, 5, 6, 3])
    for _ in range(10):
        b = rb.sample(8)
        np.testing.assert_array_equal(b.data.obs[:, 0], b.keys)
        assert set(b.keys.tolist()) <= {3, 4, 5, 6}


def test_max_priority_for_items_without_priorities():
    rb = _replay(8, priority_exponent=0.5, priority_epsilon=0.0)
    assert rb.max_priority == 1.0
    rb.add(_items([0]))
    np.testing.assert_allclose(rb.sum_tree.get([0]), [1.0])
    rb.add(_items([1]), np.array([0.25]))
    assert rb.max_priority == 1.0  # running max starting at 1.0
    rb.add(_items([2]), np.array([16.0]))
    rb.add(_items([3, 4]))
    np.testing.assert_allclose(rb.sum_tree.get(np.arange(5)), [1.0, 0.5, 4.0, 4.0, 4.0])
    rb.update_priorities(np.array([0]), np.array([36.0]))
    assert rb.max_priority == 36.0
    rb.add(_items([5]))
    np.testing.assert_allclose(rb.sum_tree.get([0, 5]), [6.0, 6.0])


def test_epsilon_and_exponent_in_leaves():
    rb = _replay(4, priority_exponent=0.6, priority_epsilon=0.01)
    rb.add(_items([0, 1]), np.array([0.0, 2.0]))
    np.testing.assert_allclose(rb.sum_tree.get([0, 1]), [0.01**0.6, 2.01**0.6], rtol=1e-12)


@pytest.mark.parametrize(
    "prios, match",
    [
        (np.array([1.0, np.nan, 1.0]), "finite"),
        (np.array([1.0, np.inf, 1.0]), "finite"),
        (np.array([1.0, -0.5, 1.0]), ">= 0"),
        (np.array([1.0, 1.0]), r"shape \(3,\)"),
        (np.ones((3, 1)), r"shape \(3,\)"),
    ],
)
def test_bad_priorities_leave_replay_unchanged(prios, match):
    rb = _replay(4, seed=0)
    rb.add(_items([0, 1]), np.array([1.0, 2.0]))
    before = _snapshot(rb)
    with pytest.raises(ValueError, match=match):
        rb.add(_items([7, 8, 9]), prios)
    _assert_same(_snapshot(rb), before)
    # update_priorities: nothing updated, not even the valid entries
    with pytest.raises(ValueError, match=match):
        rb.update_priorities(np.array([0, 1, 1]), prios)
    _assert_same(_snapshot(rb), before)


def test_storage_shape_errors_write_nothing():
    rb = _replay(4)
    rb.add(_items([0]), np.ones(1))
    before = _snapshot(rb)
    bad = _items([1, 2])._replace(obs=np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="obs"):
        rb.add(bad, np.ones(2))
    _assert_same(_snapshot(rb), before)


def test_empty_and_zero_mass_sampling_raises():
    rb = _replay(4, priority_epsilon=0.0)
    with pytest.raises(ValueError, match="empty"):
        rb.sample(2)
    rb.add(_items([0, 1]), np.zeros(2))
    with pytest.raises(ValueError, match="priority 0"):
        rb.sample(2)
    with pytest.raises(ValueError, match="batch_size"):
        rb.sample(0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"priority_exponent": -0.1}, "priority_exponent"),
        ({"priority_exponent": float("nan")}, "priority_exponent"),
        ({"importance_sampling_exponent": -1}, "importance_sampling_exponent"),
        ({"priority_epsilon": -1e-3}, "priority_epsilon"),
        ({"priority_epsilon": float("inf")}, "priority_epsilon"),
    ],
)
def test_bad_constructor_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _replay(4, **kwargs)


def test_bad_storage_and_beta_setter():
    with pytest.raises(ValueError, match="storage"):
        PrioritizedReplay(object())
    rb = _replay(4)
    with pytest.raises(ValueError, match="importance_sampling_exponent"):
        rb.importance_sampling_exponent = -0.5
    assert rb.importance_sampling_exponent == 0.4


class _FlakyStorage(ArrayStorage):
    """ArrayStorage whose slots in ``bad`` report invalid (like evicted pixel frames)."""

    bad: set[int] = set()

    def valid(self, slots):
        return ~np.isin(slots, list(self.bad))


def test_invalid_slots_are_zeroed_and_redrawn():
    storage = _FlakyStorage(8, (2,), np.float32)
    rb = PrioritizedReplay(storage, priority_exponent=1.0, priority_epsilon=0.0, seed=3)
    rb.add(_items(np.arange(8)), np.arange(1, 9, dtype=float))
    storage.bad = {1, 5, 7}
    for _ in range(30):
        b = rb.sample(32)
        assert not set(b.keys.tolist()) & storage.bad
        np.testing.assert_array_equal(b.data.obs[:, 0], b.keys)
        assert b.keys.shape == (32,)
    np.testing.assert_array_equal(rb.sum_tree.get([1, 5, 7]), [0.0, 0.0, 0.0])
    assert rb.sum_tree.total == 1 + 3 + 4 + 5 + 7
    # updating an invalid slot keeps it at 0
    rb.update_priorities(np.array([5, 2]), np.array([10.0, 10.0]))
    np.testing.assert_array_equal(rb.sum_tree.get([2, 5]), [10.0, 0.0])
    storage.bad = set(range(8))
    with pytest.raises(ValueError, match="no valid item"):
        rb.sample(4)


def test_seeded_sampling_is_reproducible_and_nbytes():
    out = []
    for _ in range(2):
        rb = _replay(64, seed=42)
        rb.add(_items(np.arange(50)), np.linspace(0.1, 5, 50))
        out.append(np.concatenate([rb.sample(32).keys for _ in range(5)]))
    np.testing.assert_array_equal(out[0], out[1])
    assert rb.nbytes == rb.storage.nbytes + rb.sum_tree.nbytes
    # ArrayStorage(64, (2,), float32): obs+next_obs 2*64*2*4, action 64*8, reward+discount 2*64*4
    assert rb.storage.nbytes == 1024 + 512 + 512
    assert rb.sum_tree.nbytes == 2 * 64 * 8


@pytest.mark.parametrize("added", [5, 8, 21])  # partly filled, exactly full, wrapped
def test_state_dict_round_trip_is_exact(added):
    a = _replay(capacity=8, seed=7)
    rng = np.random.default_rng(0)
    a.add(_items(np.arange(added)), rng.random(added) * 3)
    s = a.sample(4)
    a.update_priorities(s.keys, rng.random(4) * 5)
    arrays, meta = a.state_dict()
    assert arrays["storage.action"].shape == (min(added, 8),)
    b = _replay(capacity=8, seed=123)  # another seed: the RNG state is restored too
    b.load_state_dict({k: np.array(v) for k, v in arrays.items()}, meta)
    _assert_same(_snapshot(a), _snapshot(b))
    for _ in range(3):
        sa, sb = a.sample(6), b.sample(6)
        np.testing.assert_array_equal(sa.keys, sb.keys)
        np.testing.assert_array_equal(sa.weights, sb.weights)
        np.testing.assert_array_equal(sa.data.obs, sb.data.obs)


def test_load_state_dict_checks_before_changing_anything():
    a = _replay(capacity=8, seed=7)
    a.add(_items(np.arange(6)), np.ones(6))
    arrays, meta = a.state_dict()
    other = _replay(capacity=16)
    with pytest.raises(ValueError, match="--replay-capacity"):
        other.load_state_dict(arrays, meta)
    b = _replay(capacity=8)
    b.add(_items([42.0]), np.ones(1))
    before = _snapshot(b)
    bad = dict(arrays, priority_leaves=np.full(6, np.nan))
    with pytest.raises(ValueError, match="priority_leaves"):
        b.load_state_dict(bad, meta)
    short = dict(arrays, **{"storage.obs": arrays["storage.obs"][:3]})
    with pytest.raises(ValueError, match="obs"):
        b.load_state_dict(short, meta)
    wrong_dtype = dict(arrays, **{"storage.obs": arrays["storage.obs"].astype(np.float64)})
    with pytest.raises(ValueError, match="obs"):
        b.load_state_dict(wrong_dtype, meta)
    _assert_same(before, _snapshot(b))
