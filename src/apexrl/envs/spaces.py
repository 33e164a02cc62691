"""The observation spaces apexrl accepts, their compact stored form and a JSON description.

Supported: :class:`~gymnasium.spaces.Box`, :class:`~gymnasium.spaces.Discrete`,
:class:`~gymnasium.spaces.MultiDiscrete` and :class:`~gymnasium.spaces.MultiBinary`.
Environments, actors, replay, checkpoints and exported policies keep the *compact* form of an
observation (an integer index per component: Gymnasium's int64 scalar for ``Discrete``, the smallest
integer dtype that holds it for ``MultiDiscrete``);
only the network turns it into its input (one-hot, float) — see :mod:`apexrl.nets.encoders`.
``Tuple``, ``Dict``, ``Text``, ``Graph``, ``Sequence`` and other spaces are refused with
:func:`unsupported_space_message`, which names ``gymnasium.wrappers.FlattenObservation``.

Only NumPy and Gymnasium are used here (no torch), so :mod:`apexrl.envs` stays light.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TransformObservation

__all__ = [
    "SUPPORTED_SPACES",
    "compact_int_dtype",
    "compact_observations",
    "compact_space",
    "scale_actions",
    "space_from_json",
    "space_to_json",
    "unscale_actions",
    "unsupported_space_message",
]

SUPPORTED_SPACES: tuple[type[spaces.Space], ...] = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete,
                                                    spaces.MultiBinary)
"""Observation space classes apexrl can train on."""

_INT_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.int8, np.int16, np.int32, np.int64))
"""Candidates, smallest first; ``uint16``/``uint32`` are left out because torch handles them poorly."""


def compact_int_dtype(low: int, high: int) -> np.dtype:
    """The smallest of ``uint8, int8, int16, int32, int64`` that holds every integer in ``[low, high]``.

    Example: ``(0, 15) -> uint8`` (FrozenLake), ``(0, 499) -> int16`` (Taxi), ``(-3, 5) -> int8``.

    Raises:
        ValueError: ``low > high`` or the range does not fit ``int64``.
    """
    lo, hi = int(low), int(high)
    if lo > hi:
        raise ValueError(f"compact_int_dtype: low {lo} > high {hi}")
    for dtype in _INT_DTYPES:
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    raise ValueError(f"compact_int_dtype: [{lo}, {hi}] does not fit int64")


def compact_space(space: spaces.Space) -> spaces.Space:
    """``space`` with its integer observations in the smallest dtype that holds them.

    ``MultiDiscrete(nvec, start)`` keeps ``nvec`` and ``start`` with the dtype of
    :func:`compact_int_dtype` over ``[start, start + nvec - 1]``; ``Discrete`` (Gymnasium's int64
    scalar, which its env checker requires), ``MultiBinary`` (already ``int8``) and ``Box`` are
    returned unchanged.

    Raises:
        ValueError: ``space`` is not one of :data:`SUPPORTED_SPACES`.
    """
    if isinstance(space, spaces.Discrete):
        # kept as Gymnasium makes it (int64 scalars): its env checker requires int / np.int64
        # observations for Discrete spaces, and one integer per state is already compact
        return space
    if isinstance(space, spaces.MultiDiscrete):
        start = np.asarray(space.start, dtype=np.int64)
        top = start + np.asarray(space.nvec, dtype=np.int64) - 1
        dtype = compact_int_dtype(int(start.min()), int(top.max())) if start.size else np.dtype(np.uint8)
        return spaces.MultiDiscrete(np.asarray(space.nvec, dtype=np.int64), dtype=dtype, start=start)
    if isinstance(space, (spaces.MultiBinary, spaces.Box)):
        return space
    raise ValueError(f"compact_space: unsupported observation space {space}")


def compact_observations(env: gym.Env) -> gym.Env:
    """Wrap ``env`` so that its ``Discrete``/``MultiDiscrete`` observations come in the dtype of
    :func:`compact_space` (``Discrete``: a NumPy integer scalar, shape ``()``; ``MultiDiscrete``: an
    array of ``nvec``'s shape). Other spaces: ``env`` itself.

    Raises:
        ValueError: as :func:`compact_space`.
    """
    space = env.observation_space
    target = compact_space(space)
    if target is space:
        return env
    return TransformObservation(env, _AsDtype(str(np.dtype(target.dtype)), isinstance(target, spaces.Discrete)),
                                target)


class _AsDtype:
    """Picklable observation cast (a lambda would make ``env.spec`` unpicklable): a NumPy
    scalar of ``dtype`` when ``scalar`` (``Discrete``), else an array of ``dtype``."""

    def __init__(self, dtype: str, scalar: bool) -> None:
        self.dtype, self.scalar = np.dtype(dtype), scalar

    def __call__(self, obs: Any) -> Any:
        return self.dtype.type(obs) if self.scalar else np.asarray(obs, dtype=self.dtype)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _AsDtype) and (self.dtype, self.scalar) == (other.dtype, other.scalar)

    def __hash__(self) -> int:
        return hash((self.dtype, self.scalar))


def unsupported_space_message(env_id: str, space: spaces.Space) -> str:
    """The error message for an observation space apexrl cannot train on (names the fix)."""
    return (f"Environment {env_id!r} has observation space {space}; apexrl needs array "
            "observations (Box, Discrete, MultiDiscrete or MultiBinary). Wrap the env, e.g. "
            "with gymnasium.wrappers.FlattenObservation, and register the wrapped version.")


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A JSON-able description of a supported space, enough to rebuild it (:func:`space_from_json`).

    ``Discrete``: ``{"type": "Discrete", "n", "start", "dtype"}``; ``MultiDiscrete``: ``{"type",
    "nvec", "start", "dtype"}`` (nested lists for multi-dimensional ``nvec``); ``MultiBinary``:
    ``{"type", "n"}``; ``Box``: ``{"type", "shape", "dtype", "low", "high"}`` with the bounds as
    nested lists in which a non-finite bound is ``null`` (JSON has no infinity), so that an exported
    continuous policy can rescale its actions (:func:`scale_actions`).

    Raises:
        ValueError: ``space`` is not one of :data:`SUPPORTED_SPACES`.
    """
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start), "dtype": str(space.dtype)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": np.asarray(space.nvec).tolist(),
                "start": np.asarray(space.start).tolist(), "dtype": str(space.dtype)}
    if isinstance(space, spaces.MultiBinary):
        n = space.n
        return {"type": "MultiBinary", "n": int(n) if np.ndim(n) == 0 else np.asarray(n).tolist()}
    if isinstance(space, spaces.Box):
        return {"type": "Box", "shape": [int(d) for d in space.shape], "dtype": str(space.dtype),
                "low": _finite_or_none(space.low), "high": _finite_or_none(space.high)}
    raise ValueError(f"space_to_json: unsupported observation space {space}")


