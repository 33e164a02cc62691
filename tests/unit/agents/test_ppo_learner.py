"""The actor-critic policy (samples, log-probabilities, values), the learner's update and
checkpoint state, and the config checks of ``ppo`` / ``a2c``."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from apexrl.agents import get_agent
from apexrl.agents.ac.config import ActorCriticAgentConfig, ActorCriticConfig
from apexrl.agents.ac.learner import ActorCriticLearner
from apexrl.agents.ac.policy import ActorCriticPolicy, build_network, greedy_actions
from apexrl.agents.ac.presets import a2c_cartpole, ppo_cartpole, ppo_pendulum
from apexrl.config import ActorConfig, ReplayConfig
from apexrl.envs import env_info
from apexrl.replay.rollout import Rollout, RolloutSample


@pytest.fixture(scope="module")
def cartpole():
    return env_info("CartPole-v1")


@pytest.fixture(scope="module")
def pendulum():
    return env_info("Pendulum-v1")


def test_categorical_policy_step(cartpole):
    config = ppo_cartpole()
    net = build_network(config, cartpole)
    policy = ActorCriticPolicy(config, cartpole, net, 0, np.random.default_rng(0))
    obs = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    step = policy.step(obs)
    assert step.actions.shape == (5,) and step.actions.dtype == np.int64
    np.testing.assert_array_equal(step.env_actions, step.actions)
    with torch.no_grad():
        logits, value = net.heads(torch.from_numpy(obs))
    expected = D.Categorical(logits=logits).log_prob(torch.from_numpy(step.actions)).numpy()
    np.testing.assert_allclose(step.extras["log_prob"], expected, rtol=1e-5)
    np.testing.assert_allclose(step.q_taken, value.numpy(), rtol=1e-6)
    np.testing.assert_allclose(policy.value(obs), value.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(greedy_actions(net, obs, cartpole.action_space), logits.argmax(-1).numpy())


def test_categorical_samples_follow_the_softmax(cartpole):
    config = ppo_cartpole()
    net = build_network(config, cartpole)
    with torch.no_grad():
        net.policy_head.weight.zero_()
        net.policy_head.bias.copy_(torch.tensor([0.0, math.log(3.0)]))  # p = [0.25, 0.75]
    policy = ActorCriticPolicy(config, cartpole, net, 0, np.random.default_rng(5))
    obs = np.zeros((4000, 4), np.float32)
    share = policy.step(obs).actions.mean()
    assert abs(share - 0.75) < 0.025  # 4000 draws: the standard error is 0.007


@pytest.mark.parametrize("squash", [False, True])
def test_gaussian_policy_step(pendulum, squash):
    config = ppo_pendulum()
    config = dataclasses.replace(config, learner=dataclasses.replace(config.learner, squash=squash, log_std_init=0.3))
    net = build_network(config, pendulum)
    policy = ActorCriticPolicy(config, pendulum, net, 0, np.random.default_rng(0))
    obs = np.random.default_rng(2).normal(size=(64, 3)).astype(np.float32)
    step = policy.step(obs)
    assert step.actions.shape == (64, 1) and step.actions.dtype == np.float32
    with torch.no_grad():
        mean, _ = net.heads(torch.from_numpy(obs))
    base = D.Normal(mean.double(), torch.full_like(mean, 0.3).exp().double())
    u = torch.from_numpy(step.actions).double()
    if squash:
        dist = D.Independent(D.TransformedDistribution(base, [D.TanhTransform()]), 1)
        expected = dist.log_prob(torch.tanh(u))
        env = 2.0 * np.tanh(step.actions)
    else:
        expected = D.Independent(base, 1).log_prob(u)
        env = 2.0 * np.clip(step.actions, -1, 1)
    np.testing.assert_allclose(step.extras["log_prob"], expected.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(step.env_actions, env, rtol=1e-6)  # Pendulum's bounds are ±2
    assert (np.abs(step.actions) > 1).any()  # σ = e^0.3: the stored sample is not clipped
    greedy = greedy_actions(net, obs, pendulum.action_space)
    mode = torch.tanh(mean) if squash else mean.clamp(-1, 1)
    np.testing.assert_allclose(greedy, 2.0 * mode.numpy(), rtol=1e-5)


def _batch(net, info, t_len=8, e=4, seed=0, advantage_action=1):
    """A rollout where action ``advantage_action`` earns reward 1 and the other −1 (every step terminal)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(t_len, e, 4)).astype(np.float32)
    policy = ActorCriticPolicy(None, info, net, 0, rng)
    steps = [policy.step(obs[t]) for t in range(t_len)]
    actions = np.stack([s.actions for s in steps])
    rollout = Rollout(obs=obs, actions=actions, rewards=np.where(actions == advantage_action, 1.0, -1.0).astype(np.float32),
                      terminated=np.ones((t_len, e), bool), truncated=np.zeros((t_len, e), bool),
                      values=np.stack([s.value for s in steps]), next_values=np.zeros((t_len, e), np.float32),
                      log_probs=np.stack([s.extras["log_prob"] for s in steps]))
    return RolloutSample(np.arange(2), rollout), obs


