"""The action spaces apexrl's algorithms take, and the error when an env's does not fit.

Two kinds: ``"discrete"`` (:class:`gymnasium.spaces.Discrete`, the DQN family) and
``"continuous"`` (a 1-d :class:`gymnasium.spaces.Box` with finite bounds, the DPG/SAC family,
whose policies are squashed to the bounds). :func:`action_space_error` words the message
:func:`apexrl.envs.make.require_action_space` raises; :func:`float32_actions` makes every
floating ``Box`` action space ``float32`` (dm_control declares ``float64``), so actors, replay
and learners see one action dtype.

Only NumPy and Gymnasium are used here (no torch), so :mod:`apexrl.envs` stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import RecordConstructorArgs

__all__ = [
    "ACTION_KINDS",
    "ActionKind",
    "Float32Actions",
    "action_space_error",
    "action_spec",
    "check_fitting",
    "float32_actions",
]

ActionKind = Literal["discrete", "continuous"]
ACTION_KINDS: tuple[str, ...] = ("discrete", "continuous")
_SPACE_NAME = {"discrete": "Discrete", "continuous": "Box"}


def action_spec(space: spaces.Space) -> tuple[tuple[int, ...], np.dtype]:
    """``(action_shape, action_dtype)`` of one action as actors, replay and learners store it.

    ``Discrete``: ``((), int64)`` (Gymnasium's own sample dtype); ``Box``: its shape and dtype
    (``float32`` after :func:`float32_actions`); anything else: its ``shape`` (``()`` if None)
    and ``dtype``.
    """
    if isinstance(space, spaces.Discrete):
        return (), np.dtype(np.int64)
    shape = tuple(int(d) for d in (space.shape or ()))
    return shape, np.dtype(space.dtype if space.dtype is not None else np.float32)


def check_fitting(fitting: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Validate the ``{"discrete": [...], "continuous": [...]}`` map of algorithm names.

    Raises:
        ValueError: a key other than ``"discrete"``/``"continuous"``, or a value that is not a
            sequence of strings, naming ``fitting``.
    """
    if not isinstance(fitting, Mapping):
        raise ValueError(f"fitting must be a dict {{'discrete': [...], 'continuous': [...]}}, got {fitting!r}")
    out: dict[str, list[str]] = {}
    for key, names in fitting.items():
        if key not in ACTION_KINDS:
            raise ValueError(f"fitting has key {key!r}; the keys are {', '.join(ACTION_KINDS)}")
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"fitting[{key!r}] must be a list of algorithm names, got {names!r}")
        out[key] = list(names)
    return out


def _box_problem(space: spaces.Box) -> str | None:
    """Why a ``Box`` does not suit the continuous algorithms, or None if it does."""
    if len(space.shape) != 1 or space.shape[0] < 1:
        return f"its shape is {space.shape}, not (d,) with d >= 1"
    if not np.issubdtype(space.dtype, np.floating):
        return f"its dtype is {space.dtype}, not a floating type"
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        return (f"its bounds are not all finite (low {space.low.tolist()}, high {space.high.tolist()}); the "
                "policy is squashed to the bounds, so give the env finite ones (an ActionWrapper)")
    if not (space.low < space.high).all():
        return f"its low bounds {space.low.tolist()} are not all below its high bounds {space.high.tolist()}"
    return None


def _use(fitting: dict[str, list[str]], kind: str) -> str:
    names = fitting.get(kind, [])
    if not names:
        return f"no registered algorithm takes {_SPACE_NAME[kind]} actions"
    return f"for {_SPACE_NAME[kind]} actions use: {', '.join(names)}"


