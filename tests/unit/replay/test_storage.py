"""ArrayStorage and FrameStorage on hand-built messages."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay import ArrayStorage, FrameStorage, PrioritizedReplay
from apexrl.types import FrameTransitions, Transitions


# ----------------------------------------------------------------------------- ArrayStorage
def test_array_storage_roundtrip_and_nbytes():
    s = ArrayStorage(5, (2, 3), np.uint8)
    items = Transitions(
        obs=np.arange(12, dtype=np.uint8).reshape(2, 2, 3),
        action=np.array([3, 4]),
        reward=np.array([0.5, -1.0]),
        discount=np.array([0.9, 0.0]),
        next_obs=np.arange(12, 24, dtype=np.uint8).reshape(2, 2, 3),
    )
    np.testing.assert_array_equal(s.write(np.array([4, 1]), items), [True, True])
    out = s.read(np.array([1, 4, 1]))
    np.testing.assert_array_equal(out.obs, items.obs[[1, 0, 1]])
    np.testing.assert_array_equal(out.next_obs, items.next_obs[[1, 0, 1]])
    np.testing.assert_array_equal(out.action, [4, 3, 4])
    np.testing.assert_array_equal(out.reward, np.float32([-1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(out.discount, np.float32([0.0, 0.9, 0.0]))
    assert out.obs.dtype == np.uint8 and out.action.dtype == np.int64
    assert out.reward.dtype == np.float32 and out.discount.dtype == np.float32
    np.testing.assert_array_equal(s.valid(np.array([0, 1, 2])), [True, True, True])
    assert s.nbytes == 2 * 5 * 6 + 5 * 8 + 2 * 5 * 4


def test_array_storage_errors():
    for args, name in [((0, (2,), np.float32), "capacity"), ((3, (-1,), np.float32), "obs_shape"),
                       ((3, (2,), "notadtype"), "obs_dtype")]:
        with pytest.raises(ValueError, match=name):
            ArrayStorage(*args)
    s = ArrayStorage(3, (2,), np.float32)
    good = Transitions(np.zeros((1, 2)), np.zeros(1), np.zeros(1), np.zeros(1), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="slots"):
        s.write(np.array([3]), good)
    with pytest.raises(ValueError, match="next_obs"):
        s.write(np.array([0]), good._replace(next_obs=np.zeros((1, 3))))
    with pytest.raises(ValueError, match="action"):
        s.write(np.array([0]), good._replace(action=np.zeros(2)))
    with pytest.raises(TypeError):
        s.write(np.array([0]), FrameTransitions(*([np.zeros(0)] * 10)))
    np.testing.assert_array_equal(s.obs, 0)


# ----------------------------------------------------------------------------- FrameStorage
def _frames(values):
    return np.array(values, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)


def _msg(frames=(), f_stream=(), f_step=(), f_first=(), stream=(), obs_step=(), next_step=(),
         action=None, reward=None, discount=None):
    n = len(stream)
    return FrameTransitions(
        frames=_frames(frames).reshape(-1, 2, 2),
        frame_stream=np.array(f_stream, np.int64),
        frame_step=np.array(f_step, np.int64),
        frame_first=np.array(f_first, bool),
        stream=np.array(stream, np.int64),
        obs_step=np.array(obs_step, np.int64),
        next_step=np.array(next_step, np.int64),
        action=np.arange(n) if action is None else np.array(action),
        reward=np.zeros(n, np.float32) if reward is None else np.array(reward, np.float32),
        discount=np.ones(n, np.float32) if discount is None else np.array(discount, np.float32),
    )


_NO_SLOT = np.zeros(0, np.int64)


def _stack_values(stacks):
    """[B, S, H, W] stacks of constant frames -> [B, S] frame values."""
    assert np.all(stacks == stacks[:, :, :1, :1])
    return stacks[:, :, 0, 0]


def test_frame_storage_rebuilds_stacks_across_messages_and_episodes():
    fs = FrameStorage(8, frame_shape=(2, 2), stack_size=3, frame_capacity=32)
    # stream 7: episode A = frames 10, 11, 12, 13; episode B = 20, 21. Stream 9: 50, 51.
    m1 = _msg(frames=[10, 50, 11, 12], f_stream=[7, 9, 7, 7], f_step=[0, 0, 1, 2],
              f_first=[True, True, False, False],
              stream=[7], obs_step=[0], next_step=[2], action=[5], reward=[1.5], discount=[0.81])
    np.testing.assert_array_equal(fs.write(np.array([3]), m1), [True])
    # second message references steps of the first (obs_step 1, 2) and its own frames
    m2 = _msg(frames=[13, 51, 20, 21], f_stream=[7, 9, 7, 7], f_step=[3, 1, 4, 5],
              f_first=[False, False, True, False],
              stream=[7, 7, 9, 7], obs_step=[1, 2, 0, 4], next_step=[3, 3, 1, 5])
    np.testing.assert_array_equal(fs.write(np.array([0, 1, 2, 4]), m2), [True] * 4)
    assert fs.frames_written == 8 and fs.num_streams == 2
    out = fs.read(np.array([3, 0, 1, 2, 4]))
    np.testing.assert_array_equal(_stack_values(out.obs),
                                  [[10, 10, 10], [10, 10, 11], [10, 11, 12], [50, 50, 50], [20, 20, 20]])
    np.testing.assert_array_equal(_stack_values(out.next_obs),
                                  [[10, 11, 12], [11, 12, 13], [11, 12, 13], [50, 50, 51], [20, 20, 21]])
    np.testing.assert_array_equal(out.action[0], 5)
    np.testing.assert_array_equal(out.reward[0], np.float32(1.5))
    np.testing.assert_array_equal(out.discount[0], np.float32(0.81))
    assert out.obs.dtype == np.uint8 and out.obs.shape == (5, 3, 2, 2)
    assert out.action.dtype == np.int64
    np.testing.assert_array_equal(fs.valid(np.arange(8)), [True] * 5 + [False] * 3)


def test_frame_storage_errors_modify_nothing():
    fs = FrameStorage(4, frame_shape=(2, 2), stack_size=2, frame_capacity=16)
    fs.write(_NO_SLOT, _msg(frames=[1, 2], f_stream=[0, 0], f_step=[0, 1], f_first=[True, False]))
    frames_before = fs.frames.copy()

    def unchanged():
        assert fs.frames_written == 2 and fs.num_streams == 1
        np.testing.assert_array_equal(fs.frames, frames_before)

    with pytest.raises(ValueError, match="stream 0 step 5"):  # a step never sent
        fs.write(np.array([0]), _msg(frames=[3], f_stream=[0], f_step=[2], f_first=[False],
                                     stream=[0], obs_step=[1], next_step=[5]))
    unchanged()
    with pytest.raises(ValueError, match="stream 3 step 0"):  # unknown stream
        fs.write(np.array([0]), _msg(stream=[3], obs_step=[0], next_step=[0]))
    unchanged()
    with pytest.raises(ValueError, match="stream 4 step 0"):  # new stream must start with a first frame
        fs.write(_NO_SLOT, _msg(frames=[9], f_stream=[4], f_step=[0], f_first=[False]))
    unchanged()
    with pytest.raises(ValueError, match="strictly increasing"):  # step reused
        fs.write(_NO_SLOT, _msg(frames=[9], f_stream=[0], f_step=[1], f_first=[False]))
    with pytest.raises(ValueError, match="strictly increasing"):  # out of order in one message
        fs.write(_NO_SLOT, _msg(frames=[9, 9], f_stream=[0, 0], f_step=[4, 3], f_first=[False, False]))
    unchanged()
    with pytest.raises(ValueError, match="uint8"):
        fs.write(_NO_SLOT, _msg(frames=[9], f_stream=[0], f_step=[2], f_first=[False])._replace(
            frames=np.zeros((1, 2, 2), np.float32)))
    with pytest.raises(ValueError, match="frames"):
        fs.write(_NO_SLOT, _msg(frames=[9], f_stream=[0], f_step=[2], f_first=[False])._replace(
            frames=np.zeros((1, 3, 2), np.uint8)))
    with pytest.raises(TypeError):
        fs.write(np.array([0]), Transitions(*([np.zeros(1)] * 5)))
    unchanged()


def test_frame_storage_rejects_evicted_and_too_old_frames():
    fs = FrameStorage(8, frame_shape=(2, 2), stack_size=2, frame_capacity=6, stream_window=4)
    vals = list(range(100, 110))
    # one message of 10 frames into a 6-frame ring: frames of steps 0..3 are overwritten
    m = _msg(frames=vals, f_stream=[0] * 10, f_step=list(range(10)), f_first=[True] + [False] * 9,
             stream=[0, 0, 0, 0], obs_step=[3, 5, 4, 8], next_step=[5, 6, 9, 9])
    np.testing.assert_array_equal(fs.write(np.array([0, 1, 2, 3]), m), [False, True, False, True])
    # step 4 is present but its stack needs step 3 (gone): rejected too
    np.testing.assert_array_equal(fs.valid(np.arange(4)), [False, True, False, True])
    out = fs.read(np.array([1, 3]))
    np.testing.assert_array_equal(_stack_values(out.obs), [[104, 105], [107, 108]])
    np.testing.assert_array_equal(_stack_values(out.next_obs), [[105, 106], [108, 109]])
    # step 5 is older than the stream window (last step 9, window 4: steps 6..9), though its
    # frame is still in the ring: rejected, no error
    m2 = _msg(stream=[0, 0], obs_step=[5, 8], next_step=[8, 9])
    np.testing.assert_array_equal(fs.write(np.array([4, 5]), m2), [False, True])
    # two more frames evict steps 4, 5: slot 1 (steps 4..6) becomes invalid, slot 3 stays
    fs.write(_NO_SLOT, _msg(frames=[1, 2], f_stream=[0, 0], f_step=[10, 11],
                                          f_first=[False, False]))
    np.testing.assert_array_equal(fs.valid(np.array([1, 3, 5])), [False, True, True])
    # a rejected write also invalidates what the slot held before
    np.testing.assert_array_equal(fs.write(np.array([3]), _msg(stream=[0], obs_step=[6], next_step=[7])), [False])
    assert not fs.valid(np.array([3]))[0]


def test_frame_storage_stack_size_one_and_bad_args():
    fs = FrameStorage(2, frame_shape=(2, 2), stack_size=1, frame_capacity=4)
    fs.write(np.array([0]), _msg(frames=[7, 8], f_stream=[1, 1], f_step=[0, 1], f_first=[True, False],
                                 stream=[1], obs_step=[0], next_step=[1]))
    out = fs.read(np.array([0]))
    np.testing.assert_array_equal(_stack_values(out.obs), [[7]])
    np.testing.assert_array_equal(_stack_values(out.next_obs), [[8]])
    for kw, name in [({"capacity": 0}, "capacity"), ({"frame_shape": (84,)}, "frame_shape"),
                     ({"stack_size": 0}, "stack_size"), ({"frame_capacity": 3}, "frame_capacity"),
                     ({"frame_capacity": 2**31}, "frame_capacity"), ({"stream_window": 0}, "stream_window")]:
        args = {"capacity": 10, **kw}
        with pytest.raises(ValueError, match=name):
            FrameStorage(**args)


def test_frame_storage_default_frame_capacity_and_nbytes():
    fs = FrameStorage(1000)
    assert fs.frame_capacity == 1000 + 1024
    fs = FrameStorage(1_000_000, stack_size=4)
    assert fs.frame_capacity == 1_000_000 + 10_000
    expected = fs.frame_capacity * (84 * 84 + 4) + fs.capacity * (8 + 4 + 4 + 8 + 4 + 4)
    assert fs.nbytes == expected  # no stream yet


def test_bytes_per_transition_at_100k():
    cap = 100_000
    fs = FrameStorage(cap)
    rb = PrioritizedReplay(fs)
    # register 64 streams (rings are allocated per stream) to count them too
    n = 64
    fs.write(_NO_SLOT, _msg(frames=list(range(n)), f_stream=list(range(n)),
                                         f_step=[0] * n, f_first=[True] * n)._replace(
        frames=np.zeros((n, 84, 84), np.uint8)))
    assert fs.num_streams == n
    assert fs.nbytes >= fs.frames.nbytes + 64 * 512 * 16
    assert fs.nbytes / cap <= 7200, fs.nbytes / cap
    assert rb.nbytes / cap <= 7200, rb.nbytes / cap
