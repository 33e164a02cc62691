"""Frame-deduplicated R2D2 sequences: the stacks rebuilt from frames stored once equal the stacks
the environment gave (Gymnasium's FrameStackObservation with reset padding), across episode
boundaries, terminations and truncations; checkpoint round trip; eviction."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay import PrioritizedReplay
from apexrl.replay.sequence import SequenceAdder, SequenceItems
from apexrl.replay.sequence_frames import SequenceFrameAdder, SequenceFrames, SequenceFrameStorage

S, HW = 4, (2, 3)
BURN, M, P, H = 3, 4, 2, 2
T = BURN + M


def _frame(stream, k):
    """A distinct 2×3 frame for the k-th frame of a stream."""
    v = 1000 * stream + k
    return np.array([[v % 256, (v // 256) % 256, stream], [k % 7, 1, 2]], dtype=np.uint8)


def _trajectory(lengths, steps):
    """Per step: (obs [2, S, H, W], action, reward, next_obs, terminated, truncated, state) as a vector
    env with frame stacks (reset padding) and same-step autoreset would give."""
    rng = np.random.default_rng(0)
    counters = [0, 0]
    stacks = []
    for e in range(2):
        f = _frame(e, 0)
        stacks.append(np.stack([f] * S))
    j = [0, 0]
    ep = [0, 0]
    out = []
    for _ in range(steps):
        obs = np.stack(stacks).copy()
        nxt, term, trunc = [], [], []
        for e in range(2):
            counters[e] += 1
            f = _frame(e, counters[e])
            st = np.concatenate([stacks[e][1:], f[None]])
            nxt.append(st)
            done = j[e] + 1 == lengths[e][ep[e] % len(lengths[e])]
            term.append(done and ep[e] % 2 == 0)
            trunc.append(done and ep[e] % 2 == 1)
            j[e] += 1
            if done:
                j[e], ep[e] = 0, ep[e] + 1
                counters[e] += 1
                f0 = _frame(e, counters[e])
                stacks[e] = np.stack([f0] * S)
            else:
                stacks[e] = st
        out.append((obs, rng.integers(0, 3, 2), rng.normal(size=2).astype(np.float32), np.stack(nxt),
                    np.array(term), np.array(trunc), rng.normal(size=(2, 2, H)).astype(np.float32)))
    return out


def _collect(lengths, steps, frame_capacity=None):
    oracle = SequenceAdder(2, (S, *HW), np.uint8, H, BURN, M, P)
    adder = SequenceFrameAdder(2, H, BURN, M, P, stream_offset=10)
    expected, sent = [], []
    for obs, a, r, nxt, te, tr, st in _trajectory(lengths, steps):
        x, _ = oracle.add(obs, a, r, nxt, te, tr, extras={"state": st})
        y, _ = adder.add(obs, a, r, nxt, te, tr, extras={"state": st})
        assert len(x) == len(y)
        if len(x):
            expected.append(x)
            sent.append(y)
    return SequenceItems.concat(expected), SequenceFrames.concat(sent)


def test_rebuilt_stacks_equal_the_env_stacks_across_episode_boundaries():
    expected, sent = _collect([[5, 9, 2], [3, 11]], 60)
    storage = SequenceFrameStorage(len(sent), T, HW, S, H, sequence_period=P)
    ok = storage.write(np.arange(len(sent)), sent)
    assert ok.all()
    got = storage.read(np.arange(len(sent)))
    assert got.obs.shape == (len(sent), T + 1, S, *HW)
    for k in range(len(sent)):
        real = np.flatnonzero(expected.mask[k])
        used = np.r_[real, real[-1] + 1]  # real steps and the bootstrap observation
        np.testing.assert_array_equal(got.obs[k, used], expected.obs[k, used])
    for name in ("action", "reward", "discount", "mask", "prev_action", "prev_reward", "first_step", "state"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
    # each frame was sent once: one per observation of each episode (its steps + the final one)
    assert len(sent.frames) <= 2 * 60 + 2 * 60 // 2 + 2
    assert len(np.unique(np.stack([sent.frame_stream, sent.frame_step]), axis=1).T) == len(sent.frames)


def test_frames_sent_in_earlier_messages_and_round_trip_through_the_replay():
    expected, _ = _collect([[7, 4], [6]], 40)
    adder_out = []
    adder = SequenceFrameAdder(2, H, BURN, M, P)
    for obs, a, r, nxt, te, tr, st in _trajectory([[7, 4], [6]], 40):
        y, _ = adder.add(obs, a, r, nxt, te, tr, extras={"state": st})
        if len(y):
            adder_out.append(y)
    replay = PrioritizedReplay(SequenceFrameStorage(64, T, HW, S, H, sequence_period=P), priority_exponent=0.9,
                               importance_sampling_exponent=0.6, seed=0)
    for y in adder_out:  # one message per emission: later sequences refer to frames sent before
        replay.add(y, None)
    assert len(replay) == len(expected)
    got = replay.storage.read(np.arange(len(replay)))
    for k in range(len(expected)):
        real = np.flatnonzero(expected.mask[k])
        used = np.r_[real, real[-1] + 1]
        np.testing.assert_array_equal(got.obs[k, used], expected.obs[k, used])
    arrays, meta = replay.state_dict()
    arrays = {k: np.array(v) for k, v in arrays.items()}
    other = PrioritizedReplay(SequenceFrameStorage(64, T, HW, S, H, sequence_period=P), priority_exponent=0.9,
                              importance_sampling_exponent=0.6, seed=1)
    other.load_state_dict(arrays, meta)
    again = other.storage.read(np.arange(len(replay)))
    np.testing.assert_array_equal(again.obs, got.obs)
    np.testing.assert_array_equal(again.state, got.state)
    a, b = replay.sample(8), other.sample(8)
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_array_equal(a.data.obs, b.data.obs)


def test_evicted_frames_make_old_sequences_invalid():
    _, sent = _collect([[50], [50]], 40)
    storage = SequenceFrameStorage(len(sent), T, HW, S, H, sequence_period=P, frame_capacity=24)
    ok = storage.write(np.arange(len(sent)), sent)
    valid = storage.valid(np.arange(len(sent)))
    assert ok.any() and not valid.all()
    assert valid[-1] and not valid[0]


def test_write_rejects_other_items():
    storage = SequenceFrameStorage(4, T, HW, S, H)
    with pytest.raises(TypeError, match="SequenceFrames"):
        storage.write(np.arange(1), SequenceAdder(1, (1,), np.float32, H, BURN, M, P).empty())
