"""SAC's losses against hand-computed values and torch.distributions, and its actor policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from apexrl.agents.sac import SACAgentConfig, SACConfig, build_network, build_policy
from apexrl.agents.dpg.config import ContinuousActorConfig
from apexrl.envs import env_info
from apexrl.losses import TorchBatch
from apexrl.losses.sac import (sac_actor_loss, sac_critic_loss, sac_critic_targets, sample_squashed_gaussian,
                               squashed_gaussian_log_prob, temperature_loss)
from apexrl.nets.continuous import TwinCritic


def test_squashed_gaussian_log_prob_by_hand():
    u, mean, std = 0.5, 0.2, 0.5
    gaussian = -0.5 * ((u - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
    expected = gaussian - math.log(1 - math.tanh(u) ** 2)
    got = squashed_gaussian_log_prob(torch.tensor([[u]]), torch.tensor([[mean]]), torch.tensor([[math.log(std)]]))
    assert math.isclose(float(got), expected, rel_tol=1e-6)
    # two components sum; a large |u| where 1 - tanh(u)^2 underflows in float32 stays finite
    two = squashed_gaussian_log_prob(torch.tensor([[u, 12.0]]), torch.tensor([[mean, 11.0]]),
                                     torch.tensor([[math.log(std), 0.0]]))
    second = -0.5 - 0.5 * math.log(2 * math.pi) - 2 * (math.log(2) - 12.0 - math.log1p(math.exp(-24.0)))
    assert math.isclose(float(two), expected + second, rel_tol=1e-5)


def test_squashed_gaussian_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    mean = torch.randn(64, 3, dtype=torch.float64)
    log_std = torch.randn(64, 3, dtype=torch.float64).clamp(-2, 1)
    noise = torch.randn(64, 3, dtype=torch.float64)
    actions, log_prob = sample_squashed_gaussian(mean, log_std, noise)
    u = mean + log_std.exp() * noise
    torch.testing.assert_close(actions, torch.tanh(u))
    dist = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform(cache_size=1)])
    reference = dist.log_prob(torch.tanh(u)).sum(-1)
    torch.testing.assert_close(log_prob, reference, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="noise"):
        sample_squashed_gaussian(mean, log_std, noise[:, :2])


def test_temperature_loss_by_hand_and_its_gradient():
    log_alpha = torch.tensor(math.log(0.5), requires_grad=True)
    log_prob = torch.tensor([-1.0, -2.0])
    loss = temperature_loss(log_alpha, log_prob, target_entropy=-1.0)
    # -mean(log α · (log π + H̄)) = -log 0.5 · ((-2) + (-3)) / 2 = 2.5 log 0.5
    assert math.isclose(float(loss.detach()), 2.5 * math.log(0.5), rel_tol=1e-6)
    loss.backward()
    assert math.isclose(float(log_alpha.grad), 2.5, rel_tol=1e-6)  # entropy 1.5 > H̄ = -1: α shrinks


def test_sac_critic_target_and_losses_by_hand():
    q_next = torch.tensor([[1.0, 4.0], [2.0, 3.0]])  # [2 critics, 2 items]
    y = sac_critic_targets(q_next, torch.tensor([-1.0, 0.5]), torch.tensor([0.5, 1.0]), torch.tensor([0.9, 0.0]),
                           alpha=0.2)
    # item 1: 0.5 + 0.9 (min(1, 2) - 0.2·(-1)) = 0.5 + 0.9·1.2; item 2: terminal
    torch.testing.assert_close(y, torch.tensor([0.5 + 0.9 * 1.2, 1.0]))
    torch.manual_seed(0)
    nets = build_network(SACAgentConfig(learner=SACConfig(hidden_sizes=(8,))), env_info("Pendulum-v1"))
    obs, next_obs = torch.randn(5, 3), torch.randn(5, 3)
    action = torch.rand(5, 1) * 2 - 1
    batch = TorchBatch(obs, action, torch.randn(5), torch.full((5,), 0.99), next_obs, torch.rand(5))
    target_critic = TwinCritic("vector", (3,), 1, (8,))
    noise = torch.randn(5, 1)
    out = sac_critic_loss(nets.critic, target_critic, nets.policy, batch, alpha=0.3, next_noise=noise)
    with torch.no_grad():
        mean, log_std = nets.policy(next_obs)
        u = mean + log_std.exp() * noise
        logp = squashed_gaussian_log_prob(u, mean, log_std)
        target = batch.reward + 0.99 * (target_critic(next_obs, torch.tanh(u)).min(0).values - 0.3 * logp)
        q = nets.critic(obs, action)
        expected = (batch.weights * ((target - q) ** 2).sum(0)).mean()
    assert math.isclose(float(out.loss.detach()), float(expected), rel_tol=1e-5)
    torch.testing.assert_close(out.priorities, (target - q[0]).abs())
    actor_loss, lp = sac_actor_loss(nets.policy, nets.critic, obs, alpha=0.3, noise=noise)
    with torch.no_grad():
        mean, log_std = nets.policy(obs)
        u = mean + log_std.exp() * noise
        lp_ref = squashed_gaussian_log_prob(u, mean, log_std)
        ref = (0.3 * lp_ref - nets.critic(obs, torch.tanh(u)).min(0).values).mean()
    assert math.isclose(float(actor_loss.detach()), float(ref), rel_tol=1e-5)
    torch.testing.assert_close(lp, lp_ref)


def test_sac_policy_samples_in_the_box_without_priorities():
    info = env_info("Pendulum-v1")
    config = SACAgentConfig(actor=ContinuousActorConfig(random_action_frames=0))
    torch.manual_seed(0)
    nets = build_network(config, info)
    obs = np.random.default_rng(0).uniform(-1, 1, (6, 3)).astype(np.float32)
    a = build_policy(config, info, nets, 0, np.random.default_rng(3)).step(obs)
    b = build_policy(config, info, nets, 0, np.random.default_rng(3)).step(obs)
    np.testing.assert_array_equal(a.actions, b.actions)  # the actor's generator decides
    assert a.actions.shape == (6, 1) and a.actions.dtype == np.float32 and np.abs(a.actions).max() < 1.0
    np.testing.assert_allclose(a.env_actions, 2.0 * a.actions, atol=1e-6)
    assert a.q_taken is None and a.value is None
    with torch.no_grad():
        mean = nets.policy(torch.from_numpy(obs))[0].numpy()
    assert not np.allclose(a.actions, np.tanh(mean))  # it explores


def test_sac_config_names_the_flag():
    with pytest.raises(ValueError, match="--init-alpha"):
        SACConfig(init_alpha=0.0)
    with pytest.raises(ValueError, match="--target-entropy"):
        SACConfig(target_entropy=float("nan"))
    assert SACAgentConfig().replay.prioritized is False  # SAC samples uniformly
