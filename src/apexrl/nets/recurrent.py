"""The R2D2 network (Kapturowski et al. 2019, §2.3 and Appendix): a torso (MLP, MinAtar conv or
Nature CNN, :func:`apexrl.nets.build_torso`) → LSTM → dueling head; the LSTM also takes the
previous action (one-hot) and the previous reward.

Shapes (``B`` sequences, ``L`` steps, ``A`` actions, ``H = lstm_size``): observations
``[B, L, *obs_shape]``, previous actions ``[B, L]`` ``int64`` (``−1``: none, a zero one-hot),
previous rewards ``[B, L]`` ``float32``, state ``(h, c)`` each ``[B, H]`` ``float32``; Q-values
``[B, L, A]`` ``float32``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from apexrl.nets.q import DuelingHead
from apexrl.nets.torsos import build_torso

__all__ = ["RecurrentQNetwork", "build_recurrent_q_network"]

State = tuple[torch.Tensor, torch.Tensor]


class RecurrentQNetwork(nn.Module):
    """Torso → LSTM(features ⊕ one_hot(a_{t−1}) ⊕ r_{t−1}) → dueling head.

    Args:
        torso: observation ``[N, *obs_shape]`` → features ``[N, D]`` (has ``out_dim`` and ``prepare``).
        num_actions: ``A``. lstm_size: ``H``. head_hidden: hidden units of each dueling stream
            (0: linear streams).
    """

    def __init__(self, torso: nn.Module, num_actions: int, lstm_size: int, head_hidden: int = 0) -> None:
        super().__init__()
        self.torso = torso
        self.num_actions = int(num_actions)
        self.lstm_size = int(lstm_size)
        self.lstm = nn.LSTM(torso.out_dim + self.num_actions + 1, self.lstm_size, batch_first=True)
        self.head = DuelingHead(self.lstm_size, self.num_actions, head_hidden)

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> State:
        """Zero state ``(h, c)``, each ``[batch, H]`` float32."""
        z = torch.zeros(batch, self.lstm_size, device=device)
        return z, z.clone()

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations ``[N, *obs_shape]`` → the torso's float32 input."""
        return self.torso.prepare(obs)

    def core_inputs(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor) -> torch.Tensor:
        """The LSTM's inputs ``[B, L, D + A + 1]`` of raw observations ``[B, L, *obs_shape]``."""
        b, steps = prev_action.shape
        features = self.torso(obs.reshape(b * steps, *obs.shape[2:])).reshape(b, steps, -1)
        index = prev_action.clamp(min=0)
        one_hot = torch.nn.functional.one_hot(index, self.num_actions).to(features.dtype)
        one_hot = one_hot * (prev_action >= 0).unsqueeze(-1).to(features.dtype)
        return torch.cat([features, one_hot, prev_reward.to(features.dtype).unsqueeze(-1)], dim=-1)

    def unroll_inputs(self, inputs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """LSTM + head over ``inputs [B, L, D + A + 1]`` from ``state``: ``(q [B, L, A], new state)``."""
        h, c = state
        out, (h1, c1) = self.lstm(inputs, (h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()))
        b, steps, _ = out.shape
        q = self.head(out.reshape(b * steps, -1)).reshape(b, steps, -1)
        return q, (h1.squeeze(0), c1.squeeze(0))

    def forward(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor,
                state: State) -> tuple[torch.Tensor, State]:
        """Unroll ``L`` steps: ``(q [B, L, A], (h, c) after the last step)``."""
        return self.unroll_inputs(self.core_inputs(obs, prev_action, prev_reward), state)


def build_recurrent_q_network(kind: str, obs_shape: Sequence[int], num_actions: int, hidden_sizes: Sequence[int],
                              lstm_size: int, head_hidden: int = 0, obs_space: Any = None) -> RecurrentQNetwork:
    """The R2D2 network for an env kind: ``atari`` → Nature CNN (``hidden_sizes[-1]`` units),
    ``minatar`` → MinAtar conv, ``vector`` → MLP of ``hidden_sizes`` (a ``Discrete`` observation
    space is one-hot encoded, see :func:`apexrl.nets.build_torso`).

    Raises:
        ValueError: as :func:`apexrl.nets.build_torso`.
    """
    torso = build_torso(kind, obs_shape, hidden_sizes, obs_space)
    return RecurrentQNetwork(torso, num_actions, lstm_size, head_hidden)
