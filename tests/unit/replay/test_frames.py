"""FrameStorage + NStepAdder(frame_stack=True) against Gymnasium's real FrameStackObservation.

A fake environment emits frames that are all distinct (their pixels encode env id, frame
counter and episode), with short episodes of varying length ending by termination or
truncation. Several streams run interleaved. A plain NStepAdder on the very same stacked
observations is the oracle: every stack the replay rebuilds must equal the stack the
environment emitted, across episode boundaries.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import FrameStackObservation

from apexrl.replay import FrameStorage, NStepAdder, PrioritizedReplay, concat_items

H, W, S = 6, 5, 4


class _UniqueFrameEnv(gym.Env):
    """Frame ``c`` of env ``e`` has pixel (0,0)=e, (0,1..2)=c (16 bits), (0,3)=episode."""

    def __init__(self, env_id: int, seed: int, max_len: int = 7) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (H, W), np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self.env_id = env_id
        self.counter = 0
        self.episode = -1
        self.max_len = max_len
        self._rng = np.random.default_rng(seed)

    def _frame(self) -> np.ndarray:
        c = self.counter
        self.counter += 1
        f = np.full((H, W), (7 * c + 13 * self.env_id) % 256, np.uint8)
        f[0, :4] = [self.env_id, c % 256, c // 256, self.episode % 256]
        return f

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        self.length = int(self._rng.integers(1, self.max_len + 1))  # episodes of 1..max_len steps
        self.by_termination = bool(self._rng.random() < 0.5)
        return self._frame(), {}

    def step(self, action):
        self.t += 1
        end = self.t >= self.length
        return (self._frame(), float(10 * self.t + action), end and self.by_termination,
                end and not self.by_termination, {})


def _frame_ids(frames: np.ndarray) -> np.ndarray:
    """[..., H, W] frames -> [...] unique ids env * 65536 + counter."""
    return frames[..., 0, 0].astype(np.int64) * 65536 + frames[..., 0, 1] + 256 * frames[..., 0, 2].astype(np.int64)


def _drive(replay: PrioritizedReplay, num_envs: int, steps: int, n: int, send_every: int, seed: int,
           stream_offset: int = 40):
    """Run the envs; add frame messages to ``replay``; return the oracle bookkeeping."""
    rng = np.random.default_rng(seed)
    envs = [FrameStackObservation(_UniqueFrameEnv(e, seed * 100 + e), S, padding_type="reset")
            for e in range(num_envs)]
    plain = NStepAdder(num_envs, n, 0.99)
    framed = NStepAdder(num_envs, n, 0.99, frame_stack=True, stream_offset=stream_offset)
    obs = np.stack([env.reset(seed=e)[0] for e, env in enumerate(envs)])
    assert obs.shape == (num_envs, S, H, W) and obs.dtype == np.uint8
    expected = {}  # key -> (obs, action, reward, discount, next_obs) from the plain adder
    rejected = []  # plain transitions whose frames were gone when written
    frames_sent = []
    buf_f, buf_p, buf_prio = [], [], []
    for t in range(steps):
        action = rng.integers(0, 3, num_envs)
        q, v = rng.normal(size=num_envs), rng.normal(size=num_envs)
        out = [env.step(a) for env, a in zip(envs, action)]
        next_obs = np.stack([o[0] for o in out])
        reward = np.array([o[1] for o in out])
        term = np.array([o[2] for o in out])
        trunc = np.array([o[3] for o in out])
        ip, pp = plain.add(obs, action, reward, next_obs, term, trunc, q_taken=q, next_value=v)
        ifr, pf = framed.add(obs, action, reward, next_obs, term, trunc, q_taken=q, next_value=v)
        np.testing.assert_array_equal(pf, pp)
        buf_f.append(ifr)
        buf_p.append(ip)
        buf_prio.append(pp)
        if (t + 1) % send_every == 0 or t == steps - 1:
            msg, tr, prio = concat_items(buf_f), concat_items(buf_p), np.concatenate(buf_prio)
            buf_f, buf_p, buf_prio = [], [], []
            frames_sent.append(msg.frames)
            keys = replay.add(msg, prio)
            assert keys.shape == (len(tr.action),)
            for j, k in enumerate(keys):
                row = tuple(f[j] for f in tr)
                if k >= 0:
                    expected[int(k)] = row
                else:
                    rejected.append(row)
        obs = next_obs.copy()
        for e in range(num_envs):
            if term[e] or trunc[e]:
                obs[e] = envs[e].reset()[0]
    # every frame the envs produced, minus the reset frames of envs that ended at the last
    # step (the adder sends those with the next step, which never came)
    total_frames = sum(env.unwrapped.counter for env in envs) - int((term | trunc).sum())
    return expected, rejected, np.concatenate(frames_sent), total_frames


def _check_rows(data, keys, expected):
    for j, k in enumerate(keys):
        o, a, r, d, x = expected[int(k)]
        np.testing.assert_array_equal(data.obs[j], o)
        np.testing.assert_array_equal(data.next_obs[j], x)
        assert data.action[j] == a and data.reward[j] == r and data.discount[j] == d


@pytest.mark.parametrize("send_every, n", [(1, 3), (4, 3), (5, 1)])
def test_stacks_match_framestack_wrapper(send_every, n):
    cap = 4096
    fs = FrameStorage(cap, frame_shape=(H, W), stack_size=S)
    rb = PrioritizedReplay(fs, seed=send_every)
    expected, rejected, frames, total_frames = _drive(rb, num_envs=3, steps=250, n=n,
                                                      send_every=send_every, seed=send_every)
    assert not rejected
    # every frame sent exactly once
    ids = _frame_ids(frames)
    assert len(np.unique(ids)) == len(ids) == total_frames == fs.frames_written
    live = np.array(sorted(expected))
    assert len(live) == len(rb) > 500
    # read every stored slot directly
    assert fs.valid(live % cap).all()
    data = fs.read(live % cap)
    assert data.obs.shape == (len(live), S, H, W) and data.obs.dtype == np.uint8
    _check_rows(data, live, expected)
    # no frame of another episode (or env) inside a stack
    for stacks in (data.obs, data.next_obs):
        assert (stacks[:, :, 0, 3] == stacks[:, -1:, 0, 3]).all()
        assert (stacks[:, :, 0, 0] == stacks[:, -1:, 0, 0]).all()
    # and through sampling
    for _ in range(20):
        b = rb.sample(64)
        _check_rows(b.data, b.keys, expected)
    # episode starts were covered: some stacks repeat their first frame
    first = (data.obs[:, 0] == data.obs[:, 1]).all(axis=(1, 2))
    assert first.any() and (~first).any()


def test_eviction_invalidates_and_sample_never_returns_stale():
    cap, fc = 64, 24
    fs = FrameStorage(cap, frame_shape=(H, W), stack_size=S, frame_capacity=fc)
    rb = PrioritizedReplay(fs, seed=7)
    expected, rejected, frames, total = _drive(rb, num_envs=3, steps=200, n=3, send_every=3, seed=11)
    assert fs.frames_written == total
    # oracle: a transition is valid iff every frame of both its stacks is among the last fc sent
    gid_of = {int(i): g for g, i in enumerate(_frame_ids(frames))}

    def oracle_valid(row):
        stacks = np.concatenate([row[0], row[4]])
        return min(gid_of[int(i)] for i in _frame_ids(stacks)) >= total - fc

    live = np.array(sorted(k for k in expected if k >= rb.num_added - cap))
    want = np.array([oracle_valid(expected[k]) for k in live])
    got = fs.valid(live % cap)
    np.testing.assert_array_equal(got, want)
    assert want.any() and (~want).any()
    valid_keys = set(live[want].tolist())
    seen = set()
    for _ in range(30):
        b = rb.sample(32)
        assert set(b.keys.tolist()) <= valid_keys
        _check_rows(b.data, b.keys, expected)
        seen |= set(b.keys.tolist())
    assert len(seen) > 1
    # invalid items found by sampling got mass 0 (never more than the invalid set)
    zero = rb.sum_tree.get(live % cap) == 0
    assert not (zero & want).any()


def test_rejected_when_message_outruns_frame_ring():
    # one huge message: the early transitions' frames are overwritten by later frames of the
    # same message, so the storage rejects them (key -1) and the rest are intact
    cap, fc = 256, 40
    fs = FrameStorage(cap, frame_shape=(H, W), stack_size=S, frame_capacity=fc)
    rb = PrioritizedReplay(fs, seed=0)
    expected, rejected, frames, total = _drive(rb, num_envs=2, steps=60, n=3, send_every=60, seed=3)
    assert rejected and expected
    keys = np.array(sorted(expected))
    assert fs.valid(keys % cap).all()
    _check_rows(fs.read(keys % cap), keys, expected)
    gid_of = {int(i): g for g, i in enumerate(_frame_ids(frames))}
    for row in rejected:  # each rejected transition really needed an overwritten frame
        ids = _frame_ids(np.concatenate([row[0], row[4]]))
        assert min(gid_of[int(i)] for i in ids) < total - fc


@pytest.mark.parametrize("steps", [40, 400])  # before and after the rings wrap
def test_state_dict_round_trip_continues_identically(steps):
    def make():
        return PrioritizedReplay(FrameStorage(150, frame_shape=(H, W), stack_size=S), seed=3)

    a = make()
    _drive(a, num_envs=3, steps=steps, n=3, send_every=7, seed=1)
    arrays, meta = a.state_dict()
    b = make()
    b.load_state_dict({k: np.array(v) for k, v in arrays.items()}, meta)
    assert (len(b), b.num_added, b.max_priority) == (len(a), a.num_added, a.max_priority)
    for _ in range(3):  # same RNG state, same priorities, same frames: identical batches
        sa, sb = a.sample(16), b.sample(16)
        np.testing.assert_array_equal(sa.keys, sb.keys)
        np.testing.assert_array_equal(sa.weights, sb.weights)
        for fa, fb in zip(sa.data, sb.data):
            np.testing.assert_array_equal(fa, fb)
    # both keep going the same way (new streams, as a restarted actor's)
    _drive(a, num_envs=3, steps=30, n=3, send_every=5, seed=2, stream_offset=80)
    _drive(b, num_envs=3, steps=30, n=3, send_every=5, seed=2, stream_offset=80)
    sa, sb = a.sample(32), b.sample(32)
    np.testing.assert_array_equal(sa.keys, sb.keys)
    np.testing.assert_array_equal(sa.data.obs, sb.data.obs)
    np.testing.assert_array_equal(sa.data.next_obs, sb.data.next_obs)


def test_load_state_dict_rejects_other_frame_shapes():
    a = PrioritizedReplay(FrameStorage(150, frame_shape=(H, W), stack_size=S), seed=3)
    _drive(a, num_envs=2, steps=20, n=3, send_every=4, seed=1)
    arrays, meta = a.state_dict()
    b = PrioritizedReplay(FrameStorage(150, frame_shape=(H + 1, W), stack_size=S), seed=3)
    with pytest.raises(ValueError, match="frames"):
        b.load_state_dict(arrays, meta)
    assert b.num_added == 0 and len(b) == 0
