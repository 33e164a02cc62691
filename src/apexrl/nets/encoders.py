"""Observation encoders: the one place where an observation space becomes a network's input.

Every agent family builds its torso on :func:`build_encoder` (today through
:func:`apexrl.nets.build_torso`), so environments, actors, replay, checkpoints and exported
policies all keep the compact observation (integer indices, see :mod:`apexrl.envs.spaces`) and
the encoding runs inside the network's ``forward``. As in Stable-Baselines3
(``preprocess_obs``):

* ``Discrete(n, start)``: ``[B]`` integers in ``[start, start + n)`` → one-hot ``[B, n]`` float32;
* ``MultiDiscrete(nvec, start)``: ``[B, *nvec.shape]`` → the one-hots of the components in
  C order, concatenated: ``[B, sum(nvec)]`` float32;
* ``MultiBinary(n)``: ``[B, *shape]`` 0/1 → ``[B, prod(shape)]`` float32;
* ``Box``: unchanged (the torso casts / scales it, e.g. pixels by 1/255).

The encoders have no parameters and no persistent buffers, so they add nothing to a
``state_dict``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

__all__ = ["BinaryEncoder", "IdentityEncoder", "OneHotEncoder", "build_encoder", "encoded_shape"]


class IdentityEncoder(nn.Module):
    """``Box`` observations: returned as they are (``out_shape`` = the space's shape)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.in_shape = tuple(int(d) for d in shape)
        self.out_shape = self.in_shape

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, *shape]`` → the same tensor."""
        return obs


class OneHotEncoder(nn.Module):
    """One-hot encoding of ``Discrete`` / ``MultiDiscrete`` indices.

    ``obs [B, *in_shape]`` (any integer dtype; ``in_shape`` is ``()`` for ``Discrete``) → ``[B, D]``
    float32 with ``D = sum(nvec)``: component ``k`` (C order) with value ``v`` sets column
    ``offset_k + v - start_k``, ``offset_k = nvec_0 + … + nvec_{k-1}``. Example: ``nvec = [3, 2]``,
    ``start = [0, 1]``, observation ``[2, 1]`` → ``[0, 0, 1, 1, 0]``.

    Args:
        nvec: number of values of each component, ``>= 1`` (an int for ``Discrete``).
        start: the smallest value of each component (same shape as ``nvec``; default 0).

    Raises:
        ValueError: at construction, ``nvec`` has an entry ``< 1`` or ``start`` another shape;
            in ``forward``, a floating-point observation or a value outside
            ``[start_k, start_k + nvec_k)`` (it would silently light another component's column).
    """

    offsets: torch.Tensor
    starts: torch.Tensor
    sizes: torch.Tensor

    def __init__(self, nvec: Any, start: Any = None) -> None:
        super().__init__()
        n = np.asarray(nvec, dtype=np.int64)
        s = np.zeros_like(n) if start is None else np.asarray(start, dtype=np.int64)
        if s.shape != n.shape:
            raise ValueError(f"OneHotEncoder: start shape {s.shape} differs from nvec shape {n.shape}")
        if n.size == 0 or (n < 1).any():
            raise ValueError(f"OneHotEncoder: nvec must be non-empty with entries >= 1, got {n.tolist()}")
        self.in_shape = tuple(int(d) for d in n.shape)
        flat = n.reshape(-1)
        self.out_shape = (int(flat.sum()),)
        offsets = np.concatenate([[0], np.cumsum(flat)[:-1]])
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.int64), persistent=False)
        self.register_buffer("starts", torch.as_tensor(s.reshape(-1), dtype=torch.int64), persistent=False)
        self.register_buffer("sizes", torch.as_tensor(flat, dtype=torch.int64), persistent=False)
        self._single = flat.size == 1
        self._start = int(s.reshape(-1)[0])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, *in_shape]`` integers → ``[B, sum(nvec)]`` float32 one-hots."""
        if obs.is_floating_point() or obs.is_complex():
            raise ValueError(f"OneHotEncoder takes integer indices, got dtype {obs.dtype}")
        b = obs.shape[0]
        if tuple(obs.shape[1:]) != self.in_shape:
            raise ValueError(f"OneHotEncoder: observations must be [B, *{self.in_shape}], got {tuple(obs.shape)}")
        if self._single:  # Discrete: one_hot checks the range itself (fewer small ops per actor step)
            index = obs.reshape(b).to(torch.int64)
            if self._start:
                index = index - self._start
            try:
                return nn.functional.one_hot(index, self.out_shape[0]).to(torch.float32)
            except RuntimeError as exc:
                raise ValueError(f"OneHotEncoder: observation values outside [start, start + n) (start "
                                 f"{self._start}, n {self.out_shape[0]}): {exc}") from exc
        index = obs.reshape(b, -1).to(torch.int64) - self.starts
        if bool(((index < 0) | (index >= self.sizes)).any()):
            raise ValueError(f"OneHotEncoder: observation values outside [start, start + n) "
                             f"(start {self.starts.tolist()}, n {self.sizes.tolist()})")
        out = torch.zeros(b, self.out_shape[0], dtype=torch.float32, device=obs.device)
        return out.scatter_(1, index + self.offsets, 1.0)


class BinaryEncoder(nn.Module):
    """``MultiBinary`` observations ``[B, *shape]`` 0/1 (``int8``) → ``[B, prod(shape)]`` float32."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.in_shape = tuple(int(d) for d in shape)
        self.out_shape = (math.prod(self.in_shape),)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """``[B, *shape]`` → ``[B, prod(shape)]`` float32."""
        return obs.reshape(obs.shape[0], -1).to(torch.float32)


def build_encoder(space: Any) -> nn.Module:
    """The encoder of an observation space (see the module docstring).

    Args:
        space: a :class:`gymnasium.spaces.Space`, or anything with an ``observation_space``
            attribute (an :class:`apexrl.envs.EnvSpecInfo`).

    Returns:
        A parameter-free module with ``in_shape`` (one raw observation) and ``out_shape`` (one
        encoded observation, what the torso takes): :class:`IdentityEncoder` for ``Box``,
        :class:`OneHotEncoder` for ``Discrete`` / ``MultiDiscrete``, :class:`BinaryEncoder` for
        ``MultiBinary``.

    Raises:
        ValueError: any other space (``Tuple``, ``Dict``, …; wrap the env with
            ``gymnasium.wrappers.FlattenObservation``) or no space given.
    """
    if not isinstance(space, spaces.Space):
        space = getattr(space, "observation_space", None)
    if isinstance(space, spaces.Box):
        return IdentityEncoder(space.shape)
    if isinstance(space, spaces.Discrete):
        return OneHotEncoder(int(space.n), int(space.start))
    if isinstance(space, spaces.MultiDiscrete):
        return OneHotEncoder(space.nvec, space.start)
    if isinstance(space, spaces.MultiBinary):
        return BinaryEncoder(space.shape)
    raise ValueError(f"no observation encoder for {space}: apexrl needs Box, Discrete, MultiDiscrete or "
                     "MultiBinary observations (wrap the env, e.g. with gymnasium.wrappers.FlattenObservation)")


def encoded_shape(space: Any) -> tuple[int, ...]:
    """The shape of one observation after :func:`build_encoder` (``Discrete(16)`` → ``(16,)``)."""
    return tuple(build_encoder(space).out_shape)