def _prob_of(net, obs, action):
    with torch.no_grad():
        logits, _ = net.heads(torch.from_numpy(obs.reshape(-1, 4)))
        return float(torch.softmax(logits, -1)[:, action].mean())


@pytest.mark.parametrize("preset", [ppo_cartpole, a2c_cartpole])
def test_update_steps_and_improves_the_policy(cartpole, preset):
    config = preset()
    lc = dataclasses.replace(config.learner, n_step=8, batch_size=32,
                             learning_rate=3e-3 if config.learner.optimizer == "adam" else 1e-2)
    config = ActorCriticAgentConfig(run=config.run, learner=lc,
                                    actor=dataclasses.replace(config.actor, envs_per_actor=4, local_buffer_size=32),
                                    replay=ReplayConfig(prioritized=False, replay_capacity=32, learning_starts=32))
    learner = ActorCriticLearner(config, cartpole, seed=0)
    sample, obs = _batch(learner.network, cartpole)
    before = _prob_of(learner.network, obs, 1)
    priorities, metrics = learner.update(sample)
    np.testing.assert_array_equal(priorities, np.zeros(2, np.float32))
    state = learner.optimizer.state[learner.network.log_std if learner.network.log_std is not None
                                    else learner.network.policy_head.bias]
    expected_steps = config.learner.epochs * config.learner.num_minibatches  # PPO: 20 × 1; A2C: 1 × 1
    if config.learner.optimizer == "adam":
        assert int(state["step"]) == expected_steps
    else:
        assert int(state["step"]) == 1 and expected_steps == 1
    assert learner.steps == 1 and learner.consecutive_skipped == 0
    assert _prob_of(learner.network, obs, 1) > before + 0.01  # the rewarded action became likelier
    for key in ("learner/loss", "learner/policy_loss", "learner/value_loss", "learner/entropy", "learner/approx_kl"):
        assert math.isfinite(metrics[key]), key


def test_nonfinite_batch_is_skipped(cartpole):
    config = ppo_cartpole()
    learner = ActorCriticLearner(config, cartpole, seed=0)
    sample, _ = _batch(learner.network, cartpole)
    sample.data.rewards[0, 0] = np.nan
    before = [p.detach().clone() for p in learner.network.parameters()]
    learner.update(sample)
    assert learner.consecutive_skipped == 1 and learner.skipped_updates == 1
    for b, p in zip(before, learner.network.parameters()):
        torch.testing.assert_close(b, p.detach())


def test_annealing(cartpole):
    learner = ActorCriticLearner(ppo_cartpole(), cartpole, seed=0)
    learner.set_progress(0.25)
    assert learner.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.75)
    assert learner.clip_range == pytest.approx(0.2 * 0.75)
    a2c = ActorCriticLearner(a2c_cartpole(), cartpole, seed=0)
    a2c.set_progress(0.5)
    assert a2c.optimizer.param_groups[0]["lr"] == pytest.approx(3.5e-4) and a2c.clip_range is None
    constant = dataclasses.replace(a2c_cartpole(), learner=dataclasses.replace(a2c_cartpole().learner,
                                                                               learning_rate_final_fraction=None))
    fixed = ActorCriticLearner(constant, cartpole, seed=0)
    fixed.set_progress(0.5)
    assert fixed.optimizer.param_groups[0]["lr"] == pytest.approx(7e-4)
    assert isinstance(a2c.optimizer, torch.optim.RMSprop)


