"""Replays through the real checkpoint files (state.json + arrays/*.npy) and back, item by item.

The frame storage used to fail here: ``np.ascontiguousarray`` in the checkpoint writer turns
its 0-d counters into shape ``(1,)`` arrays, and ``int(state["frames_written"])`` raised
``TypeError: only 0-dimensional arrays can be converted to Python scalars`` (issue 19).
"""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay import ArrayStorage, FrameStorage, NStepAdder, PrioritizedReplay, concat_items
from apexrl.runtime.checkpoint import load_checkpoint, save_checkpoint
from apexrl.runtime.seeding import first_generation, stream_offset

H, W, S = 7, 6, 4


def _through_checkpoint(replay: PrioritizedReplay, tmp_path) -> tuple[dict, dict]:
    arrays, meta = replay.state_dict()
    path = save_checkpoint(str(tmp_path), 42, {}, arrays, {"replay": meta})
    ckpt = load_checkpoint(path)
    return ckpt.arrays, ckpt.state["replay"]


def _fill_frames(replay: PrioritizedReplay, steps: int, seed: int, resumes: int = 3) -> None:
    """Two actors' worth of streams (one of a resumed generation), random frames and episode ends."""
    rng = np.random.default_rng(seed)
    adders = [NStepAdder(2, 3, 0.99, frame_stack=True, stream_offset=stream_offset(g, a, 2))
              for g, a in ((resumes - 3, 0), (first_generation(resumes) + 1, 1))]
    obs = [np.repeat(rng.integers(0, 256, (2, 1, H, W), dtype=np.uint8), S, axis=1) for _ in adders]
    for t in range(steps):
        for k, adder in enumerate(adders):
            frame = rng.integers(0, 256, (2, 1, H, W), dtype=np.uint8)
            nxt = np.concatenate([obs[k][:, 1:], frame], axis=1)
            term, trunc = rng.random(2) < 0.05, rng.random(2) < 0.03
            items, prio = adder.add(obs[k], rng.integers(0, 4, 2), rng.normal(size=2), nxt, term, trunc,
                                    q_taken=rng.normal(size=2), next_value=rng.normal(size=2))
            replay.add(concat_items([items]), prio)
            done = term | trunc
            obs[k] = np.where(done[:, None, None, None], np.repeat(frame, S, axis=1), nxt)
        if t % 5 == 4 and len(replay):
            s = replay.sample(8)
            replay.update_priorities(s.keys, rng.random(8) * 4)


def _assert_same_replay(a: PrioritizedReplay, b: PrioritizedReplay) -> None:
    assert (len(a), a.num_added, a.max_priority, a.importance_sampling_exponent) == (
        len(b), b.num_added, b.max_priority, b.importance_sampling_exponent)
    slots = np.arange(len(a))
    np.testing.assert_array_equal(a.sum_tree.get(slots), b.sum_tree.get(slots))  # every priority
    assert a.sum_tree.total == pytest.approx(b.sum_tree.total, rel=1e-12)
    np.testing.assert_array_equal(a.storage.valid(slots), b.storage.valid(slots))
    ok = slots[a.storage.valid(slots)]
    assert ok.size > 0
    for x, y in zip(a.storage.read(ok), b.storage.read(ok)):  # every stored item / rebuilt stack
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("steps", [30, 300])  # before and after the frame and slot rings wrap
def test_frame_replay_round_trip_through_checkpoint_files(tmp_path, steps):
    def make():
        return PrioritizedReplay(FrameStorage(200, frame_shape=(H, W), stack_size=S), priority_exponent=0.6,
                                 importance_sampling_exponent=0.4, seed=3)

    a = make()
    _fill_frames(a, steps, seed=steps)
    arrays, meta = _through_checkpoint(a, tmp_path)
    assert np.shape(arrays["storage.frames_written"]) == (1,)  # what the checkpoint files hold
    b = make()
    b.load_state_dict(arrays, meta)
    fa, fb = a.storage, b.storage
    assert fa.frames_written == fb.frames_written and fa.num_streams == fb.num_streams == 4
    nf = min(fa.frames_written, fa.frame_capacity)
    assert (steps < 100) == (fa.frames_written <= fa.frame_capacity)
    np.testing.assert_array_equal(fa.frames[:nf], fb.frames[:nf])  # every stored frame
    for name in ("_prev_off", "_obs_gid", "_next_off", "_oldest_off", "_action", "_reward", "_discount",
                 "_stream_ids", "_stream_rows", "_ring_step", "_ring_gid", "_last_step", "_last_gid"):  # links, pointers, stream tables
        x, y = getattr(fa, name), getattr(fb, name)
        np.testing.assert_array_equal(x[:len(y)], y, err_msg=name)
    _assert_same_replay(a, b)
    for _ in range(3):  # the sampling RNG continues identically
        sa, sb = a.sample(16), b.sample(16)
        np.testing.assert_array_equal(sa.keys, sb.keys)
        np.testing.assert_array_equal(sa.weights, sb.weights)
    _fill_frames(a, 20, seed=99, resumes=4)  # and both go on the same way (new streams, as after a resume)
    _fill_frames(b, 20, seed=99, resumes=4)
    _assert_same_replay(a, b)


@pytest.mark.parametrize("added", [50, 333])  # partly filled, wrapped
def test_array_replay_round_trip_through_checkpoint_files(tmp_path, added):
    def make():
        return PrioritizedReplay(ArrayStorage(100, (10, 10, 4), np.uint8), priority_exponent=0.6, seed=5)

    rng = np.random.default_rng(added)
    a = make()
    from apexrl.types import Transitions

    for start in range(0, added, 25):
        n = min(25, added - start)
        a.add(Transitions(obs=rng.integers(0, 2, (n, 10, 10, 4), dtype=np.uint8), action=rng.integers(0, 6, n),
                          reward=rng.normal(size=n).astype(np.float32), discount=np.full(n, 0.97, np.float32),
                          next_obs=rng.integers(0, 2, (n, 10, 10, 4), dtype=np.uint8)), rng.random(n) * 2)
        s = a.sample(8)
        a.update_priorities(s.keys, rng.random(8) * 3)
    b = make()
    b.load_state_dict(*_through_checkpoint(a, tmp_path))
    _assert_same_replay(a, b)
    np.testing.assert_array_equal(a.storage.obs, b.storage.obs)
    np.testing.assert_array_equal(a.storage.next_obs, b.storage.next_obs)
    np.testing.assert_array_equal(a.sample(32).keys, b.sample(32).keys)


def test_frame_counters_of_another_shape_are_refused(tmp_path):
    a = PrioritizedReplay(FrameStorage(50, frame_shape=(H, W), stack_size=S), seed=1)
    _fill_frames(a, 10, seed=1)
    arrays, meta = a.state_dict()
    arrays = dict(arrays, **{"storage.frames_written": np.array([3, 4])})
    b = PrioritizedReplay(FrameStorage(50, frame_shape=(H, W), stack_size=S), seed=1)
    with pytest.raises(ValueError, match="frames_written.*one integer"):
        b.load_state_dict(arrays, meta)
    assert len(b) == 0
