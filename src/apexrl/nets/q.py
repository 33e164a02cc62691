"""Q-value heads and the Q network used by the DQN family."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from apexrl.nets.torsos import build_torso


class LinearHead(nn.Module):
    """Plain Q head: features ``[B, D]`` → Q-values ``[B, A]`` float32."""

    def __init__(self, in_dim: int, num_actions: int) -> None:
        super().__init__()
        self.q = nn.Linear(in_dim, num_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.q(features)


class DuelingHead(nn.Module):
    """Dueling head (Wang et al. 2016): Q(s,a) = V(s) + A(s,a) − mean_a' A(s,a').

    features ``[B, D]`` → Q-values ``[B, A]`` float32. V and A each get one hidden layer of
    ``hidden`` units (0 = linear streams).
    """

    def __init__(self, in_dim: int, num_actions: int, hidden: int = 0) -> None:
        super().__init__()

        def stream(out: int) -> nn.Module:
            if hidden <= 0:
                return nn.Linear(in_dim, out)
            return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out))

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

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(obs))


def build_q_network(kind: str, obs_shape: Sequence[int], num_actions: int, hidden_sizes: Sequence[int],
                    dueling: bool) -> QNetwork:
    """The Q network for an env kind (see :func:`apexrl.nets.build_torso`).

    For vector observations the last width of ``hidden_sizes`` is the dueling streams' hidden
    layer, the rest the MLP torso, so ``(256, 256)`` gives a 256-unit torso and 256-unit
    V and A streams; with ``dueling=False`` all widths go to the torso.
    """
    if dueling and kind == "vector" and len(hidden_sizes) > 1:
        torso = build_torso(kind, obs_shape, hidden_sizes[:-1])
        return QNetwork(torso, DuelingHead(torso.out_dim, num_actions, hidden_sizes[-1]))
    torso = build_torso(kind, obs_shape, hidden_sizes)
    head: nn.Module = DuelingHead(torso.out_dim, num_actions) if dueling else LinearHead(torso.out_dim, num_actions)
    return QNetwork(torso, head)
