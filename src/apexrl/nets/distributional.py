"""Categorical (C51) return-distribution networks (Bellemare et al. 2017, "A Distributional
Perspective on Reinforcement Learning"), with the dueling and noisy variants of Rainbow
(Hessel et al. 2018).

The return distribution of ``(s, a)`` is a categorical over a fixed support of ``N`` atoms
``z_i = v_min + i·Δz``, ``Δz = (v_max − v_min)/(N − 1)``:

    p_i(s, a) = softmax_i(logits(s, a))          (over atoms)
    Q(s, a)   = Σ_i z_i p_i(s, a)

With ``dueling=True`` the logits are split as in Rainbow (Hessel et al. 2018, §"Dueling"):

    logits(s, a) = v(s) + a(s, a) − mean_a' a(s, a')       v: [B, 1, N], a: [B, A, N]

before the softmax over atoms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from apexrl.nets.noisy import NoisyLinear
from apexrl.nets.torsos import build_torso


def make_support(v_min: float, v_max: float, num_atoms: int, *, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The C51 support ``linspace(v_min, v_max, num_atoms)``, ``[num_atoms]`` (float32 by default).

    Raises:
        ValueError: ``v_min``/``v_max`` not finite or ``v_min >= v_max``; ``num_atoms < 2``.
    """
    if not (math.isfinite(v_min) and math.isfinite(v_max)):
        raise ValueError(f"v_min and v_max must be finite, got v_min={v_min}, v_max={v_max}")
    if v_min >= v_max:
        raise ValueError(f"v_min must be < v_max, got v_min={v_min}, v_max={v_max}")
    if int(num_atoms) < 2:
        raise ValueError(f"num_atoms must be >= 2, got {num_atoms}")
    return torch.linspace(float(v_min), float(v_max), int(num_atoms), device=device, dtype=dtype)


