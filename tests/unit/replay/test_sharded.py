"""Sharded replay samples exactly as one replay holding all items."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay import ArrayStorage, PrioritizedReplay
from apexrl.replay.sharded import ShardedReplay, shard_counts, split_keys
from apexrl.types import Transitions

ALPHA, BETA, EPS = 0.6, 0.4, 1e-6


def _items(values):
    v = np.asarray(values, dtype=np.float32)
    return Transitions(obs=v[:, None], action=v.astype(np.int64), reward=v, discount=np.ones_like(v),
                       next_obs=v[:, None])


def _replay(capacity):
    return PrioritizedReplay(ArrayStorage(capacity, (1,), np.float32), ALPHA, BETA, EPS, seed=capacity)


def _filled(num_shards, sizes, seed=0):
    rng = np.random.default_rng(seed)
    sharded = ShardedReplay([_replay(64) for _ in range(num_shards)], seed=seed)
    single = _replay(64 * num_shards)
    value, priority = {}, {}
    next_value = 0
    for size in sizes:  # uneven messages, round-robin over shards
        vals = np.arange(next_value, next_value + size)
        next_value += size
        prios = rng.exponential(2.0, size)
        keys = sharded.add(_items(vals), prios)
        single.add(_items(vals), prios)
        for k, v, p in zip(keys, vals, prios):
            value[int(k)], priority[int(v)] = int(v), float(p)
    return sharded, single, value, priority


def test_sampling_distribution_equals_one_replay():
    sharded, single, value, priority = _filled(3, [7, 30, 2, 19, 11, 25, 4])
    assert len(sharded) == len(single) == 98
    values = np.array(sorted(priority))
    exact = np.array([(priority[v] + EPS) ** ALPHA for v in values])
    exact /= exact.sum()
    counts = np.zeros(len(values))
    draws = 0
    for _ in range(300):
        batch = sharded.sample(256)
        got = batch.data.action
        np.testing.assert_array_equal(got, [value[int(k)] for k in batch.keys])  # keys find their items
        counts += np.bincount(got, minlength=len(values))
        draws += 256
        # weights: the single replay's formula over this batch
        p = np.array([(priority[int(v)] + EPS) ** ALPHA for v in got])
        expected = (p.min() / p) ** BETA
        np.testing.assert_allclose(batch.weights, expected, rtol=1e-5)
    freq = counts / draws
    # every item within 5 standard errors of its exact probability P(i) = p_i^α / Σ p^α
    se = np.sqrt(exact * (1 - exact) / draws)
    assert np.all(np.abs(freq - exact) < 5 * se + 1e-4), np.max(np.abs(freq - exact) / se)
    # and the single replay's own empirical distribution agrees with the same oracle
    single_counts = np.zeros(len(values))
    for _ in range(300):
        single_counts += np.bincount(single.sample(256).data.action, minlength=len(values))
    assert np.all(np.abs(single_counts / draws - exact) < 5 * se + 1e-4)


def test_update_priorities_reaches_the_right_shard():
    sharded, _, value, _ = _filled(2, [5, 5, 5])
    batch = sharded.sample(8)
    sharded.update_priorities(batch.keys, np.full(8, 100.0))
    for k in batch.keys:
        shard, local = int(k) % 2, int(k) // 2
        assert sharded.shards[shard].sum_tree.get(np.array([local % 64]))[0] == pytest.approx((100 + EPS) ** ALPHA)
    assert [j for j, _ in split_keys(np.array([4, 6, 3]), 2)] == [0, 1]


def test_shard_counts_follow_masses_and_refuse_empty():
    rng = np.random.default_rng(0)
    counts = sum(shard_counts([1.0, 3.0, 0.0], 1000, rng) for _ in range(50))
    assert counts[2] == 0 and counts.sum() == 50_000
    assert counts[1] / counts.sum() == pytest.approx(0.75, abs=0.01)
    with pytest.raises(ValueError, match="every replay shard"):
        shard_counts([0.0, 0.0], 4, rng)


def test_the_ray_view_keeps_the_newest_shard_status_and_every_receipt():
    """A prefetched sample's reply (an older status) can arrive after a later drain's: sizes and
    masses stay those of the newest status, the receipts of both are kept (no Ray cluster needed)."""
    pytest.importorskip("ray", reason="the ray extra is part of the test install")
    from apexrl.backends.ray_stores import RayShardedReplay

    view = RayShardedReplay([object(), object()], seed=0)
    view._absorb(0, (120, 7.5, ["drained"], 2))  # the drain, answered second by the shard
    view._absorb(0, (100, 6.0, ["prefetched"], 1))  # the earlier sample request, read afterwards
    view._absorb(1, (30, 1.0, [], 1))
    assert len(view) == 150 and view._masses.tolist() == [7.5, 1.0]
    assert view.receipts == ["drained", "prefetched"]
