"""The actor-critic network of ``a2c`` and ``ppo``: a policy head and a value head over the
existing torsos (:func:`apexrl.nets.build_torso`).

- ``Discrete`` actions: a categorical head, logits ``[B, A]``.
- ``Box`` actions: a diagonal Gaussian with a state-independent ``log_std`` parameter ``[d]``
  (PPO paper §6.1, CleanRL ``ppo_continuous_action.py``, SB3), the mean ``[B, d]`` in the policy's
  units (the env's bounds map to ``[-1, 1]``); with ``squash`` the action is ``tanh(u)`` of the
  Gaussian sample ``u`` (SAC's squashing), otherwise ``u`` is clipped to ``[-1, 1]`` for the env
  only (CleanRL, SB3).

With ``shared_torso`` both heads read one torso (the A3C / PPO Atari networks); otherwise the
value has its own torso of the same architecture (PPO's MuJoCo networks, CleanRL's separate actor
and critic MLPs). Every layer is initialized orthogonally, with gain √2 in the torsos, 0.01 in the policy
head and 1 in the value head, as in OpenAI baselines, CleanRL and SB3. ``forward(obs)`` gives the logits (``Discrete``) or the evaluation action (``Box``: the mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from apexrl.nets.torsos import MLPTorso, build_torso


def _with_activation(torso: nn.Module, activation: str) -> nn.Module:
    """An MLP torso with its ReLUs replaced by tanh when ``activation == "tanh"`` (the MLPs of the
    PPO paper, baselines, CleanRL and SB3); conv torsos keep their ReLUs (the Nature CNN's).

    Raises:
        ValueError: an activation other than ``relu`` / ``tanh``.
    """
    if activation not in ("relu", "tanh"):
        raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
    if activation == "tanh" and isinstance(torso, MLPTorso):
        for i, layer in enumerate(torso.net):
            if isinstance(layer, nn.ReLU):
                torso.net[i] = nn.Tanh()
    return torso


def _init_torso(torso: nn.Module) -> nn.Module:
    """Orthogonal weights with gain √2 and zero biases in every linear / conv layer of a torso
    (OpenAI baselines, CleanRL ``layer_init``, SB3 ``ortho_init``)."""
    for layer in torso.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(layer.weight, 2 ** 0.5)
            nn.init.zeros_(layer.bias)
    return torso


def _init_head(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class ActorCriticNetwork(nn.Module):
    """Policy and value heads over a torso.

    Args:
        kind: torso kind (``vector``, ``minatar``, ``atari``).
        obs_shape: one observation's shape.
        action_space: ``gymnasium.spaces.Discrete`` or a one-dimensional ``Box``.
        hidden_sizes: torso widths (:func:`apexrl.nets.build_torso`).
        shared_torso: one torso for both heads.
        squash: ``Box`` only: tanh-squashed Gaussian.
        log_std_init: initial value of every ``log_std`` entry (``Box``).
        obs_space: the observation space (selects the input encoder), or None for a ``Box``.
        activation: ``relu`` or ``tanh`` between the MLP torso's layers (conv torsos: ReLU).

    Raises:
        ValueError: another action space, an unknown activation, or as :func:`apexrl.nets.build_torso`.
    """

    def __init__(self, kind: str, obs_shape: Sequence[int], action_space: Any, hidden_sizes: Sequence[int],
                 shared_torso: bool = False, squash: bool = False, log_std_init: float = 0.0,
                 obs_space: Any = None, activation: str = "relu") -> None:
        super().__init__()
        if isinstance(action_space, spaces.Discrete):
            self.discrete, out = True, int(action_space.n)
        elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            self.discrete, out = False, int(action_space.shape[0])
        else:
            raise ValueError(f"actor-critic networks act in Discrete or one-dimensional Box spaces, got {action_space}")
        self.squash = bool(squash) and not self.discrete
        self.shared_torso = bool(shared_torso)
        def torso() -> nn.Module:
            return _init_torso(_with_activation(build_torso(kind, obs_shape, hidden_sizes, obs_space), activation))

        self.torso = torso()
        self.value_torso = None if shared_torso else torso()
        self.policy_head = _init_head(nn.Linear(self.torso.out_dim, out), 0.01)
        self.value_head = _init_head(nn.Linear(self.torso.out_dim, 1), 1.0)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((out,), float(log_std_init)))
        self.action_dim = out

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations → the float32 input of the torso(s)."""
        return self.torso.prepare(obs)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(policy output, value [B])`` of prepared observations: logits ``[B, A]`` or the
        Gaussian mean ``[B, d]`` (``log_std`` is the parameter)."""
        features = self.torso(x)
        value_features = features if self.value_torso is None else self.value_torso(x)
        return self.policy_head(features), self.value_head(value_features).squeeze(-1)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """``V(s)`` ``[B]`` float32 of prepared (or raw) observations."""
        torso = self.torso if self.value_torso is None else self.value_torso
        return self.value_head(torso(x)).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``Discrete``: the logits ``[B, A]`` (their argmax is the evaluation action, as a Q
        network's, so exported policies act the same way); ``Box``: the evaluation action, the mean
        ``[B, d]`` in ``[-1, 1]`` (tanh of it when squashed, clipped otherwise)."""
        out = self.policy_head(self.torso(obs))
        if self.discrete:
            return out
        return torch.tanh(out) if self.squash else out.clamp(-1.0, 1.0)
