"""PPO's clipped surrogate and value loss against hand-computed values and gradients; the policy
distributions' log-probabilities and entropies against torch.distributions."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from apexrl.losses.policy_gradient import (categorical_entropy, categorical_log_prob, clipped_surrogate_loss,
                                           gaussian_entropy, gaussian_log_prob, normalize_advantages,
                                           squashed_log_prob, value_loss, vanilla_pg_loss)


def test_clipped_surrogate_value_and_zero_gradient_where_clipped():
    eps = 0.2
    ratio = torch.tensor([1.5, 0.5, 1.1, 0.5, 1.5], dtype=torch.float64)
    adv = torch.tensor([1.0, -1.0, 2.0, 1.0, -1.0], dtype=torch.float64)
    old = torch.tensor([-0.3, -1.2, -0.7, -2.0, -0.1], dtype=torch.float64)
    log_prob = (old + ratio.log()).requires_grad_(True)
    loss, metrics = clipped_surrogate_loss(log_prob, old, adv, eps)
    # per element min(ρA, clip(ρ)A): [min(1.5, 1.2), min(-.5, -.8), 2.2, min(.5, .8), min(-1.5, -1.2)]
    # = [1.2 (clipped), -0.8 (clipped), 2.2, 0.5, -1.5]; loss = -mean = -1.6 / 5
    assert float(loss.detach()) == pytest.approx(-0.32, abs=1e-12)
    loss.backward()
    # d/d log π of −ρA/N is −ρA/N where unclipped, 0 where the clipped term is the minimum
    expected = torch.tensor([0.0, 0.0, -1.1 * 2.0 / 5, -0.5 * 1.0 / 5, 1.5 / 5], dtype=torch.float64)
    torch.testing.assert_close(log_prob.grad, expected)
    assert metrics["learner/clip_fraction"] == pytest.approx(4 / 5)  # |ρ − 1| > 0.2 for 1.5, 0.5, 0.5, 1.5
    kl = ((ratio - 1) - ratio.log()).mean()
    assert metrics["learner/approx_kl"] == pytest.approx(float(kl))


def test_clipped_surrogate_at_ratio_one_is_the_policy_gradient():
    torch.manual_seed(0)
    old = torch.randn(6, dtype=torch.float64)
    adv = torch.randn(6, dtype=torch.float64)
    a = old.clone().requires_grad_(True)
    b = old.clone().requires_grad_(True)
    clipped_surrogate_loss(a, old, adv, 0.1)[0].backward()
    vanilla_pg_loss(b, adv).backward()
    torch.testing.assert_close(a.grad, b.grad)  # ∇ρ = ∇ log π at ρ = 1
    torch.testing.assert_close(b.grad, -adv / 6)


def test_clipped_surrogate_errors():
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="clip_range=-0.1"):
        clipped_surrogate_loss(x, x, x, -0.1)
    with pytest.raises(ValueError, match="one shape"):
        clipped_surrogate_loss(x, x, torch.zeros(2), 0.2)


def test_value_loss_plain_and_clipped():
    values = torch.tensor([1.0, 3.0, 0.0], dtype=torch.float64, requires_grad=True)
    old = torch.tensor([0.0, 2.0, 0.5], dtype=torch.float64)
    returns = torch.tensor([2.0, 2.0, 2.0], dtype=torch.float64)
    plain = value_loss(values, old, returns, None)
    assert float(plain.detach()) == pytest.approx(0.5 * (1 + 1 + 4) / 3)
    clipped = value_loss(values, old, returns, 0.5)
    # V_clip = old + clip(V − old, ±.5) = [.5, 2.5, 0]; squared errors plain [1, 1, 4], clipped [2.25, .25, 4]
    # max = [2.25, 1, 4] → ½ mean = 7.25 / 6
    assert float(clipped.detach()) == pytest.approx(7.25 / 6)
    clipped.backward()
    # element 0: the clipped term wins and V − old = 1 > .5 is clipped: no gradient; element 1: the
    # plain term, d/dV ½(V − R)²/3 = (3 − 2)/3; element 2: both equal 4 (V − old = −.5 is at the edge),
    # torch.max passes the gradient to one of them: (0 − 2)/3 either way
    torch.testing.assert_close(values.grad, torch.tensor([0.0, 1 / 3, -2 / 3], dtype=torch.float64))


def test_normalize_advantages():
    x = torch.tensor([1.0, 2.0, 3.0, 6.0])
    y = normalize_advantages(x)
    assert float(y.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(y.std()) == pytest.approx(1.0, abs=1e-6)
    assert float(normalize_advantages(torch.tensor([5.0]))[0]) == 0.0


def test_categorical_against_torch_distributions():
    torch.manual_seed(1)
    logits = torch.randn(7, 4)
    actions = torch.randint(0, 4, (7,))
    dist = D.Categorical(logits=logits)
    torch.testing.assert_close(categorical_log_prob(logits, actions), dist.log_prob(actions))
    torch.testing.assert_close(categorical_entropy(logits), dist.entropy())


def test_gaussian_against_torch_distributions():
    torch.manual_seed(2)
    mean = torch.randn(5, 3, dtype=torch.float64)
    log_std = torch.randn(3, dtype=torch.float64) * 0.5
    u = torch.randn(5, 3, dtype=torch.float64) * 2
    dist = D.Independent(D.Normal(mean, log_std.exp().expand_as(mean)), 1)
    torch.testing.assert_close(gaussian_log_prob(u, mean, log_std), dist.log_prob(u))
    torch.testing.assert_close(gaussian_entropy(log_std, 5), dist.entropy())


def test_squashed_gaussian_against_torch_distributions():
    torch.manual_seed(3)
    mean = torch.randn(6, 2, dtype=torch.float64)
    log_std = torch.tensor([-0.3, 0.2], dtype=torch.float64)
    u = mean + log_std.exp() * torch.randn(6, 2, dtype=torch.float64)
    base = D.Normal(mean, log_std.exp().expand_as(mean))
    squashed = D.Independent(D.TransformedDistribution(base, [D.TanhTransform()]), 1)
    torch.testing.assert_close(squashed_log_prob(u, mean, log_std), squashed.log_prob(torch.tanh(u)))
    # and by hand for one component: log N(u) − log(1 − tanh(u)²)
    m, s, x = 0.3, 0.8, 1.1
    by_hand = (-0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)) - math.log(1 - math.tanh(x) ** 2)
    got = squashed_log_prob(torch.tensor([[x]], dtype=torch.float64), torch.tensor([[m]], dtype=torch.float64),
                            torch.tensor([math.log(s)], dtype=torch.float64))
    assert float(got[0]) == pytest.approx(by_hand, rel=1e-12)
