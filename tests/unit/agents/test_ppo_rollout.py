"""The rollout adder, the Rollout container and the bounded rollout queue."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay.rollout import Rollout, RolloutAdder, RolloutQueue


def _step(adder, t, e=2, extras=True):
    obs = np.full((e, 3), t, np.float32)
    return adder.add(obs, np.array([t % 2, 1 - t % 2]), np.array([t, 10 + t], np.float32), obs + 1,
                     np.array([t == 1, False]), np.array([False, t == 2]), q_taken=np.array([0.5 * t, t], np.float32),
                     next_value=np.array([0.5 * t + 0.5, t + 1], np.float32),
                     extras={"log_prob": np.array([-t, -2 * t], np.float32)} if extras else None)


def test_adder_cuts_rollouts_of_t_steps():
    adder = RolloutAdder(num_envs=2, rollout_length=3)
    for t in range(2):
        items, prio = _step(adder, t)
        assert len(items) == 0 and prio is None and items.num_envs == 2
    r, prio = _step(adder, 2)
    assert prio is None and len(r) == 6 and (r.num_steps, r.num_envs) == (3, 2)
    np.testing.assert_array_equal(r.obs[:, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(r.actions, [[0, 1], [1, 0], [0, 1]])
    np.testing.assert_array_equal(r.rewards, [[0, 10], [1, 11], [2, 12]])
    np.testing.assert_array_equal(r.terminated, [[False, False], [True, False], [False, False]])
    np.testing.assert_array_equal(r.truncated, [[False, False], [False, False], [False, True]])
    np.testing.assert_array_equal(r.values, [[0, 0], [0.5, 1], [1, 2]])
    np.testing.assert_array_equal(r.next_values, [[0.5, 1], [1, 2], [1.5, 3]])
    np.testing.assert_array_equal(r.log_probs, [[0, 0], [-1, -2], [-2, -4]])
    assert r.rewards.dtype == np.float32 and r.terminated.dtype == bool
    assert len(_step(adder, 3)[0]) == 0  # the next rollout starts empty


def test_adder_needs_values_and_log_probs():
    adder = RolloutAdder(2, 3)
    with pytest.raises(ValueError, match=r'extras\["log_prob"\]'):
        _step(adder, 0, extras=False)
    obs = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"q_taken .*next_value"):
        adder.add(obs, np.zeros(2), np.zeros(2), obs, np.zeros(2, bool), np.zeros(2, bool),
                  extras={"log_prob": np.zeros(2)})
    with pytest.raises(ValueError, match="leading dimension E=2"):
        adder.add(obs, np.zeros(3), np.zeros(2), obs, np.zeros(2, bool), np.zeros(2, bool), q_taken=np.zeros(2),
                  next_value=np.zeros(2), extras={"log_prob": np.zeros(2)})
    with pytest.raises(ValueError, match="rollout_length=0"):
        RolloutAdder(2, 0)


def _rollout(t, e, fill):
    return Rollout(obs=np.full((t, e, 2), fill, np.float32), actions=np.zeros((t, e), np.int64),
                   rewards=np.full((t, e), fill, np.float32), terminated=np.zeros((t, e), bool),
                   truncated=np.zeros((t, e), bool), values=np.zeros((t, e), np.float32),
                   next_values=np.zeros((t, e), np.float32), log_probs=np.zeros((t, e), np.float32))


def test_concat_joins_along_envs():
    joined = Rollout.concat([_rollout(4, 2, 1.0), _rollout(0, 2, 9.0), _rollout(4, 3, 2.0)])
    assert (joined.num_steps, joined.num_envs) == (4, 5)
    np.testing.assert_array_equal(joined.rewards[0], [1, 1, 2, 2, 2])
    with pytest.raises(ValueError, match="different lengths"):
        Rollout.concat([_rollout(4, 2, 1.0), _rollout(3, 2, 1.0)])
    with pytest.raises(ValueError, match=r"Rollout.values must start with \[T, E\]"):
        Rollout(**{**_rollout(2, 2, 0).arrays(), "values": np.zeros((2, 3))})


def test_queue_is_a_bounded_fifo_consumed_once():
    q = RolloutQueue(capacity=16)
    assert q.may_insert() and not q.can_sample(8) and len(q) == 0
    keys = [q.add(_rollout(4, 2, float(i)))[0] for i in range(2)]
    assert keys == [0, 1] and len(q) == 16
    assert not q.may_insert()  # full: the training loop stops taking actor messages
    assert q.add(_rollout(0, 2, 0.0)).shape == (0,) and len(q) == 16  # an empty rollout is ignored
    assert q.can_sample(16) and not q.can_sample(17)
    s = q.sample(8)
    np.testing.assert_array_equal(s.keys, [0])
    assert float(s.data.rewards[0, 0]) == 0.0 and len(q) == 8 and q.may_insert()
    s = q.sample(8)
    np.testing.assert_array_equal(s.keys, [1])
    assert float(s.data.rewards[0, 0]) == 1.0 and len(q) == 0
    with pytest.raises(ValueError, match="fewer than batch_size=8"):
        q.sample(8)
    q.update_priorities(s.keys, np.zeros(1))  # accepted, ignored
    with pytest.raises(TypeError, match="takes a Rollout"):
        q.add(np.zeros(3))


def test_queue_sample_joins_several_rollouts():
    q = RolloutQueue(capacity=100)
    for i in range(3):
        q.add(_rollout(4, 2, float(i)))
    s = q.sample(16)
    np.testing.assert_array_equal(s.keys, [0, 1])
    assert (s.data.num_steps, s.data.num_envs) == (4, 4) and len(q) == 8
    np.testing.assert_array_equal(s.data.rewards[0], [0, 0, 1, 1])


def test_queue_state_round_trip():
    q = RolloutQueue(capacity=100)
    for i in range(3):
        q.add(_rollout(4, 2, float(i)))
    q.sample(8)
    arrays, meta = q.state_dict()
    r = RolloutQueue(capacity=100)
    r.load_state_dict({k: np.array(v) for k, v in arrays.items()}, meta)
    assert len(r) == 16 and r.nbytes == q.nbytes
    s = r.sample(16)
    np.testing.assert_array_equal(s.keys, [1, 2])
    np.testing.assert_array_equal(s.data.rewards[0], [1, 1, 2, 2])
    assert r.add(_rollout(4, 2, 0.0))[0] == 3  # keys continue
    with pytest.raises(ValueError, match="not a rollout queue"):
        r.load_state_dict({}, {"kind": "prioritized"})
    with pytest.raises(ValueError, match="missing rollout.0.obs"):
        r.load_state_dict({}, meta)
