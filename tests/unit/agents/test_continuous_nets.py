"""Networks of the continuous-control agents (apexrl.nets.continuous)."""

from __future__ import annotations

import math

import pytest
import torch
from gymnasium import spaces

from apexrl.nets.continuous import (LOG_STD_MAX, LOG_STD_MIN, CategoricalCritic, Critic, DeterministicPolicy,
                                    GaussianPolicy, TwinCritic, build_dpg_networks, build_sac_networks)


def test_deterministic_policy_is_bounded_and_shaped():
    torch.manual_seed(0)
    policy = DeterministicPolicy("vector", (3,), 2, (16,))
    with torch.no_grad():
        policy.head.weight.mul_(100.0)  # saturate the tanh
        out = policy(torch.randn(64, 3) * 10)
    assert out.shape == (64, 2) and out.dtype == torch.float32
    assert out.abs().max() <= 1.0 and out.abs().max() > 0.99


def test_gaussian_policy_clamps_log_std():
    policy = GaussianPolicy("vector", (3,), 2, (8,))
    with torch.no_grad():
        policy.log_std.bias.copy_(torch.tensor([1000.0, -1000.0]))
        policy.log_std.weight.zero_()
        mean, log_std = policy(torch.randn(5, 3))
    assert mean.shape == (5, 2)
    assert torch.equal(log_std, torch.tensor([[LOG_STD_MAX, LOG_STD_MIN]] * 5))
    assert torch.equal(policy.deterministic(torch.zeros(1, 3)), torch.tanh(policy(torch.zeros(1, 3))[0]))


def test_critics_shapes_and_values():
    torch.manual_seed(0)
    obs, act = torch.randn(7, 3), torch.rand(7, 2) * 2 - 1
    critic = Critic("vector", (3,), 2, (16, 16))
    assert critic(obs, act).shape == (7,)
    twin = TwinCritic("vector", (3,), 2, (16,))
    both = twin(obs, act)
    assert both.shape == (2, 7)
    assert torch.equal(twin.q(obs, act), both[0])
    assert not torch.equal(both[0], both[1])  # independently initialised
    cat = CategoricalCritic("vector", (3,), 2, (16,), num_atoms=5, v_min=-2.0, v_max=2.0)
    logits = cat(obs, act)
    assert logits.shape == (7, 5)
    expected = (torch.softmax(logits, -1) * torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])).sum(-1)
    torch.testing.assert_close(cat.q(obs, act), expected)
    assert "support" in cat.state_dict()


def test_critic_takes_the_observation_and_action_concatenated():
    critic = Critic("vector", (2,), 1, (4,))
    assert critic.mlp[0].in_features == 3  # 2 observation components + 1 action component


def test_acting_modules_and_discrete_observations():
    torch.manual_seed(0)
    nets = build_dpg_networks("vector", (), 1, (8,), obs_space=spaces.Discrete(5))
    obs = torch.tensor([0, 4, 2])  # raw indices, one-hot encoded inside
    x = nets.prepare(obs)
    assert x.shape == (3, 5)
    torch.testing.assert_close(nets(x), nets.policy(obs))
    assert nets.critic.q(x, nets(x)).shape == (3,)
    sac = build_sac_networks("vector", (3,), 2, (8,))
    z = torch.randn(4, 3)
    assert torch.equal(sac(z), sac.policy.deterministic(z))
    assert sac.critic(z, sac(z)).shape == (2, 4)
    with pytest.raises(ValueError, match="twin critics with a distributional"):
        build_dpg_networks("vector", (3,), 1, (8,), twin_critics=True, distributional=True)
    with pytest.raises(ValueError, match="act_dim"):
        Critic("vector", (3,), 0, (8,))
    assert math.isclose(float(build_dpg_networks("vector", (3,), 1, (8,), distributional=True, num_atoms=3,
                                                 v_min=-1, v_max=1).critic.support[1]), 0.0)


def test_ensemble_mlp_members_are_separate_mlps():
    from apexrl.nets.continuous import EnsembleMLP

    torch.manual_seed(0)
    ens = EnsembleMLP(2, 4, (8, 6), 1)
    x = torch.randn(5, 4)
    out = ens(x)
    assert out.shape == (2, 5, 1)
    for k in range(2):
        h = x
        for i, (w, b) in enumerate(zip(ens.weights, ens.biases)):
            h = h @ w[k] + b[k]
            if i < 2:
                h = torch.relu(h)
        torch.testing.assert_close(out[k], h)
    assert float(ens.weights[0].detach().abs().max()) <= 0.5  # U(-1/sqrt(4), 1/sqrt(4))
