"""The R2D2 sequence adder against hand-built trajectories: overlap, burn-in prefix, episode ends
inside a sequence, padding masks, and the stored state equal to the actor's state at that step."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.replay.sequence import SequenceItems
from apexrl.replay.sequence import SequenceAdder

B, M, P = 2, 4, 2  # burn-in, sequence length, period: T = 6
T = B + M


def _obs(e, ep, j):
    return 1000.0 * e + 100.0 * ep + j


def _run(lengths, ends, steps):
    """Drive 2 envs for ``steps`` steps; env e's episodes have lengths lengths[e] and end with
    ``ends[e]`` ("term" or "trunc"). Returns the emitted sequences per env, in order."""
    adder = SequenceAdder(2, (1,), np.float32, lstm_size=2, burn_in=B, sequence_length=M, sequence_period=P)
    ep, j = [0, 0], [0, 0]
    out = {0: [], 1: []}
    for _ in range(steps):
        obs = np.array([[_obs(e, ep[e], j[e])] for e in range(2)], dtype=np.float32)
        actions = np.array([j[e] % 3 for e in range(2)])
        reward = np.array([j[e] + 0.25 for e in range(2)], dtype=np.float32)
        state = np.array([[[j[e], ep[e]], [e, -j[e]]] for e in range(2)], dtype=np.float32)
        done = [j[e] + 1 == lengths[e] for e in range(2)]
        terminated = np.array([done[e] and ends[e] == "term" for e in range(2)])
        truncated = np.array([done[e] and ends[e] == "trunc" for e in range(2)])
        next_obs = np.array([[_obs(e, ep[e], j[e] + 1) + (0.5 if done[e] else 0.0)] for e in range(2)],
                            dtype=np.float32)
        items, prio = adder.add(obs, actions, reward, next_obs, terminated, truncated, extras={"state": state})
        assert prio is None
        for k in range(len(items)):
            e = int(items.obs[k, 0, 0] // 1000) if items.first_step[k] != B else int(items.obs[k, B, 0] // 1000)
            out[e].append({f: getattr(items, f)[k] for f in items.field_names()})
        for e in range(2):
            j[e] += 1
            if done[e]:
                ep[e] += 1
                j[e] = 0
    return out


def test_sequences_of_a_terminated_episode():
    seqs = _run([9, 1000], ["term", "term"], 9)[0]
    assert len(seqs) == 5  # loss starts 0, 2, 4, 6, 8 of a 9-step episode
    s0, s1, s2, s3, s4 = seqs
    # k = 0: the burn-in is padding before the episode; the loss part is steps 0..3
    np.testing.assert_array_equal(s0["mask"], [False, False, True, True, True, True])
    np.testing.assert_array_equal(s0["obs"][:, 0], [0, 0, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(s0["action"], [-1, -1, 0, 1, 2, 0])
    assert s0["first_step"] == B and s0["prev_action"] == -1 and s0["prev_reward"] == 0
    np.testing.assert_array_equal(s0["state"], np.zeros((2, 2)))
    # k = 1: steps 0..5 (burn-in 0, 1), bootstrap observation 6, the state entering step 0
    np.testing.assert_array_equal(s1["obs"][:, 0], np.arange(7))
    assert s1["mask"].all() and s1["first_step"] == 0
    np.testing.assert_array_equal(s1["state"], [[0, 0], [0, 0]])
    # k = 2: steps 2..7 overlap k = 1 by 4 steps; previous action / reward are step 1's
    np.testing.assert_array_equal(s2["obs"][:, 0], np.arange(2, 9))
    np.testing.assert_array_equal(s2["reward"], np.arange(2, 8) + 0.25)
    assert s2["prev_action"] == 1 and s2["prev_reward"] == 1.25 and s2["first_step"] == -1
    np.testing.assert_array_equal(s2["state"], [[2, 0], [0, -2]])  # the actor's state entering step 2
    # k = 3: steps 4..8, the episode ends inside: the final observation after step 8, padding after
    np.testing.assert_array_equal(s3["mask"], [True] * 5 + [False])
    np.testing.assert_array_equal(s3["obs"][:, 0], [4, 5, 6, 7, 8, 9.5, 0])
    np.testing.assert_array_equal(s3["discount"], [1, 1, 1, 1, 0, 1])
    np.testing.assert_array_equal(s3["action"], [1, 2, 0, 1, 2, -1])
    np.testing.assert_array_equal(s3["state"], [[4, 0], [0, -4]])
    # k = 4: steps 6..8, then the final observation and padding
    np.testing.assert_array_equal(s4["mask"], [True] * 3 + [False] * 3)
    np.testing.assert_array_equal(s4["obs"][:, 0], [6, 7, 8, 9.5, 0, 0, 0])
    np.testing.assert_array_equal(s4["reward"], [6.25, 7.25, 8.25, 0, 0, 0])
    # every loss step of the episode is in exactly M / P = 2 sequences' loss parts, except steps 0, 1
    counts = np.zeros(9, dtype=int)
    for s in seqs:
        real = s["obs"][:T, 0][s["mask"]]
        loss_steps = [int(o) for o, i in zip(s["obs"][:T, 0], range(T)) if i >= B and s["mask"][i]]
        counts[loss_steps] += 1
        assert len(real) == s["mask"].sum()
    np.testing.assert_array_equal(counts, [1, 1, 2, 2, 2, 2, 2, 2, 2])


def test_short_truncated_episode_and_the_next_one():
    seqs = _run([1000, 3], ["term", "trunc"], 6)[1]
    assert len(seqs) == 4  # two episodes of 3 steps, loss starts 0 and 2 each
    a, b, c, d = seqs
    np.testing.assert_array_equal(a["mask"], [False, False, True, True, True, False])
    np.testing.assert_array_equal(a["obs"][:, 0], [0, 0, 1000, 1001, 1002, 1003.5, 0])
    np.testing.assert_array_equal(a["discount"], np.ones(T))  # truncation keeps the bootstrap
    np.testing.assert_array_equal(b["mask"], [True] * 3 + [False] * 3)
    np.testing.assert_array_equal(b["obs"][:4, 0], [1000, 1001, 1002, 1003.5])
    assert b["first_step"] == 0
    # the second episode starts afresh: its own padding, no previous action, its own states
    np.testing.assert_array_equal(c["obs"][B:B + 4, 0], [1100, 1101, 1102, 1103.5])
    assert c["first_step"] == B and c["prev_action"] == -1
    np.testing.assert_array_equal(d["state"], [[0, 1], [1, 0]])


def test_without_burn_in_sequences_start_at_loss_starts():
    adder = SequenceAdder(1, (), np.int64, lstm_size=1, burn_in=0, sequence_length=3, sequence_period=3)
    got = []
    for j in range(7):
        items, _ = adder.add(np.array([j]), np.array([0]), np.array([1.0]), np.array([j + 1]), np.array([j == 6]),
                             np.array([False]), extras={"state": np.full((1, 2, 1), j, np.float32)})
        got += [items.obs[k] for k in range(len(items))]
        assert isinstance(items, SequenceItems)
    np.testing.assert_array_equal(np.stack(got), [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 0, 0]])


def test_adder_errors_name_the_flag():
    with pytest.raises(ValueError, match="--sequence-period"):
        SequenceAdder(1, (1,), np.float32, 4, 2, 4, 5)
    with pytest.raises(ValueError, match="--burn-in"):
        SequenceAdder(1, (1,), np.float32, 4, -1, 4, 2)
    adder = SequenceAdder(1, (1,), np.float32, 4, 2, 4, 2)
    with pytest.raises(ValueError, match="extras\\['state'\\]"):
        adder.add(np.zeros((1, 1)), np.zeros(1, int), np.zeros(1), np.zeros((1, 1)), np.zeros(1, bool),
                  np.zeros(1, bool))


def test_concat_and_len():
    adder = SequenceAdder(1, (1,), np.float32, 2, 1, 2, 1)
    empty = adder.empty()
    assert len(empty) == 0
    items = []
    for j in range(4):
        out, _ = adder.add(np.full((1, 1), j, np.float32), np.zeros(1, int), np.zeros(1), np.full((1, 1), j + 1.0),
                           np.zeros(1, bool), np.zeros(1, bool), extras={"state": np.zeros((1, 2, 2), np.float32)})
        items.append(out)
    both = SequenceItems.concat(items)
    assert len(both) == sum(len(x) for x in items) == 3
    with pytest.raises(ValueError):
        SequenceItems.concat([])
