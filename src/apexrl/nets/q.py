"""Q-value heads and the Q network used by the DQN family."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from apexrl.nets.noisy import NoisyLinear
from apexrl.nets.torsos import build_torso


def _linear(in_dim: int, out_dim: int, noisy: bool, sigma0: float) -> nn.Module:
    return NoisyLinear(in_dim, out_dim, sigma0) if noisy else nn.Linear(in_dim, out_dim)


class LinearHead(nn.Module):
    """Plain Q head: features ``[B, D]`` → Q-values ``[B, A]`` float32 (``noisy``: a factorised
    noisy layer, Fortunato et al. 2018)."""

    def __init__(self, in_dim: int, num_actions: int, noisy: bool = False, sigma0: float = 0.5) -> None:
        super().__init__()
        self.q = _linear(in_dim, num_actions, noisy, sigma0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.q(features)


class DuelingHead(nn.Module):
    """Dueling head (Wang et al. 2016): Q(s,a) = V(s) + A(s,a) − mean_a' A(s,a').

    features ``[B, D]`` → Q-values ``[B, A]`` float32. V and A each get one hidden layer of
    ``hidden`` units (0 = linear streams); ``noisy`` makes every stream layer a factorised noisy
    layer (Fortunato et al. 2018).
    """

    def __init__(self, in_dim: int, num_actions: int, hidden: int = 0, noisy: bool = False,
                 sigma0: float = 0.5) -> None:
        super().__init__()

        def stream(out: int) -> nn.Module:
            if hidden <= 0:
                return _linear(in_dim, out, noisy, sigma0)
            return nn.Sequential(_linear(in_dim, hidden, noisy, sigma0), nn.ReLU(), _linear(hidden, out, noisy, sigma0))

        self.value = stream(1)
        self.advantage = stream(num_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        adv = self.advantage(features)
        return self.value(features) + adv - adv.mean(dim=1, keepdim=True)


class QNetwork(nn.Module):
    """Torso + Q head. ``forward(obs [B, *obs_shape]) -> q [B, num_actions]`` float32."""

    def __init__(self, torso: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.torso = torso
        self.head = head

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations → the float32 input of :meth:`forward` (see the torso's ``prepare``)."""
        return self.torso.prepare(obs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(obs))


def build_q_network(kind: str, obs_shape: Sequence[int], num_actions: int, hidden_sizes: Sequence[int],
                    dueling: bool, noisy: bool = False, sigma0: float = 0.5, obs_space: Any = None) -> QNetwork:
    """The Q network for an env kind (see :func:`apexrl.nets.build_torso`).

    For vector observations the last width of ``hidden_sizes`` is the dueling streams' hidden
    layer, the rest the MLP torso, so ``(256, 256)`` gives a 256-unit torso and 256-unit
    V and A streams; with ``dueling=False`` all widths go to the torso. ``noisy`` makes the
    head's layers factorised noisy layers (the torso stays deterministic). ``obs_space`` (a
    Gymnasium space, None for ``Box``) selects the input encoder (see :func:`apexrl.nets.build_torso`).
    """
    if dueling and kind == "vector" and len(hidden_sizes) > 1:
        torso = build_torso(kind, obs_shape, hidden_sizes[:-1], obs_space)
        return QNetwork(torso, DuelingHead(torso.out_dim, num_actions, hidden_sizes[-1], noisy, sigma0))
    torso = build_torso(kind, obs_shape, hidden_sizes, obs_space)
    head: nn.Module = (DuelingHead(torso.out_dim, num_actions, 0, noisy, sigma0) if dueling
                       else LinearHead(torso.out_dim, num_actions, noisy, sigma0))
    return QNetwork(torso, head)
