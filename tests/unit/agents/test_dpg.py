"""DPG losses (DDPG / TD3 / D4PG) against finite differences and hand-computed values, and the
DPG agent's config and actor policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import apexrl.losses.dpg as dpg
from apexrl.agents.common import box_action_space
from apexrl.agents.dpg import DPGAgentConfig, DPGConfig, GaussianNoiseConfig, apex_noise_scale, build_policy
from apexrl.agents.dpg.policy import build_network
from apexrl.config import ReplayConfig, RunConfig
from apexrl.envs import env_info
from apexrl.losses import TorchBatch
from apexrl.nets.continuous import Critic, DeterministicPolicy


def _batch(obs, action, reward, discount, next_obs, weights=None) -> TorchBatch:
    t = lambda x: torch.as_tensor(x, dtype=torch.float64 if isinstance(x, np.ndarray) and x.dtype == np.float64
                                  else torch.float32)
    w = torch.ones(len(reward)) if weights is None else t(weights)
    return TorchBatch(t(obs), t(action), t(reward), t(discount), t(next_obs), w)


def test_dpg_actor_gradient_matches_finite_differences():
    torch.manual_seed(0)
    policy = DeterministicPolicy("vector", (3,), 2, (4,)).double()
    critic = Critic("vector", (3,), 2, (5,)).double()
    critic.requires_grad_(False)
    for torso in (policy.torso, critic.torso):  # the torsos cast to float32; keep float64 for the differences
        torso.prepare = lambda x: x.reshape(x.shape[0], -1)
    obs = torch.randn(6, 3, dtype=torch.float64)
    loss = dpg.dpg_actor_loss(policy, critic, obs)
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    h = 1e-6
    for param, grad in zip(policy.parameters(), grads):
        flat, numeric = param.data.view(-1), torch.zeros(param.numel(), dtype=torch.float64)
        for i in range(param.numel()):
            old = float(flat[i])
            flat[i] = old + h
            with torch.no_grad():
                plus = float(dpg.dpg_actor_loss(policy, critic, obs))
                flat[i] = old - h
                minus = float(dpg.dpg_actor_loss(policy, critic, obs))
            flat[i] = old
            numeric[i] = (plus - minus) / (2 * h)
        torch.testing.assert_close(grad.view(-1), numeric, rtol=1e-5, atol=1e-8)
    assert any(float(g.abs().max()) > 1e-4 for g in grads)  # a real gradient, not all zeros
    # and it is the deterministic policy gradient -mean dQ/da · dμ/dθ (Silver et al. 2014)
    a = policy(obs).detach().requires_grad_(True)
    dq_da = torch.autograd.grad(critic(obs, a).sum(), a)[0]
    chain = torch.autograd.grad(policy(obs), list(policy.parameters()), grad_outputs=-dq_da / obs.shape[0])
    for g, c in zip(grads, chain):
        torch.testing.assert_close(g, c)


class _FixedPolicy(nn.Module):
    def __init__(self, actions):
        super().__init__()
        self.actions = torch.tensor(actions, dtype=torch.float32)

    def forward(self, obs):
        return self.actions


class _LinearTwin(nn.Module):
    """Q_1 = 2·Σa + obs_0, Q_2 = 3·Σa + 1 + obs_0 (hand-computable)."""

    def forward(self, obs, action):
        s = action.sum(dim=1)
        return torch.stack([2.0 * s + obs[:, 0], 3.0 * s + 1.0 + obs[:, 0]])

    def q(self, obs, action):
        return self.forward(obs, action)[0]


def test_td3_target_clips_the_noise_and_takes_the_min_of_twins():
    mu = [[0.9, -0.2], [-0.5, 0.0]]
    noise = torch.tensor([[0.7, -0.1], [-0.2, -0.9]])
    a = dpg.smoothed_target_actions(torch.tensor(mu), noise, noise_clip=0.5)
    # clip(noise, -.5, .5) = [[.5, -.1], [-.2, -.5]]; a' = clip(mu + it, -1, 1)
    torch.testing.assert_close(a, torch.tensor([[1.0, -0.3], [-0.7, -0.5]]))
    assert dpg.smoothed_target_actions(torch.tensor(mu), None, 0.5).tolist() == torch.tensor(mu).tolist()
    next_obs = np.array([[0.5, 0.0], [-1.0, 0.0]], np.float32)
    # Q_1(s', a') = 2·0.7 + 0.5 = 1.9, Q_2 = 3·0.7 + 1 + 0.5 = 3.6 -> min 1.9
    # item 2: Σa' = -1.2: Q_1 = -2.4 - 1 = -3.4, Q_2 = -3.6 + 1 - 1 = -3.6 -> min -3.6
    batch = _batch(np.zeros((2, 2), np.float32), np.array([[0.1, 0.1], [0.0, 0.0]], np.float32),
                   np.array([1.0, 2.0], np.float32), np.array([0.9, 0.0], np.float32), next_obs,
                   np.array([1.0, 0.5], np.float32))
    targets = dpg.dpg_critic_targets(_LinearTwin()(batch.next_obs, a), batch.reward, batch.discount)
    torch.testing.assert_close(targets, torch.tensor([1.0 + 0.9 * 1.9, 2.0]))  # terminal: no bootstrap
    out = dpg.dpg_critic_loss(_LinearTwin(), _FixedPolicy(mu), _LinearTwin(), batch, target_noise=noise,
                              noise_clip=0.5)
    # online Q at (s, a): item 1 Σa = .2: Q_1 = .4, Q_2 = 1.6; item 2: Q_1 = 0, Q_2 = 1
    y = [2.71, 2.0]
    per_item = [(y[0] - 0.4) ** 2 + (y[0] - 1.6) ** 2, (y[1] - 0.0) ** 2 + (y[1] - 1.0) ** 2]
    assert math.isclose(float(out.loss), (1.0 * per_item[0] + 0.5 * per_item[1]) / 2, rel_tol=1e-6)
    torch.testing.assert_close(out.priorities, torch.tensor([y[0] - 0.4, y[1]]))  # |y - Q_1|
    assert math.isclose(out.metrics["learner/q_mean"], 0.2, rel_tol=1e-6)


def test_ddpg_target_uses_the_target_actor_without_noise():
    critic = Critic("vector", (2,), 1, (4,))
    target_policy = _FixedPolicy([[0.25]])
    batch = _batch(np.zeros((1, 2), np.float32), np.zeros((1, 1), np.float32), np.array([0.5], np.float32),
                   np.array([0.99], np.float32), np.ones((1, 2), np.float32))
    out = dpg.dpg_critic_loss(critic, target_policy, critic, batch)
    with torch.no_grad():
        y = 0.5 + 0.99 * critic(batch.next_obs, torch.tensor([[0.25]]))
        q = critic(batch.obs, batch.action)
    assert math.isclose(float(out.loss.detach()), float((y - q) ** 2), rel_tol=1e-6)


class _FixedLogits(nn.Module):
    def __init__(self, logits, support):
        super().__init__()
        self.logits_value = torch.as_tensor(logits, dtype=torch.float32)
        self.register_buffer("support", torch.as_tensor(support, dtype=torch.float32))

    def forward(self, obs, action):
        return self.logits_value.expand(obs.shape[0], -1) if self.logits_value.dim() == 1 else self.logits_value


def test_d4pg_target_is_the_worked_example_through_the_shared_projection(monkeypatch):
    support = [-2.0, -1.0, 0.0, 1.0, 2.0]
    p_next = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    # item 1: R = .5, γ^n = .5: Tz = [-.5, 0, .5, 1, 1.5], b = [1.5, 2, 2.5, 3, 3.5]
    #   -> m = [0, .05, .05 + .2 + .2, .2 + .2 + .05, .05] = [0, .05, .45, .45, .05]
    # item 2: terminal, R = 1.3: all mass at b = 3.3 -> m_3 = .7, m_4 = .3
    m_expected = torch.tensor([[0.0, 0.05, 0.45, 0.45, 0.05], [0.0, 0.0, 0.0, 0.7, 0.3]])
    calls = []
    shared = dpg.categorical_projection

    def spy(*args):
        calls.append(args)
        return shared(*args)

    monkeypatch.setattr(dpg, "categorical_projection", spy)
    online_logits = torch.tensor([[0.3, -0.2, 0.0, 1.0, 0.5], [0.0, 0.1, 0.2, 0.3, 0.4]])
    online = _FixedLogits(online_logits, support)
    target = _FixedLogits(np.log(p_next), support)
    batch = _batch(np.zeros((2, 1), np.float32), np.zeros((2, 1), np.float32), np.array([0.5, 1.3], np.float32),
                   np.array([0.5, 0.0], np.float32), np.zeros((2, 1), np.float32), np.array([1.0, 0.25], np.float32))
    out = dpg.d4pg_critic_loss(online, _FixedPolicy([[0.0], [0.0]]), target, batch)
    assert len(calls) == 1  # the one projection of losses/c51.py
    m = shared(*calls[0])
    torch.testing.assert_close(m, m_expected, atol=1e-6, rtol=0)
    ce = -(m_expected * torch.log_softmax(online_logits, -1)).sum(-1)
    torch.testing.assert_close(out.priorities, ce, atol=1e-6, rtol=0)
    assert math.isclose(float(out.loss), float((ce[0] * 1.0 + ce[1] * 0.25) / 2), rel_tol=1e-5)
    # the actor maximizes E[Z(s, μ(s))]
    loss = dpg.dpg_actor_loss(_FixedPolicy([[0.0], [0.0]]), _CategoricalQ(online), batch.obs)
    q = (torch.softmax(online_logits, -1) * torch.tensor(support)).sum(-1)
    assert math.isclose(float(loss), float(-q.mean()), rel_tol=1e-6)


class _CategoricalQ(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def q(self, obs, action):
        from apexrl.nets.distributional import categorical_q_values

        return categorical_q_values(self.inner(obs, action), self.inner.support)


def test_d4pg_refuses_critics_with_different_supports():
    batch = _batch(np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32), np.zeros(1, np.float32),
                   np.ones(1, np.float32), np.zeros((1, 1), np.float32))
    with pytest.raises(ValueError, match="same support"):
        dpg.d4pg_critic_loss(_FixedLogits([0, 0, 0], [-1, 0, 1]), _FixedPolicy([[0.0]]),
                             _FixedLogits([0, 0, 0], [-2, 0, 2]), batch)


def test_apex_noise_scale_rule():
    assert [round(apex_noise_scale(i, 4, 0.3, 1.0), 4) for i in range(4)] == [0.3, 0.2008, 0.1344, 0.09]
    assert apex_noise_scale(0, 1, 0.3, 7.0) == 0.3
    assert apex_noise_scale(3, 4, 0.2, 0.0) == 0.2
    with pytest.raises(ValueError, match="outside"):
        apex_noise_scale(4, 4, 0.3, 1.0)


def test_configs_name_the_flag():
    with pytest.raises(ValueError, match="--tau"):
        DPGConfig(tau=0.0)
    with pytest.raises(ValueError, match="--twin-critics"):
        DPGConfig(twin_critics=True, distributional=True)
    with pytest.raises(ValueError, match="--device"):
        DPGConfig(device="tpu")
    with pytest.raises(ValueError, match="--exploration-noise"):
        GaussianNoiseConfig(exploration_noise=-0.1)
    with pytest.raises(ValueError, match="--learning-starts"):
        DPGAgentConfig(replay=ReplayConfig(learning_starts=100), learner=DPGConfig(batch_size=256))


def test_dpg_policy_explores_around_mu_and_gives_priorities_from_its_critic():
    info = env_info("Pendulum-v1")
    config = DPGAgentConfig(run=RunConfig(env_id="Pendulum-v1", num_actors=2),
                            actor=GaussianNoiseConfig(exploration_noise=0.0, random_action_frames=10))
    torch.manual_seed(0)
    nets = build_network(config, info)
    policy = build_policy(config, info, nets, 1, np.random.default_rng(0))
    obs = np.random.default_rng(1).uniform(-1, 1, (4, 3)).astype(np.float32)
    warm = policy.step(obs)  # uniformly random during the warm-up
    policy.advance(10)
    step = policy.step(obs)
    with torch.no_grad():
        x = torch.from_numpy(obs)
        mu = nets.policy(x)
        assert not np.allclose(warm.actions, mu.numpy())
        np.testing.assert_allclose(step.actions, mu.numpy(), atol=1e-7)  # σ = 0
        np.testing.assert_allclose(step.q_taken, nets.critic(x, torch.from_numpy(step.actions)).numpy(), atol=1e-6)
        np.testing.assert_allclose(step.value, nets.critic(x, mu).numpy(), atol=1e-6)
        np.testing.assert_allclose(policy.value(obs), step.value, atol=1e-6)
    np.testing.assert_allclose(step.env_actions, 2.0 * step.actions, atol=1e-6)  # Box(-2, 2)
    assert step.actions.dtype == np.float32 and step.q_taken.dtype == np.float32 and step.q_taken.shape == (4,)
    noisy = build_policy(DPGAgentConfig(actor=GaussianNoiseConfig(exploration_noise=0.5)), info, nets, 0,
                         np.random.default_rng(0)).step(obs)
    assert np.abs(noisy.actions).max() <= 1.0 and not np.allclose(noisy.actions, mu.numpy())


def test_continuous_agents_refuse_discrete_actions():
    with pytest.raises(ValueError, match=r"`ddpg` needs a 1-d Box action space with finite bounds but CartPole-v1 has Discrete\(2\); for Discrete actions use: apex-dqn"):
        box_action_space(env_info("CartPole-v1"), "ddpg")


def test_box_checks_and_greedy_actions():
    from types import SimpleNamespace

    from gymnasium import spaces

    from apexrl.agents.common import greedy_actions

    with pytest.raises(ValueError, match="its bounds are not all finite"):
        box_action_space(SimpleNamespace(action_space=spaces.Box(-np.inf, np.inf, (2,)), env_id="X-v0"), "td3")
    with pytest.raises(ValueError, match=r"its shape is \(2, 2\), not \(d,\)"):
        box_action_space(SimpleNamespace(action_space=spaces.Box(-1, 1, (2, 2)), env_id="X-v0"), "td3")
    info = env_info("Pendulum-v1")
    torch.manual_seed(0)
    nets = build_network(DPGAgentConfig(), info)
    obs = np.random.default_rng(0).uniform(-1, 1, (3, 3)).astype(np.float32)
    out = greedy_actions(nets, obs, info.action_space, 0.5, np.random.default_rng(0))  # ε is ignored
    with torch.no_grad():
        np.testing.assert_allclose(out, 2.0 * nets.policy(torch.from_numpy(obs)).numpy(), atol=1e-6)
    assert out.dtype == np.float32 and out.shape == (3, 1)
