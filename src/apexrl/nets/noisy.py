"""Factorised Gaussian noisy linear layers (Fortunato et al. 2018, "Noisy Networks for Exploration").

A noisy layer replaces ``y = W x + b`` by

    y = (μ^W + σ^W ⊙ ε^W) x + (μ^b + σ^b ⊙ ε^b)

with learnable ``μ, σ`` and noise ``ε`` resampled by :meth:`NoisyLinear.reset_noise`. With
factorised noise (the paper's §3(b), used by Rainbow) only ``p + q`` unit Gaussians are drawn for a
``p → q`` layer:

    ε^W_ij = f(ε_i) f(ε_j),   ε^b_i = f(ε_i),   f(x) = sign(x) √|x|

where ``ε_i`` (``i < q``, outputs) and ``ε_j`` (``j < p``, inputs) are i.i.d. N(0, 1).
Initialisation: ``μ ~ U(−1/√p, 1/√p)``, ``σ = σ0/√p`` (σ0 = 0.5) for weights and biases.

Exploration comes from the noise, so the layer only samples in training mode: ``train()`` uses
``μ + σ ⊙ ε``, ``eval()`` uses the mean ``μ`` alone (deterministic), as in the Rainbow
evaluations (Hessel et al. 2018). Note that apexrl's actors put their network in ``eval()`` mode;
an actor that should explore with noisy nets has to keep it in ``train()`` mode and call
:func:`reset_noise` itself.

The noise lives in non-persistent buffers: it is not in ``state_dict()`` nor ``parameters()``,
so parameter broadcasts and target copies do not copy noise between networks.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _scaled_noise(x: torch.Tensor) -> torch.Tensor:
    """``f(x) = sign(x) · √|x|``, elementwise."""
    return x.sign() * x.abs().sqrt()


class NoisyLinear(nn.Module):
    """Factorised Gaussian noisy linear layer ``[*, in_features] → [*, out_features]`` float32.

    Parameters: ``weight_mu, weight_sigma [out, in]``, ``bias_mu, bias_sigma [out]``. Buffers
    (non-persistent): ``epsilon_in [in] = f(ε_j)``, ``epsilon_out [out] = f(ε_i)``; the weight
    noise is their outer product ``ε^W = epsilon_out ⊗ epsilon_in`` (see the module docstring).
    Noise is sampled once at construction and again at every :meth:`reset_noise`.

    Args:
        in_features: ``p ≥ 1``. out_features: ``q ≥ 1``.
        sigma0: σ0 ≥ 0; every σ starts at ``σ0/√p``. ``sigma0=0`` gives a layer equal to
            :class:`torch.nn.Linear` with weights ``μ`` (until σ is trained away from 0).
        device, dtype: as for :class:`torch.nn.Linear`.

    Raises:
        ValueError: ``in_features`` or ``out_features`` < 1, or ``sigma0`` negative / not finite.
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if int(in_features) < 1:
            raise ValueError(f"in_features must be >= 1, got {in_features}")
        if int(out_features) < 1:
            raise ValueError(f"out_features must be >= 1, got {out_features}")
        if not math.isfinite(sigma0) or sigma0 < 0:
            raise ValueError(f"sigma0 must be finite and >= 0, got {sigma0}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.sigma0 = float(sigma0)
        kw = {"device": device, "dtype": dtype}
        self.weight_mu = nn.Parameter(torch.empty(self.out_features, self.in_features, **kw))
        self.weight_sigma = nn.Parameter(torch.empty(self.out_features, self.in_features, **kw))
        self.bias_mu = nn.Parameter(torch.empty(self.out_features, **kw))
        self.bias_sigma = nn.Parameter(torch.empty(self.out_features, **kw))
        self.register_buffer("epsilon_in", torch.zeros(self.in_features, **kw), persistent=False)
        self.register_buffer("epsilon_out", torch.zeros(self.out_features, **kw), persistent=False)
        self.reset_parameters()
        self.reset_noise()

    def reset_parameters(self) -> None:
        """``μ ~ U(−1/√p, 1/√p)``, ``σ = σ0/√p`` for weights and biases (p = ``in_features``)."""
        bound = 1.0 / math.sqrt(self.in_features)
        sigma = self.sigma0 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.weight_mu.uniform_(-bound, bound)
            self.bias_mu.uniform_(-bound, bound)
            self.weight_sigma.fill_(sigma)
            self.bias_sigma.fill_(sigma)

    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Resample ``ε_j ~ N(0, 1)`` (inputs) and ``ε_i ~ N(0, 1)`` (outputs), store ``f(ε)``.

        Args:
            generator: optional :class:`torch.Generator` on the buffers' device, for
                reproducible noise; the global RNG otherwise.
        """
        with torch.no_grad():
            self.epsilon_in.normal_(generator=generator)
            self.epsilon_in.copy_(_scaled_noise(self.epsilon_in))
            self.epsilon_out.normal_(generator=generator)
            self.epsilon_out.copy_(_scaled_noise(self.epsilon_out))

    def sigma_zero_(self) -> NoisyLinear:
        """Set every σ to 0 in place (the layer then computes ``μ^W x + μ^b`` in both modes).

        Returns ``self``.
        """
        with torch.no_grad():
            self.weight_sigma.zero_()
            self.bias_sigma.zero_()
        return self

    @property
    def weight_epsilon(self) -> torch.Tensor:
        """The current factorised weight noise ``ε^W = f(ε_out) ⊗ f(ε_in)``, ``[out, in]``."""
        return torch.outer(self.epsilon_out, self.epsilon_in)

    @property
    def bias_epsilon(self) -> torch.Tensor:
        """The current bias noise ``ε^b = f(ε_out)``, ``[out]``."""
        return self.epsilon_out

    def effective_weight_and_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(weight [out, in], bias [out])`` that :meth:`forward` uses in the current mode:
        ``(μ^W + σ^W ⊙ ε^W, μ^b + σ^b ⊙ ε^b)`` in training mode, ``(μ^W, μ^b)`` in eval mode."""
        if not self.training:
            return self.weight_mu, self.bias_mu
        return (self.weight_mu + self.weight_sigma * self.weight_epsilon,
                self.bias_mu + self.bias_sigma * self.bias_epsilon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [*, in_features] → [*, out_features]``; noisy in training mode, mean in eval mode."""
        weight, bias = self.effective_weight_and_bias()
        return F.linear(x, weight, bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, sigma0={self.sigma0}"


def reset_noise(module: nn.Module, generator: torch.Generator | None = None) -> int:
    """Resample the noise of every :class:`NoisyLinear` inside ``module`` (itself included).

    Same distribution as calling :meth:`NoisyLinear.reset_noise` on each layer, in one draw:
    the ``Σ (in + out)`` unit Gaussians of all layers come from one ``randn`` and go through
    ``f`` once (4 tensor operations plus 2 copies per layer, instead of 12 per layer: this runs
    at every action and every learner step). Returns how many layers were resampled (0 for a
    network without noise).
    """
    layers = [m for m in module.modules() if isinstance(m, NoisyLinear)]
    if not layers:
        return 0
    first = layers[0].epsilon_in
    with torch.no_grad():
        eps = _scaled_noise(torch.randn(sum(m.in_features + m.out_features for m in layers), generator=generator,
                                        device=first.device, dtype=first.dtype))
        offset = 0
        for m in layers:
            m.epsilon_in.copy_(eps[offset:offset + m.in_features])
            offset += m.in_features
            m.epsilon_out.copy_(eps[offset:offset + m.out_features])
            offset += m.out_features
    return len(layers)
