"""NStepAdder: hand-worked n-step returns, a brute-force oracle, priorities, concat_items."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay import NStepAdder, concat_items, num_items
from apexrl.types import FrameTransitions, Transitions

G = 0.9


def _step(adder, obs, rew, nxt, term=(False, False), trunc=(False, False), q=None, v=None):
    obs = np.array(obs, dtype=np.float32)[:, None]
    nxt = np.array(nxt, dtype=np.float32)[:, None]
    action = obs[:, 0].astype(np.int64) + 1000
    return adder.add(obs, action, np.array(rew, np.float32), nxt, np.array(term), np.array(trunc),
                     q_taken=None if q is None else np.array(q), next_value=None if v is None else np.array(v))


def _check(items, obs, reward, discount, next_obs):
    assert isinstance(items, Transitions)
    np.testing.assert_array_equal(items.obs[:, 0], obs)
    np.testing.assert_array_equal(items.action, np.array(obs, dtype=np.int64) + 1000)
    np.testing.assert_allclose(items.reward, reward, rtol=1e-6)
    np.testing.assert_allclose(items.discount, discount, rtol=1e-6)
    np.testing.assert_array_equal(items.next_obs[:, 0], next_obs)
    assert items.action.dtype == np.int64
    assert items.reward.dtype == np.float32 and items.discount.dtype == np.float32


def test_hand_worked_two_envs_out_of_phase():
    """n = 3, γ = 0.9. Observations are codes: env 0 episode A is 0,1,2,3 (terminates, final
    obs 4), episode B 300,301,302; env 1 episode A is 100,101 (time-limit truncation, final
    obs 102), episode B 200,201,...; q(s,a) = obs/2 and V(s_{t+1}) = 2 + call index."""
    ad = NStepAdder(num_envs=2, n_step=3, gamma=G)

    def q(o):
        return [o[0] / 2, o[1] / 2]

    # call 1
    items, pr = _step(ad, [0, 100], [1, 10], [1, 101], q=q([0, 100]), v=[3, 3])
    _check(items, [], [], [], [])
    assert pr.shape == (0,) and pr.dtype == np.float32
    # call 2: env 1 truncated with 2 pending: k = 2 and k = 1, bootstrap from final obs 102
    items, pr = _step(ad, [1, 101], [2, 20], [2, 102], trunc=(False, True), q=q([1, 101]), v=[4, 4])
    _check(items, [100, 101], [10 + 0.9 * 20, 20], [0.81, 0.9], [102, 102])
    np.testing.assert_allclose(pr, [abs(28 + 0.81 * 4 - 50), abs(20 + 0.9 * 4 - 50.5)], rtol=1e-6)
    # call 3: env 0 window full: R = 1 + .9*2 + .81*3 = 5.23, discount .729, next obs 3
    items, pr = _step(ad, [2, 200], [3, 30], [3, 201], q=q([2, 200]), v=[5, 5])
    _check(items, [0], [5.23], [0.729], [3])
    np.testing.assert_allclose(pr, [abs(5.23 + 0.729 * 5 - 0)], rtol=1e-6)
    # call 4: env 0 terminates: every pending item, truncated return, discount 0
    items, pr = _step(ad, [3, 201], [4, 40], [4, 202], term=(True, False), q=q([3, 201]), v=[6, 6])
    _check(items, [1, 2, 3], [2 + 2.7 + 3.24, 3 + 3.6, 4], [0, 0, 0], [4, 4, 4])
    np.testing.assert_allclose(pr, [abs(7.94 - 0.5), abs(6.6 - 1.0), abs(4 - 1.5)], rtol=1e-6)
    # call 5: env 0 restarts (300); env 1 window full: 30 + .9*40 + .81*50 = 106.5
    items, pr = _step(ad, [300, 202], [5, 50], [301, 203], q=q([300, 202]), v=[7, 7])
    _check(items, [200], [106.5], [0.729], [203])
    np.testing.assert_allclose(pr, [abs(106.5 + 0.729 * 7 - 100)], rtol=1e-6)
    # call 6: env 1: 40 + .9*50 + .81*60 = 133.6
    items, pr = _step(ad, [301, 203], [6, 60], [302, 204], q=q([301, 203]), v=[8, 8])
    _check(items, [201], [133.6], [0.729], [204])
    np.testing.assert_allclose(pr, [abs(133.6 + 0.729 * 8 - 100.5)], rtol=1e-6)
    # call 7: env 0 terminated AND truncated = terminated (discount 0); env 1 window full
    items, pr = _step(ad, [302, 204], [7, 70], [303, 205], term=(True, False), trunc=(True, False),
                      q=q([302, 204]), v=[9, 9])
    _check(items, [300, 301, 302, 202], [5 + 5.4 + 5.67, 6 + 6.3, 7, 50 + 54 + 56.7],
           [0, 0, 0, 0.729], [303, 303, 303, 205])
    np.testing.assert_allclose(
        pr, [abs(16.07 - 150), abs(12.3 - 150.5), abs(7 - 151), abs(160.7 + 0.729 * 9 - 101)], rtol=1e-6
    )


def test_truncation_with_full_window_and_n1():
    ad = NStepAdder(1, 3, G)
    for t in range(2):
        items, pr = ad.add(np.array([[t]]), [0], [1.0], np.array([[t + 1]]), [False], [False])
        assert num_items(items) == 0 and pr is None
    items, _ = ad.add(np.array([[2]]), [0], [1.0], np.array([[3]]), [False], [True])
    np.testing.assert_array_equal(items.obs[:, 0], [0, 1, 2])
    np.testing.assert_allclose(items.reward, [2.71, 1.9, 1.0], rtol=1e-6)
    np.testing.assert_allclose(items.discount, [0.729, 0.81, 0.9], rtol=1e-6)
    np.testing.assert_array_equal(items.next_obs[:, 0], [3, 3, 3])
    # n = 1: one-step transitions
    ad = NStepAdder(2, 1, 0.5)
    items, _ = ad.add(np.array([[0], [10]]), [1, 2], [3.0, 4.0], np.array([[1], [11]]),
                      [False, True], [False, False])
    np.testing.assert_array_equal(items.obs[:, 0], [0, 10])
    np.testing.assert_array_equal(items.reward, [3.0, 4.0])
    np.testing.assert_array_equal(items.discount, [0.5, 0.0])
    np.testing.assert_array_equal(items.next_obs[:, 0], [1, 11])


def _oracle(episodes, n, gamma):
    """Brute force: every transition of every (possibly unfinished) episode, keyed by obs code."""
    out = {}
    for ep in episodes:
        obs, rews, end = ep["obs"], ep["rew"], ep["end"]
        length = len(rews)
        for t in range(length):
            k = min(n, length - t)
            if k < n and end is None:
                continue  # not complete yet
            ret = sum(gamma**i * rews[t + i] for i in range(k))
            disc = 0.0 if (t + k == length and end == "term") else gamma**k
            out[obs[t]] = (ret, disc, obs[t + k])
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_random_trajectories_vs_oracle(n):
    rng = np.random.default_rng(n)
    num_envs, steps, gamma = 4, 300, 0.97
    ad = NStepAdder(num_envs, n, gamma)
    code = 0
    cur = []
    episodes = []
    for e in range(num_envs):
        cur.append({"obs": [code], "rew": [], "end": None})
        episodes.append(cur[e])
        code += 1
    got = {}
    for _ in range(steps):
        obs = np.array([c["obs"][-1] for c in cur], np.float64)
        rew = rng.normal(size=num_envs).round(3)
        nxt = np.arange(code, code + num_envs, dtype=np.float64)
        code += num_envs
        u = rng.random(num_envs)
        term, trunc = u < 0.08, (u >= 0.08) & (u < 0.14)
        items, _ = ad.add(obs[:, None], np.zeros(num_envs, np.int64), rew, nxt[:, None], term, trunc)
        for o, r, d, x in zip(items.obs[:, 0], items.reward, items.discount, items.next_obs[:, 0]):
            assert o not in got, "transition emitted twice"
            got[o] = (r, d, x)
        for e in range(num_envs):
            cur[e]["rew"].append(rew[e])
            cur[e]["obs"].append(nxt[e])
            if term[e] or trunc[e]:
                cur[e]["end"] = "term" if term[e] else "trunc"
                cur[e] = {"obs": [code], "rew": [], "end": None}
                code += 1
                episodes.append(cur[e])
    expected = _oracle(episodes, n, gamma)
    assert set(got) == set(expected)
    for o, (r, d, x) in expected.items():
        np.testing.assert_allclose(got[o][:2], (r, d), rtol=1e-5, atol=1e-5)
        assert got[o][2] == x


def test_frame_stack_ids_and_frames():
    """Frame mode: step ids per stream, first frames, next frames, refs (stack size 2, 1x1 frames)."""
    ad = NStepAdder(2, 2, G, frame_stack=True, stream_offset=10)

    def st(vals):  # [E, S=2, 1, 1] stacks whose newest frame holds vals
        v = np.array(vals, np.uint8)
        return np.stack([v, v], axis=1)[:, :, None, None]

    items, _ = ad.add(st([1, 5]), [0, 0], [1.0, 1.0], st([2, 6]), [False, True], [False, False])
    assert isinstance(items, FrameTransitions)
    np.testing.assert_array_equal(items.frames[:, 0, 0], [1, 5, 2, 6])
    np.testing.assert_array_equal(items.frame_stream, [10, 11, 10, 11])
    np.testing.assert_array_equal(items.frame_step, [0, 0, 1, 1])
    np.testing.assert_array_equal(items.frame_first, [True, True, False, False])
    # env 1 terminated at once: transition (stream 11, step 0 -> step 1), discount 0
    np.testing.assert_array_equal(items.stream, [11])
    np.testing.assert_array_equal(items.obs_step, [0])
    np.testing.assert_array_equal(items.next_step, [1])
    np.testing.assert_array_equal(items.discount, [0.0])
    # env 1 starts a new episode: its first frame is sent again as a new step (2)
    items, _ = ad.add(st([2, 7]), [0, 0], [2.0, 3.0], st([3, 8]), [False, False], [False, False])
    np.testing.assert_array_equal(items.frames[:, 0, 0], [7, 3, 8])
    np.testing.assert_array_equal(items.frame_stream, [11, 10, 11])
    np.testing.assert_array_equal(items.frame_step, [2, 2, 3])
    np.testing.assert_array_equal(items.frame_first, [True, False, False])
    np.testing.assert_array_equal(items.stream, [10])
    np.testing.assert_array_equal(items.obs_step, [0])
    np.testing.assert_array_equal(items.next_step, [2])
    np.testing.assert_allclose(items.reward, [1 + 0.9 * 2])
    np.testing.assert_allclose(items.discount, [0.81])


def test_concat_items():
    ad = NStepAdder(1, 1, G)
    a, _ = ad.add(np.zeros((1, 2)), [1], [1.0], np.ones((1, 2)), [False], [False])
    b, _ = ad.add(np.ones((1, 2)), [2], [2.0], np.full((1, 2), 2.0), [True], [False])
    c = concat_items([a, b])
    assert isinstance(c, Transitions) and num_items(c) == 2
    np.testing.assert_array_equal(c.action, [1, 2])
    np.testing.assert_array_equal(c.next_obs, [[1, 1], [2, 2]])
    f = FrameTransitions(*(np.zeros((1, 3, 3), np.uint8) if i == 0 else np.arange(1) for i in range(10)))
    ff = concat_items([f, f, f])
    assert ff.frames.shape == (3, 3, 3) and num_items(ff) == 3
    with pytest.raises(ValueError):
        concat_items([])
    with pytest.raises(TypeError):
        concat_items([a, f])


def test_validation():
    for kw, name in [({"num_envs": 0}, "num_envs"), ({"n_step": 0}, "n_step"),
                     ({"gamma": 1.5}, "gamma"), ({"stream_offset": -1}, "stream_offset")]:
        args = {"num_envs": 2, "n_step": 3, "gamma": 0.9, **kw}
        with pytest.raises(ValueError, match=name):
            NStepAdder(**args)
    ad = NStepAdder(2, 3, G)
    z = np.zeros((2, 1))
    with pytest.raises(ValueError, match="reward"):
        ad.add(z, [0, 0], [1.0], z, [False, False], [False, False])
    with pytest.raises(ValueError, match="together"):
        ad.add(z, [0, 0], [1.0, 1.0], z, [False, False], [False, False], q_taken=[0.0, 0.0])
    with pytest.raises(ValueError, match="next_obs"):
        ad.add(z, [0, 0], [1.0, 1.0], np.zeros((2, 2)), [False, False], [False, False])
    # nothing was pushed by the failed calls
    items, _ = ad.add(z, [0, 0], [1.0, 1.0], z, [True, False], [False, False])
    assert num_items(items) == 1
    with pytest.raises(ValueError, match="uint8"):
        NStepAdder(1, 1, G, frame_stack=True).add(np.zeros((1, 4, 2, 2)), [0], [0.0],
                                                  np.zeros((1, 4, 2, 2)), [False], [False])