def categorical_q_values(logits: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """``Q = Σ_i z_i · softmax_i(logits)``: logits ``[*, N]``, support ``[N]`` → ``[*]``.

    For network logits ``[B, A, N]`` this gives Q-values ``[B, A]``.

    Raises:
        ValueError: the last dimension of ``logits`` differs from the length of ``support``.
    """
    if support.dim() != 1 or logits.shape[-1] != support.shape[0]:
        raise ValueError(f"logits [..., N] and support [N] disagree: logits {tuple(logits.shape)}, "
                         f"support {tuple(support.shape)}")
    return (torch.softmax(logits, dim=-1) * support).sum(dim=-1)


class CategoricalHead(nn.Module):
    """C51 head: features ``[B, in_dim]`` → logits ``[B, num_actions, num_atoms]`` float32.

    Without dueling, one stream of ``A·N`` outputs reshaped to ``[B, A, N]``. With dueling, a
    value stream ``[B, 1, N]`` and an advantage stream ``[B, A, N]`` combined as
    ``v + a − mean_a a`` (see the module docstring). Each stream is linear, or has one hidden ReLU
    layer of ``hidden`` units when ``hidden > 0``. With ``noisy=True`` every linear layer of
    the head is a :class:`~apexrl.nets.noisy.NoisyLinear` (σ0 = ``sigma0``), as in Rainbow.
    The head returns logits; apply ``softmax(dim=-1)`` for probabilities or use
    :func:`categorical_q_values` for Q-values.

    Raises:
        ValueError: ``in_dim``/``num_actions`` < 1, ``num_atoms`` < 2, ``hidden`` < 0.
    """

    def __init__(self, in_dim: int, num_actions: int, num_atoms: int, dueling: bool, hidden: int = 0,
                 noisy: bool = False, *, sigma0: float = 0.5) -> None:
        super().__init__()
        if int(in_dim) < 1:
            raise ValueError(f"in_dim must be >= 1, got {in_dim}")
        if int(num_actions) < 1:
            raise ValueError(f"num_actions must be >= 1, got {num_actions}")
        if int(num_atoms) < 2:
            raise ValueError(f"num_atoms must be >= 2, got {num_atoms}")
        if int(hidden) < 0:
            raise ValueError(f"hidden must be >= 0, got {hidden}")
        self.num_actions = int(num_actions)
        self.num_atoms = int(num_atoms)
        self.dueling = bool(dueling)
        self.noisy = bool(noisy)

        def linear(i: int, o: int) -> nn.Module:
            return NoisyLinear(i, o, sigma0) if noisy else nn.Linear(i, o)

        def stream(out: int) -> nn.Module:
            if hidden <= 0:
                return linear(in_dim, out)
            return nn.Sequential(linear(in_dim, hidden), nn.ReLU(), linear(hidden, out))

        if self.dueling:
            self.value: nn.Module | None = stream(self.num_atoms)
            self.advantage = stream(self.num_actions * self.num_atoms)
        else:
            self.value = None
            self.advantage = stream(self.num_actions * self.num_atoms)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features ``[B, in_dim]`` → logits ``[B, A, N]``."""
        b = features.shape[0]
        adv = self.advantage(features).view(b, self.num_actions, self.num_atoms)
        if self.value is None:
            return adv
        value = self.value(features).view(b, 1, self.num_atoms)
        return value + adv - adv.mean(dim=1, keepdim=True)


class CategoricalQNetwork(nn.Module):
    """Torso + categorical head + support.

    ``forward(obs [B, *obs_shape]) -> Q [B, A]`` float32 (``Q = Σ_i z_i p_i``), so actors that
    take ``argmax`` over the output work unchanged; :meth:`logits` and :meth:`dist` give the
    ``[B, A, N]`` logits and probabilities. The support is a (persistent) buffer ``support [N]``
    float32, saved with the weights and moved by ``.to()``; it is not a parameter.

    Args:
        torso: ``obs → features [B, D]``.
        head: ``features → logits [B, A, N]`` (e.g. :class:`CategoricalHead`).
        support: ``[N]`` evenly spaced, strictly increasing atoms (see :func:`make_support`).

    Raises:
        ValueError: ``support`` not 1-D, fewer than 2 atoms, not finite, not strictly increasing
            or not evenly spaced, or its length differs from ``head.num_atoms``.
    """

    support: torch.Tensor

    def __init__(self, torso: nn.Module, head: nn.Module, support: torch.Tensor | Sequence[float]) -> None:
        super().__init__()
        s = torch.as_tensor(support, dtype=torch.float32).detach().clone()
        if s.dim() != 1 or s.shape[0] < 2:
            raise ValueError(f"support must be 1-D with >= 2 atoms, got shape {tuple(s.shape)}")
        if not bool(torch.isfinite(s).all()):
            raise ValueError("support must be finite")
        diffs = s.diff()
        dz = float(s[-1] - s[0]) / (s.shape[0] - 1)
        if dz <= 0 or not bool(((diffs - dz).abs() <= 1e-4 * dz).all()):
            raise ValueError(f"support must be strictly increasing and evenly spaced, got {s.tolist()}")
        head_atoms = getattr(head, "num_atoms", None)
        if head_atoms is not None and int(head_atoms) != s.shape[0]:
            raise ValueError(f"support has {s.shape[0]} atoms but head.num_atoms is {head_atoms}")
        self.torso = torso
        self.head = head
        self.register_buffer("support", s)

    @property
    def num_atoms(self) -> int:
        """``N``, the number of atoms."""
        return int(self.support.shape[0])

    def prepare(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations → the float32 input of :meth:`forward` (see the torso's ``prepare``)."""
        return self.torso.prepare(obs)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [B, *obs_shape]`` → logits ``[B, A, N]`` float32."""
        return self.head(self.torso(obs))

    def dist(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs`` → probabilities ``p(s, a) [B, A, N]`` float32 (softmax over atoms)."""
        return torch.softmax(self.logits(obs), dim=-1)

    def q_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """logits ``[B, A, N]`` → Q-values ``[B, A]`` on this network's support."""
        return categorical_q_values(logits, self.support)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [B, *obs_shape]`` → Q-values ``[B, A]`` float32 (``Σ_i z_i p_i(s, a)``)."""
        return self.q_from_logits(self.logits(obs))


def build_categorical_q_network(kind: str, obs_shape: Sequence[int], num_actions: int,
                                hidden_sizes: Sequence[int], dueling: bool, *, num_atoms: int = 51,
                                v_min: float = -10.0, v_max: float = 10.0, noisy: bool = False,
                                sigma0: float = 0.5, obs_space: Any = None) -> CategoricalQNetwork:
    """The C51 network for an env kind, laid out like :func:`apexrl.nets.build_q_network`.

    For vector observations with ``dueling`` and more than one width, the last width of
    ``hidden_sizes`` is the streams' hidden layer and the rest the MLP torso; otherwise all
    widths go to the torso and the head's streams are linear. ``noisy`` makes the head's layers
    noisy; the torso stays deterministic (for the Nature CNN this includes its 512-unit layer,
    which Rainbow makes noisy). Defaults ``num_atoms=51``, ``[v_min, v_max] = [−10, 10]`` are
    those of C51 and Rainbow. ``obs_space`` selects the input encoder (see
    :func:`apexrl.nets.build_torso`).

    Raises:
        ValueError: as :func:`apexrl.nets.build_torso`, :func:`make_support`, :class:`CategoricalHead`.
    """
    support = make_support(v_min, v_max, num_atoms)
    if dueling and kind == "vector" and len(hidden_sizes) > 1:
        torso = build_torso(kind, obs_shape, hidden_sizes[:-1], obs_space)
        head = CategoricalHead(torso.out_dim, num_actions, num_atoms, True, hidden_sizes[-1], noisy, sigma0=sigma0)
        return CategoricalQNetwork(torso, head, support)
    torso = build_torso(kind, obs_shape, hidden_sizes, obs_space)
    head = CategoricalHead(torso.out_dim, num_actions, num_atoms, dueling, 0, noisy, sigma0=sigma0)
    return CategoricalQNetwork(torso, head, support)