def action_space_error(
    env_id: str, algorithm: str, kind: str, space: spaces.Space, fitting: Mapping[str, Sequence[str]]
) -> str | None:
    """The error message if ``algorithm`` (of action kind ``kind``) cannot act in ``space``.

    Example: ``"`apex-dqn` needs a Discrete action space but Pendulum-v1 has Box(-2.0, 2.0,
    (1,), float32); for Box actions use: ddpg, td3, sac, apex-dpg, d4pg"``.

    Args:
        env_id: the env's id, quoted.
        algorithm: the algorithm's name as the user typed it.
        kind: ``"discrete"``, ``"continuous"`` or ``"any"`` (either): what ``algorithm`` needs.
        space: the env's action space (as :func:`apexrl.envs.make_env` makes it).
        fitting: ``{"discrete": [names], "continuous": [names]}``, the registered algorithms
            of each kind (a missing key means none).

    Returns:
        None if the space fits, else the message: it names the env, its action space, what
        is wrong and the algorithms that fit the env's space (if any kind does).

    Raises:
        ValueError: ``kind`` is not one of ``"discrete"``, ``"continuous"``, ``"any"``, or ``fitting`` is
            malformed (see :func:`check_fitting`).
    """
    if kind not in ACTION_KINDS + ("any",):
        raise ValueError(f"kind must be one of {', '.join(ACTION_KINDS)}, any; got {kind!r}")
    fit = check_fitting(fitting)
    if kind == "any":  # Discrete or a 1-d Box with finite bounds (actor-critic agents)
        if isinstance(space, spaces.Discrete) or (isinstance(space, spaces.Box) and _box_problem(space) is None):
            return None
        message = f"`{algorithm}` needs a Discrete or a 1-d Box action space with finite bounds but {env_id} has {space}"
        problem = _box_problem(space) if isinstance(space, spaces.Box) else f"not {type(space).__name__}"
        return f"{message}: {problem}"
    need = f"`{algorithm}` needs a {_SPACE_NAME[kind]} action space"
    if kind == "continuous":
        need = f"`{algorithm}` needs a 1-d Box action space with finite bounds"
    box_problem = _box_problem(space) if isinstance(space, spaces.Box) else None
    if kind == "discrete" and isinstance(space, spaces.Discrete):
        return None
    if kind == "continuous" and isinstance(space, spaces.Box) and box_problem is None:
        return None
    message = f"{need} but {env_id} has {space}"
    if isinstance(space, spaces.Discrete):
        return f"{message}; {_use(fit, 'discrete')}"
    if isinstance(space, spaces.Box):
        if box_problem is None:
            return f"{message}; {_use(fit, 'continuous')}"
        return f"{message}: {box_problem}; apexrl's algorithms take Discrete actions or a 1-d Box with finite bounds"
    return (f"{message}; apexrl's algorithms take Discrete actions ({', '.join(fit.get('discrete', [])) or 'none'}) "
            f"or a 1-d Box with finite bounds ({', '.join(fit.get('continuous', [])) or 'none'}), not "
            f"{type(space).__name__}")


def _f32_bound(value: np.ndarray, inward: float) -> np.ndarray:
    """``value`` as float32, rounded towards ``inward`` where the cast moved it outward."""
    out = value.astype(np.float32)
    moved = (out.astype(np.float64) < value) if inward > 0 else (out.astype(np.float64) > value)
    return np.where(moved, np.nextafter(out, np.float32(inward)), out).astype(np.float32)


class Float32Actions(gym.ActionWrapper, RecordConstructorArgs):
    """Declare a floating ``Box`` action space as ``float32``; cast actions back for the env.

    The bounds are rounded inwards to ``float32``, so every action inside the declared space
    stays inside the env's own after the cast. Used for dm_control (``float64`` actions).

    Args:
        env: an env whose ``action_space`` is a floating ``Box`` of another dtype.

    Raises:
        ValueError: the action space is not a floating ``Box``.
    """

    def __init__(self, env: gym.Env) -> None:
        RecordConstructorArgs.__init__(self)
        gym.ActionWrapper.__init__(self, env)
        inner = env.action_space
        if not isinstance(inner, spaces.Box) or not np.issubdtype(inner.dtype, np.floating):
            raise ValueError(f"Float32Actions needs a floating Box action space, got {inner}")
        self._inner_dtype = inner.dtype
        low = _f32_bound(inner.low.astype(np.float64), np.inf)
        high = _f32_bound(inner.high.astype(np.float64), -np.inf)
        self.action_space = spaces.Box(low=low, high=high, shape=inner.shape, dtype=np.float32)

    def action(self, action: Any) -> np.ndarray:
        """The action in the env's own dtype (the values unchanged)."""
        return np.asarray(action, dtype=self._inner_dtype)


def float32_actions(env: gym.Env) -> gym.Env:
    """``env`` itself unless its action space is a non-``float32`` floating ``Box``; then
    :class:`Float32Actions` around it."""
    space = env.action_space
    if isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.floating) and space.dtype != np.float32:
        return Float32Actions(env)
    return env