def space_from_json(data: dict[str, Any]) -> spaces.Space:
    """The space :func:`space_to_json` described. A ``Box`` gets its stored bounds (``null`` entries
    become ``-inf`` / ``inf``); a description without bounds (written before they were kept) gets
    ``(-inf, inf)``, the dtype's range for integer dtypes, ``(0, 1)`` for ``bool``.

    Raises:
        ValueError: an unknown ``type`` or missing fields.
    """
    try:
        kind = data["type"]
        if kind == "Discrete":
            return spaces.Discrete(int(data["n"]), start=int(data["start"]), dtype=np.dtype(data["dtype"]))
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(np.asarray(data["nvec"], dtype=np.int64), dtype=np.dtype(data["dtype"]),
                                        start=np.asarray(data["start"], dtype=np.int64))
        if kind == "MultiBinary":
            return spaces.MultiBinary(data["n"])
        if kind == "Box":
            dtype = np.dtype(data["dtype"])
            shape = tuple(int(d) for d in data["shape"])
            if "low" in data and "high" in data:
                low_b = _none_to_inf(data["low"], -np.inf).reshape(shape)
                high_b = _none_to_inf(data["high"], np.inf).reshape(shape)
                return spaces.Box(low_b.astype(dtype), high_b.astype(dtype), shape=shape, dtype=dtype)
            if dtype.kind in "iu":
                low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
            else:
                low, high = (0, 1) if dtype.kind == "b" else (-np.inf, np.inf)
            return spaces.Box(low, high, shape=shape, dtype=dtype)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"space_from_json: malformed space description {data!r}: {exc}") from exc
    raise ValueError(f"space_from_json: unknown space type {kind!r} in {data!r}")


def _finite_or_none(bound: np.ndarray) -> Any:
    """``bound`` as nested lists with non-finite entries as ``None`` (JSON ``null``)."""
    arr = np.asarray(bound, dtype=np.float64)
    return np.where(np.isfinite(arr), arr, None).tolist()


def _none_to_inf(values: Any, fill: float) -> np.ndarray:
    """Inverse of :func:`_finite_or_none`: ``None`` entries become ``fill`` (float64 array)."""
    arr = np.asarray(values, dtype=object)
    return np.where(np.equal(arr, None), fill, arr).astype(np.float64)


def _finite_bounds(low: Any, high: Any, d: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.broadcast_to(np.asarray(low, dtype=np.float64).reshape(-1), (d,))
    hi = np.broadcast_to(np.asarray(high, dtype=np.float64).reshape(-1), (d,))
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise ValueError(f"action bounds must be finite to rescale actions, got low={lo.tolist()}, high={hi.tolist()}")
    if (lo >= hi).any():
        raise ValueError(f"action bounds must have low < high, got low={lo.tolist()}, high={hi.tolist()}")
    return lo, hi


def scale_actions(actions: np.ndarray, low: Any, high: Any) -> np.ndarray:
    """Actions in the policy's units ``[-1, 1]^d`` → the ``Box``'s units ``[low, high]``:
    ``low + (a + 1)·(high − low)/2`` per component, as SB3's ``unscale_action`` (so −1 → ``low``,
    1 → ``high``). Values outside ``[-1, 1]`` are clipped first.

    Args:
        actions: ``[E, d]`` (or ``[d]``) floats in ``[-1, 1]``.
        low, high: the ``Box``'s bounds, ``[d]`` (``action_space.low`` / ``high``) or scalars.

    Returns: ``float32`` array of ``actions``'s shape.

    Raises:
        ValueError: a bound that is not finite, or ``low >= high`` in some component.
    """
    a = np.asarray(actions, dtype=np.float64)
    lo, hi = _finite_bounds(low, high, a.shape[-1])
    out = lo + (np.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (hi - lo)
    return np.clip(out, lo, hi).astype(np.float32)


def unscale_actions(env_actions: np.ndarray, low: Any, high: Any) -> np.ndarray:
    """Inverse of :func:`scale_actions`: ``2·(x − low)/(high − low) − 1``, clipped to ``[-1, 1]``.

    Args:
        env_actions: ``[E, d]`` (or ``[d]``) actions in the ``Box``'s units.
        low, high: as :func:`scale_actions`.

    Returns: ``float32`` array in ``[-1, 1]`` of ``env_actions``'s shape.

    Raises:
        ValueError: as :func:`scale_actions`.
    """
    x = np.asarray(env_actions, dtype=np.float64)
    lo, hi = _finite_bounds(low, high, x.shape[-1])
    return np.clip(2.0 * (x - lo) / (hi - lo) - 1.0, -1.0, 1.0).astype(np.float32)
