"""The R2D2 learner: burn-in steps get no gradient, the stored state and the episode-start reset
are used as documented, priorities are the η-mixture of the loss steps' |δ|."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from gymnasium import spaces

from apexrl.agents.r2d2.config import R2D2AgentConfig, R2D2Config
from apexrl.agents.r2d2.learner import R2D2Learner, unroll
from apexrl.envs import EnvSpecInfo
from apexrl.nets.recurrent import build_recurrent_q_network
from apexrl.replay.sequence import SequenceAdder, SequenceItems
from apexrl.types import SampledBatch

INFO = EnvSpecInfo(env_id="fake", obs_shape=(3,), obs_dtype=np.dtype(np.float32), action_space=spaces.Discrete(2),
                   num_actions=2, kind="vector", frame_stack=0, observation_space=spaces.Box(-1, 1, (3,)))


def _config(**learner):
    base = dict(burn_in=3, sequence_length=4, sequence_period=2, lstm_size=8, hidden_sizes=(8,), head_hidden=8,
                n_step=2, gamma=0.9, batch_size=4, learning_rate=1e-3, target_update_period=10, device="cpu")
    base.update(learner)
    return R2D2AgentConfig(learner=R2D2Config(**base))


def _batch(config, n=8, seed=0):
    lc = config.learner
    adder = SequenceAdder(1, (3,), np.float32, lc.lstm_size, lc.burn_in, lc.sequence_length, lc.sequence_period)
    rng = np.random.default_rng(seed)
    out = []
    while sum(len(x) for x in out) < n:
        done = rng.random() < 0.05
        items, _ = adder.add(rng.normal(size=(1, 3)).astype(np.float32), rng.integers(0, 2, 1), rng.normal(size=1),
                             rng.normal(size=(1, 3)).astype(np.float32), np.array([done]), np.array([False]),
                             extras={"state": rng.normal(size=(1, 2, lc.lstm_size)).astype(np.float32)})
        if len(items):
            out.append(items)
    items = SequenceItems.concat(out)
    items = SequenceItems(*(getattr(items, f)[:n] for f in items.field_names()))
    return SampledBatch(keys=np.arange(n), data=items, weights=np.ones(n, np.float32))


def test_unroll_gives_no_gradient_to_burn_in_steps():
    torch.manual_seed(0)
    net = build_recurrent_q_network("vector", (3,), 2, (8,), 8, 8)
    inputs = torch.randn(4, 8, net.lstm.input_size, requires_grad=True)
    state = net.initial_state(4)
    q = unroll(net, inputs, state, torch.full((4,), -1), burn_in=3, grad=True)
    assert q.shape == (4, 5, 2)
    q.sum().backward()
    assert torch.count_nonzero(inputs.grad[:, :3]) == 0
    assert torch.count_nonzero(inputs.grad[:, 3:]) > 0


def test_learner_runs_burn_in_without_gradient():
    config = _config()
    learner = R2D2Learner(config, INFO, seed=0)
    calls = []
    learner.online.torso.register_forward_hook(lambda m, i, o: calls.append((o.shape[0], o.requires_grad)))
    loss, priorities, _ = learner.loss(_batch(config, n=4))
    b, burn, t = 4, 3, 7
    assert sorted(calls) == sorted([(b * (t + 1 - burn), True), (b * burn, False)])
    loss.backward()
    assert all(p.grad is not None for p in learner.online.parameters())
    assert priorities.shape == (4,) and (priorities >= 0).all()


def test_stored_state_is_used_and_zero_state_ignores_it():
    config = _config(burn_in=0)
    batch = _batch(config, n=6)
    mid = batch.data.first_step == -1
    assert mid.any()
    stored = R2D2Learner(config, INFO, seed=0)
    zero = R2D2Learner(dataclasses.replace(config, learner=dataclasses.replace(config.learner, stored_state=False)),
                       INFO, seed=0)
    l1, p1, _ = stored.loss(batch)
    l2, p2, _ = zero.loss(batch)
    assert not torch.allclose(p1[torch.from_numpy(mid)], p2[torch.from_numpy(mid)])
    cleared = batch._replace(data=dataclasses.replace(batch.data, state=np.zeros_like(batch.data.state)))
    l3, p3, _ = stored.loss(cleared)
    torch.testing.assert_close(p3, p2)
    torch.testing.assert_close(l3, l2)


def test_episode_start_resets_the_state_after_padding():
    config = _config()
    batch = _batch(config, n=8)
    starts = batch.data.first_step == config.learner.burn_in
    assert starts.any()
    learner = R2D2Learner(config, INFO, seed=0)
    _, p, _ = learner.loss(batch)
    d = batch.data
    noise = np.where(starts[:, None, None], 7.0, 0.0).astype(np.float32)
    changed = dataclasses.replace(d, obs=d.obs.copy(), state=d.state + noise)
    changed.obs[starts, : config.learner.burn_in] += 5.0  # padding observations and state do not matter
    _, p2, _ = learner.loss(batch._replace(data=changed))
    torch.testing.assert_close(p2[torch.from_numpy(starts)], p[torch.from_numpy(starts)])


def test_update_fits_a_fixed_batch_and_returns_mixture_priorities():
    config = _config(learning_rate=3e-3, target_update_period=10_000)  # fixed targets: a regression
    learner = R2D2Learner(config, INFO, seed=1)
    batch = _batch(config, n=16, seed=3)
    first, _ = learner.update(batch)
    for _ in range(200):
        prio, metrics = learner.update(batch)
    assert prio.dtype == np.float32 and prio.shape == (16,)
    assert prio.mean() < 0.5 * first.mean()
    assert metrics["learner/loss"] >= 0 and np.isfinite(metrics["learner/grad_norm"])
    assert learner.steps == 201


def test_priorities_equal_the_mixture_of_td_errors():
    config = _config(priority_eta=0.9)
    learner = R2D2Learner(config, INFO, seed=0)
    batch = _batch(config, n=4)
    _, p, metrics = learner.loss(batch)
    # recompute |δ| with eta 1 and 0: p = 0.9·max + 0.1·mean
    hi = R2D2Learner(dataclasses.replace(config, learner=dataclasses.replace(config.learner, priority_eta=1.0)),
                     INFO, seed=0).loss(batch)[1]
    lo = R2D2Learner(dataclasses.replace(config, learner=dataclasses.replace(config.learner, priority_eta=0.0)),
                     INFO, seed=0).loss(batch)[1]
    torch.testing.assert_close(p, 0.9 * hi + 0.1 * lo)
    assert (hi >= lo).all()
    assert metrics["learner/td_abs_mean"] > 0


def test_checkpoint_round_trip_and_mismatch():
    config = _config()
    a = R2D2Learner(config, INFO, seed=0)
    a.update(_batch(config, n=4))
    tensors, meta = a.state_dict()
    b = R2D2Learner(config, INFO, seed=5)
    b.load_state_dict(tensors, meta)
    for x, y in zip(a.online.parameters(), b.online.parameters()):
        torch.testing.assert_close(x, y)
    assert b.steps == 1
    with pytest.raises(ValueError, match="not an 'r2d2'"):
        b.load_state_dict(tensors, {**meta, "learner": "dqn"})
    other = R2D2Learner(_config(lstm_size=16), INFO, seed=0)
    with pytest.raises(ValueError, match="does not fit"):
        other.load_state_dict(tensors, meta)


def test_config_errors_name_the_flag():
    with pytest.raises(ValueError, match=r"invalid burn_in=-1 \(--burn-in\)"):
        R2D2Config(burn_in=-1)
    with pytest.raises(ValueError, match="--sequence-period"):
        R2D2Config(sequence_length=10, sequence_period=20)
    with pytest.raises(ValueError, match="--priority-eta"):
        R2D2Config(priority_eta=2.0)