def test_state_round_trip(cartpole, pendulum):
    learner = ActorCriticLearner(ppo_cartpole(), cartpole, seed=0)
    sample, _ = _batch(learner.network, cartpole)
    learner.update(sample)
    learner.set_progress(0.5)
    tensors, meta = learner.state_dict()
    other = ActorCriticLearner(ppo_cartpole(), cartpole, seed=1)
    other.load_state_dict(tensors, meta)
    for a, b in zip(learner.network.state_dict().values(), other.network.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert other.steps == 1 and other.clip_range == pytest.approx(0.1)
    s1, s2 = learner.optimizer.state_dict()["state"], other.optimizer.state_dict()["state"]
    torch.testing.assert_close(s1[0]["exp_avg"], s2[0]["exp_avg"])
    with pytest.raises(ValueError, match="does not fit"):
        ActorCriticLearner(ppo_pendulum(), pendulum, seed=0).load_state_dict(tensors, meta)
    with pytest.raises(ValueError, match="not a 'actor_critic'"):
        other.load_state_dict(tensors, {**meta, "learner": "sac"})


def test_config_errors():
    with pytest.raises(ValueError, match=r"invalid batch_size=100 \(--batch-size\): must be a multiple"):
        ActorCriticAgentConfig(learner=ActorCriticConfig(n_step=128, batch_size=100, num_minibatches=1))
    with pytest.raises(ValueError, match=r"invalid samples_per_insert=1.0 \(--samples-per-insert\)"):
        ActorCriticAgentConfig(replay=ReplayConfig(replay_capacity=512, learning_starts=512, samples_per_insert=1.0))
    with pytest.raises(ValueError, match=r"invalid replay_capacity=256 \(--replay-capacity\)"):
        ActorCriticAgentConfig(replay=ReplayConfig(replay_capacity=256, learning_starts=256))
    with pytest.raises(ValueError, match=r"invalid local_buffer_size=1024 \(--local-buffer-size\)"):
        ActorCriticAgentConfig(actor=ActorConfig(envs_per_actor=4, local_buffer_size=1024))
    with pytest.raises(ValueError, match=r"invalid gae_lambda=1.5 \(--gae-lambda\)"):
        ActorCriticConfig(gae_lambda=1.5)
    with pytest.raises(ValueError, match=r"invalid num_minibatches=3 \(--num-minibatches\): must divide"):
        ActorCriticConfig(num_minibatches=3)
    with pytest.raises(ValueError, match=r"invalid clip_range=0.0 \(--clip-range\)"):
        ActorCriticConfig(clip_range=0.0)


def test_registered_for_both_action_spaces():
    for name in ("ppo", "a2c"):
        agent = get_agent(name)
        assert agent.action_kind == "any" and agent.build_adder is not None
        assert set(agent.presets) >= {"cartpole"}
    assert "pendulum" in get_agent("ppo").presets


@pytest.mark.parametrize("squash", [False, True])
def test_gaussian_update_moves_the_mean_towards_rewarded_actions(pendulum, squash):
    base = ppo_pendulum()
    lc = dataclasses.replace(base.learner, n_step=16, batch_size=64, num_minibatches=2, epochs=4, squash=squash,
                             learning_rate=3e-3)
    config = ActorCriticAgentConfig(run=base.run, learner=lc,
                                    actor=dataclasses.replace(base.actor, envs_per_actor=4, local_buffer_size=64),
                                    replay=ReplayConfig(prioritized=False, replay_capacity=64, learning_starts=64))
    learner = ActorCriticLearner(config, pendulum, seed=0)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(16, 4, 3)).astype(np.float32)
    policy = ActorCriticPolicy(config, pendulum, learner.network, 0, rng)
    steps = [policy.step(obs[t]) for t in range(16)]
    actions = np.stack([s.actions for s in steps])  # [16, 4, 1] Gaussian samples u
    rollout = Rollout(obs=obs, actions=actions, rewards=np.sign(actions[..., 0]).astype(np.float32),
                      terminated=np.ones((16, 4), bool), truncated=np.zeros((16, 4), bool),
                      values=np.stack([s.value for s in steps]), next_values=np.zeros((16, 4), np.float32),
                      log_probs=np.stack([s.extras["log_prob"] for s in steps]))
    with torch.no_grad():
        before = float(learner.network.heads(torch.from_numpy(obs.reshape(-1, 3)))[0].mean())
    _, metrics = learner.update(RolloutSample(np.arange(1), rollout))
    with torch.no_grad():
        after = float(learner.network.heads(torch.from_numpy(obs.reshape(-1, 3)))[0].mean())
    assert after > before + 0.01  # positive actions were rewarded: the mean moved up
    assert all(math.isfinite(metrics[k]) for k in ("learner/loss", "learner/entropy", "learner/approx_kl"))
    assert learner.consecutive_skipped == 0
