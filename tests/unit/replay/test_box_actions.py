"""Replay with ``Box`` actions: ``[B, d]`` float32 through the adder, both storages, checkpoints,
prioritized and sharded sampling. Actions are carried bit for bit, never summed or rounded."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay import ArrayStorage, FrameStorage, NStepAdder, PrioritizedReplay, concat_items
from apexrl.replay import storage as storage_module
from apexrl.replay.sharded import ShardedReplay
from apexrl.runtime.checkpoint import load_checkpoint, save_checkpoint
from apexrl.types import FrameTransitions, Transitions

F32 = np.float32
# Values that are not short binary fractions, so any rounding or float64 detour would show.
A0 = [[0.1, -0.2], [0.3, 1.7], [-1.9, 0.05]]  # env 0's actions at calls 1-3
A1 = [[1.5, -1.25], [-0.7, 0.9], [0.33, -0.66]]  # env 1's actions at calls 1-3


def test_frame_storage_is_importable_from_both_modules():
    from apexrl.replay.frame_storage import FrameStorage as FromNewModule

    assert storage_module.FrameStorage is FrameStorage is FromNewModule


# ----------------------------------------------------------------------------- NStepAdder
def test_n_step_returns_with_float_actions_hand_computed():
    """n = 2, γ = 0.5, two envs, actions [2] float32. Env 0: obs 0, 1, 2 with rewards 1, 2, 4,
    terminates at call 3 (final obs 3). Env 1: obs 100, 101 with rewards 10, 20, time-limit
    truncated at call 2 (final obs 102), then a new episode from 200 (reward 30).
    q(s, a) = obs / 10 and V(s') = 1 at every call."""
    ad = NStepAdder(2, 2, 0.5, action_shape=(2,), action_dtype=np.float32)
    assert ad.action_shape == (2,) and ad.action_dtype == np.float32

    def step(call, obs, rew, nxt, term=(False, False), trunc=(False, False)):
        o = np.array(obs, F32)[:, None]
        action = np.array([A0[call], A1[call]], F32)
        return ad.add(o, action, np.array(rew, F32), np.array(nxt, F32)[:, None], np.array(term),
                      np.array(trunc), q_taken=o[:, 0] / 10, next_value=np.ones(2))

    items, prio = step(0, [0, 100], [1, 10], [1, 101])
    assert items.action.shape == (0, 2) and items.action.dtype == np.float32 and prio.shape == (0,)

    # call 2: env 0's window is full: R = 1 + .5*2 = 2, γ^2 = .25, next obs 2.
    # env 1 truncated with two pending: R = 10 + .5*20 = 20 (γ^2) and R = 20 (γ), next obs 102.
    items, prio = step(1, [1, 101], [2, 20], [2, 102], trunc=(False, True))
    np.testing.assert_array_equal(items.obs[:, 0], [0, 100, 101])
    np.testing.assert_array_equal(items.action, np.array([A0[0], A1[0], A1[1]], F32))
    np.testing.assert_array_equal(items.reward, F32([2, 20, 20]))
    np.testing.assert_array_equal(items.discount, F32([0.25, 0.25, 0.5]))
    np.testing.assert_array_equal(items.next_obs[:, 0], [2, 102, 102])
    np.testing.assert_allclose(prio, [abs(2 + 0.25 - 0.0), abs(20 + 0.25 - 10.0), abs(20 + 0.5 - 10.1)],
                               rtol=1e-6)

    # call 3: env 0 terminates with obs 1 and 2 pending: R = 2 + .5*4 = 4 and R = 4, discount 0.
    # env 1 starts over from 200: nothing complete.
    items, prio = step(2, [2, 200], [4, 30], [3, 201], term=(True, False))
    np.testing.assert_array_equal(items.obs[:, 0], [1, 2])
    np.testing.assert_array_equal(items.action, np.array([A0[1], A0[2]], F32))
    np.testing.assert_array_equal(items.reward, F32([4, 4]))
    np.testing.assert_array_equal(items.discount, F32([0, 0]))
    np.testing.assert_array_equal(items.next_obs[:, 0], [3, 3])
    np.testing.assert_allclose(prio, [abs(4 - 0.1), abs(4 - 0.2)], rtol=1e-6)
    assert items.action.dtype == np.float32


def test_adder_default_is_int64_indices_and_checks_the_action_shape():
    ad = NStepAdder(2, 1, 0.9)
    items, _ = ad.add(np.zeros((2, 3), F32), np.array([1, 2]), np.zeros(2), np.zeros((2, 3), F32),
                      np.zeros(2, bool), np.zeros(2, bool))
    assert items.action.dtype == np.int64 and items.action.shape == (2,)
    box = NStepAdder(2, 1, 0.9, action_shape=(3,), action_dtype=np.float32)
    with pytest.raises(ValueError, match=r"action must have shape \(2, 3\), got \(2,\)"):
        box.add(np.zeros((2, 3), F32), np.array([1.0, 2.0]), np.zeros(2), np.zeros((2, 3), F32),
                np.zeros(2, bool), np.zeros(2, bool))
    for kwargs, name in [({"action_shape": (-1,)}, "action_shape"), ({"action_dtype": bool}, "action_dtype"),
                         ({"action_dtype": "nope"}, "action_dtype")]:
        with pytest.raises(ValueError, match=name):
            NStepAdder(2, 1, 0.9, **kwargs)


def test_frame_stack_adder_carries_float_actions():
    ad = NStepAdder(1, 1, 0.9, frame_stack=True, action_shape=(1,), action_dtype=np.float32)
    obs = np.zeros((1, 4, 2, 2), np.uint8)
    items, _ = ad.add(obs, np.array([[-1.3]], F32), np.ones(1), obs + 1, np.zeros(1, bool), np.zeros(1, bool))
    assert isinstance(items, FrameTransitions)
    np.testing.assert_array_equal(items.action, F32([[-1.3]]))
    fs = FrameStorage(4, frame_shape=(2, 2), stack_size=4, action_shape=(1,), action_dtype=np.float32)
    np.testing.assert_array_equal(fs.write(np.array([0]), items), [True])
    np.testing.assert_array_equal(fs.read(np.array([0])).action, F32([[-1.3]]))


# ----------------------------------------------------------------------------- storages
def _items(rng, n, action_dim=2):
    return Transitions(obs=rng.normal(size=(n, 3)).astype(F32),
                       action=rng.uniform(-2, 2, (n, action_dim)).astype(F32),
                       reward=rng.normal(size=n).astype(F32), discount=np.full(n, 0.99, F32),
                       next_obs=rng.normal(size=(n, 3)).astype(F32))


def test_array_storage_float_actions_round_trip():
    s = ArrayStorage(4, (3,), np.float32, action_shape=(2,), action_dtype=np.float32)
    assert s.action.shape == (4, 2) and s.action.dtype == np.float32
    assert s.nbytes == 2 * 4 * 12 + 4 * 8 + 2 * 4 * 4
    items = _items(np.random.default_rng(0), 3)
    np.testing.assert_array_equal(s.write(np.array([2, 0, 3]), items), [True] * 3)
    out = s.read(np.array([3, 2, 2, 0]))
    np.testing.assert_array_equal(out.action, items.action[[2, 0, 0, 1]])
    assert out.action.dtype == np.float32 and out.action.shape == (4, 2)
    np.testing.assert_array_equal(out.obs, items.obs[[2, 0, 0, 1]])
    assert "action_shape=(2,)" in repr(s) and "action_dtype=float32" in repr(s)
    with pytest.raises(ValueError, match=r"items.action must have shape \(1, 2\), got \(1,\)"):
        s.write(np.array([1]), items._replace(obs=items.obs[:1], next_obs=items.next_obs[:1],
                                              action=np.zeros(1, F32), reward=items.reward[:1],
                                              discount=items.discount[:1]))
    np.testing.assert_array_equal(s.action[1], [0, 0])  # nothing written


def _through_checkpoint(replay, tmp_path):
    arrays, meta = replay.state_dict()
    ckpt = load_checkpoint(save_checkpoint(str(tmp_path), 7, {}, arrays, {"replay": meta}))
    return ckpt.arrays, ckpt.state["replay"]


def _box_replay(capacity=16, action_dim=2, action_dtype=np.float32, seed=0):
    return PrioritizedReplay(ArrayStorage(capacity, (3,), np.float32, action_shape=(action_dim,),
                                          action_dtype=action_dtype), seed=seed)


@pytest.mark.parametrize("added", [5, 40])  # partly filled, wrapped
def test_float_action_replay_round_trip_through_checkpoint_files(tmp_path, added):
    rng = np.random.default_rng(added)
    a = _box_replay()
    for _ in range(added // 5):
        a.add(_items(rng, 5), rng.random(5))
    arrays, meta = _through_checkpoint(a, tmp_path)
    assert arrays["storage.action"].dtype == np.float32 and arrays["storage.action"].shape == (len(a), 2)
    b = _box_replay()
    b.load_state_dict(arrays, meta)
    np.testing.assert_array_equal(b.storage.action, a.storage.action)
    sa, sb = a.sample(8), b.sample(8)
    np.testing.assert_array_equal(sa.keys, sb.keys)
    np.testing.assert_array_equal(sa.data.action, sb.data.action)


@pytest.mark.parametrize(("other", "message"), [
    (lambda: _box_replay(action_dim=1), r"actions of shape \(2,\) float32.*action_shape=\(1,\) action_dtype=float32"),
    (lambda: _box_replay(action_dtype=np.float64), r"\(2,\) float32.*action_shape=\(2,\) action_dtype=float64"),
    (lambda: PrioritizedReplay(ArrayStorage(16, (3,), np.float32), seed=0),
     r"\(2,\) float32.*action_shape=\(\) action_dtype=int64"),
])
def test_checkpoint_with_other_actions_is_refused_naming_them(tmp_path, other, message):
    a = _box_replay()
    a.add(_items(np.random.default_rng(1), 6))
    arrays, meta = _through_checkpoint(a, tmp_path)
    b = other()
    with pytest.raises(ValueError, match=message):
        b.load_state_dict(arrays, meta)
    assert len(b) == 0 and not b.storage.action.any()


def test_frame_storage_float_actions_and_checkpoint(tmp_path):
    def make():
        return PrioritizedReplay(FrameStorage(6, frame_shape=(2, 2), stack_size=2, action_shape=(1,),
                                              action_dtype=np.float32), seed=2)

    ad = NStepAdder(2, 2, 0.9, frame_stack=True, action_shape=(1,), action_dtype=np.float32)
    rng = np.random.default_rng(3)
    a = make()
    sent = []
    obs = np.zeros((2, 2, 2, 2), np.uint8)
    for t in range(6):
        frame = rng.integers(0, 256, (2, 1, 2, 2), dtype=np.uint8)
        nxt = np.concatenate([obs[:, 1:], frame], axis=1)
        action = rng.uniform(-1, 1, (2, 1)).astype(F32)
        sent.append(action)
        items, prio = ad.add(obs, action, np.ones(2), nxt, np.zeros(2, bool), np.zeros(2, bool),
                             q_taken=np.zeros(2), next_value=np.zeros(2))
        a.add(items, prio)
        obs = nxt
    # with n = 2 the items of call t carry call t-1's actions, env 0 then env 1: keys 0..9;
    # the 6 slots hold keys 6, 7, 8, 9, 4, 5 (FIFO, slot = key % 6)
    by_key = np.concatenate(sent[:-1])
    np.testing.assert_array_equal(a.storage.read(np.arange(6)).action, by_key[[6, 7, 8, 9, 4, 5]])
    b = make()
    b.load_state_dict(*_through_checkpoint(a, tmp_path))
    np.testing.assert_array_equal(b.storage.read(np.arange(6)).action, a.storage.read(np.arange(6)).action)
    np.testing.assert_array_equal(b.sample(5).data.action, a.sample(5).data.action)
    c = PrioritizedReplay(FrameStorage(6, frame_shape=(2, 2), stack_size=2), seed=2)
    with pytest.raises(ValueError, match=r"actions of shape \(1,\) float32.*action_shape=\(\) action_dtype=int64"):
        c.load_state_dict(*_through_checkpoint(a, tmp_path))


# ----------------------------------------------------------------------------- sampling
def test_prioritized_sample_returns_the_stored_float_actions():
    rng = np.random.default_rng(4)
    replay = _box_replay(capacity=32)
    items = _items(rng, 20, action_dim=2)
    keys = replay.add(items, np.arange(20) + 1.0)
    by_key = {int(k): items.action[i] for i, k in enumerate(keys)}
    batch = replay.sample(64)
    assert batch.data.action.shape == (64, 2) and batch.data.action.dtype == np.float32
    for k, a, o in zip(batch.keys, batch.data.action, batch.data.obs):
        np.testing.assert_array_equal(a, by_key[int(k)])
        np.testing.assert_array_equal(o, items.obs[int(k)])  # action and obs stay paired


def test_sharded_replay_and_concat_items_with_float_actions():
    rng = np.random.default_rng(5)
    parts = [_items(rng, 4, action_dim=3), _items(rng, 2, action_dim=3)]
    both = concat_items(parts)
    assert both.action.shape == (6, 3) and both.action.dtype == np.float32
    np.testing.assert_array_equal(both.action, np.concatenate([p.action for p in parts]))
    shards = [PrioritizedReplay(ArrayStorage(8, (3,), np.float32, action_shape=(3,), action_dtype=np.float32),
                                seed=j) for j in range(2)]
    sharded = ShardedReplay(shards, seed=0)
    by_key = {}
    for p in parts:
        for i, k in enumerate(sharded.add(p, np.ones(len(p.action)))):
            by_key[int(k)] = p.action[i]
    batch = sharded.sample(16)
    assert batch.data.action.shape == (16, 3) and batch.data.action.dtype == np.float32
    for k, a in zip(batch.keys, batch.data.action):
        np.testing.assert_array_equal(a, by_key[int(k)])
