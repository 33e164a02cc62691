"""Factorised Gaussian NoisyLinear (Fortunato et al. 2018) against hand-checked properties."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from apexrl.nets.noisy import NoisyLinear, reset_noise


def _f(x: torch.Tensor) -> torch.Tensor:
    return x.sign() * x.abs().sqrt()


def test_init_ranges():
    torch.manual_seed(0)
    layer = NoisyLinear(16, 8, sigma0=0.5).requires_grad_(False)
    bound = 1.0 / math.sqrt(16)  # 0.25
    assert layer.weight_mu.shape == (8, 16) and layer.bias_mu.shape == (8,)
    assert float(layer.weight_mu.abs().max()) <= bound
    assert float(layer.bias_mu.abs().max()) <= bound
    # 128 uniform draws on [-0.25, 0.25]: they spread over the range, not a constant
    assert float(layer.weight_mu.max()) > 0.15 and float(layer.weight_mu.min()) < -0.15
    # σ = σ0/√p = 0.5/4 = 0.125 everywhere
    assert torch.all(layer.weight_sigma == 0.125)
    assert torch.all(layer.bias_sigma == 0.125)


def test_factorised_noise_is_outer_product_of_f_eps():
    layer = NoisyLinear(3, 2)
    g = torch.Generator().manual_seed(7)
    layer.reset_noise(g)
    g2 = torch.Generator().manual_seed(7)
    eps_in = torch.randn(3, generator=g2)  # the layer draws inputs first, then outputs
    eps_out = torch.randn(2, generator=g2)
    assert torch.allclose(layer.epsilon_in, _f(eps_in))
    assert torch.allclose(layer.epsilon_out, _f(eps_out))
    w_eps = layer.weight_epsilon
    for i in range(2):
        for j in range(3):
            assert float(w_eps[i, j]) == pytest.approx(float(_f(eps_out[i]) * _f(eps_in[j])), rel=1e-6)
    assert torch.equal(layer.bias_epsilon, layer.epsilon_out)
    assert torch.linalg.matrix_rank(w_eps) == 1


def test_train_mode_forward_equals_hand_formula():
    layer = NoisyLinear(2, 1)
    with torch.no_grad():
        layer.weight_mu.copy_(torch.tensor([[1.0, -2.0]]))
        layer.bias_mu.fill_(0.5)
        layer.weight_sigma.copy_(torch.tensor([[0.1, 0.2]]))
        layer.bias_sigma.fill_(0.3)
        layer.epsilon_in.copy_(torch.tensor([2.0, -1.0]))
        layer.epsilon_out.copy_(torch.tensor([0.5]))
    layer.train()
    # ε^W = 0.5 ⊗ [2, -1] = [[1.0, -0.5]];  W = [1 + 0.1·1, -2 + 0.2·(-0.5)] = [1.1, -2.1]
    # b = 0.5 + 0.3·0.5 = 0.65;  x = [1, 1] → 1.1 − 2.1 + 0.65 = −0.35
    y = layer(torch.tensor([[1.0, 1.0]]))
    assert float(y.detach()) == pytest.approx(-0.35, rel=1e-6)
    layer.eval()
    # μ only: 1 − 2 + 0.5 = −0.5
    assert float(layer(torch.tensor([[1.0, 1.0]])).detach()) == pytest.approx(-0.5, rel=1e-6)


def test_reset_noise_resamples_in_train_mode():
    torch.manual_seed(1)
    layer = NoisyLinear(4, 3).train()
    x = torch.randn(5, 4)
    w1, b1 = (t.clone() for t in layer.effective_weight_and_bias())
    y1 = layer(x)
    assert torch.equal(layer(x), y1)  # same noise until resampled
    layer.reset_noise()
    w2, b2 = layer.effective_weight_and_bias()
    assert not torch.allclose(w1, w2)
    assert not torch.allclose(b1, b2)
    assert not torch.allclose(layer(x), y1)


def test_eval_mode_is_deterministic_and_equals_mu():
    torch.manual_seed(2)
    layer = NoisyLinear(4, 3).eval()
    x = torch.randn(5, 4)
    y1 = layer(x)
    layer.reset_noise()
    y2 = layer(x)
    assert torch.equal(y1, y2)
    assert torch.allclose(y1, x @ layer.weight_mu.T + layer.bias_mu)


@pytest.mark.parametrize("how", ["constructor", "sigma_zero_"])
def test_sigma_zero_equals_linear(how):
    torch.manual_seed(3)
    layer = NoisyLinear(4, 3, sigma0=0.0) if how == "constructor" else NoisyLinear(4, 3).sigma_zero_()
    assert torch.all(layer.weight_sigma == 0) and torch.all(layer.bias_sigma == 0)
    lin = nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.copy_(layer.weight_mu)
        lin.bias.copy_(layer.bias_mu)
    x = torch.randn(6, 4)
    layer.train()
    layer.reset_noise()
    assert torch.allclose(layer(x), lin(x), atol=1e-6)
    layer.eval()
    assert torch.allclose(layer(x), lin(x), atol=1e-6)


def test_gradients_reach_mu_and_sigma():
    layer = NoisyLinear(2, 1).train()
    with torch.no_grad():
        layer.epsilon_in.copy_(torch.tensor([2.0, -1.0]))
        layer.epsilon_out.copy_(torch.tensor([0.5]))
    layer(torch.tensor([[1.0, 3.0]])).sum().backward()
    # dy/dμ^W = x = [1, 3];  dy/dσ^W = ε^W ⊙ x = [1.0·1, −0.5·3];  dy/dσ^b = ε^b = 0.5
    assert layer.weight_mu.grad[0].tolist() == pytest.approx([1.0, 3.0])
    assert layer.weight_sigma.grad[0].tolist() == pytest.approx([1.0, -1.5])
    assert layer.bias_sigma.grad.tolist() == pytest.approx([0.5])


def test_module_reset_noise_counts_and_resamples_every_layer():
    net = nn.Sequential(NoisyLinear(3, 4), nn.ReLU(), nn.Sequential(NoisyLinear(4, 2)), nn.Linear(2, 2))
    before = [m.epsilon_in.clone() for m in net.modules() if isinstance(m, NoisyLinear)]
    assert reset_noise(net) == 2
    after = [m.epsilon_in for m in net.modules() if isinstance(m, NoisyLinear)]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))
    assert reset_noise(nn.Linear(2, 2)) == 0


def test_noise_not_in_state_dict_or_parameters():
    layer = NoisyLinear(3, 2)
    assert set(layer.state_dict()) == {"weight_mu", "weight_sigma", "bias_mu", "bias_sigma"}
    assert sum(p.numel() for p in layer.parameters()) == 2 * (3 * 2 + 2)


def test_reset_noise_under_inference_mode():
    layer = NoisyLinear(3, 2).train()
    with torch.inference_mode():
        layer.reset_noise()
        layer(torch.ones(1, 3))


@pytest.mark.parametrize("kwargs, name", [
    ({"in_features": 0, "out_features": 2}, "in_features"),
    ({"in_features": 2, "out_features": 0}, "out_features"),
    ({"in_features": 2, "out_features": 2, "sigma0": -0.1}, "sigma0"),
    ({"in_features": 2, "out_features": 2, "sigma0": float("nan")}, "sigma0"),
])
def test_invalid_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        NoisyLinear(**kwargs)


def test_module_reset_noise_is_f_of_one_gaussian_draw_in_layer_order():
    net = nn.Sequential(NoisyLinear(3, 4), nn.ReLU(), NoisyLinear(4, 2))
    reset_noise(net, torch.Generator().manual_seed(11))
    z = torch.randn(3 + 4 + 4 + 2, generator=torch.Generator().manual_seed(11))
    a, b = net[0], net[2]
    assert torch.allclose(a.epsilon_in, _f(z[:3])) and torch.allclose(a.epsilon_out, _f(z[3:7]))
    assert torch.allclose(b.epsilon_in, _f(z[7:11])) and torch.allclose(b.epsilon_out, _f(z[11:]))
    # each layer's weight noise stays the rank-one outer product of its own f(ε)
    assert torch.linalg.matrix_rank(b.weight_epsilon) == 1
