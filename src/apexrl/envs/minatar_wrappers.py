"""MinAtar (Young & Tian 2019) wrappers: channel-first ``uint8`` frames, Gymnasium seeding.

MinAtar's own Gymnasium env (``minatar.gym.BaseEnv``, MinAtar 1.0.15) returns ``(10, 10,
k)`` ``bool`` frames and seeds only its legacy ``numpy.random.RandomState``; the two
wrappers here make it a channel-first ``uint8`` env that follows Gymnasium's seeding API.
Both record their constructor arguments (:class:`gymnasium.utils.RecordConstructorArgs`),
so ``gymnasium.make(env.spec)`` rebuilds them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import RecordConstructorArgs
from gymnasium.wrappers import TransformObservation

__all__ = ["MinAtarSeeding", "minatar_channels_first"]


class MinAtarSeeding(gym.Wrapper, RecordConstructorArgs):
    """Seed ``env.unwrapped.np_random`` on ``reset(seed=s)``, as ``gymnasium.Env.reset`` does.

    What MinAtar does: ``BaseEnv.reset(seed=s)`` calls ``Environment.seed(s)``, which
    replaces the game's RNG by ``numpy.random.RandomState(s)`` (the one RNG behind sticky
    actions and every random event of the game), but it never calls
    ``gymnasium.Env.reset(self, seed=s)``. So ``env.unwrapped.np_random`` is never seeded
    and Gymnasium's ``check_env`` stops at "Expects the random number generator to have been
    generated given a seed was passed to reset" (the raw MinAtar env fails the same way).

    What this wrapper does: passes ``seed`` and ``options`` on unchanged (the game is seeded
    exactly as MinAtar seeds it, so a seed gives the same game as with raw MinAtar) and, when
    ``seed`` is not None, first calls ``gymnasium.Env.reset(env.unwrapped, seed=seed)``, which
    sets ``np_random`` and ``np_random_seed`` from it. MinAtar's dynamics never draw from
    ``np_random``; it is seeded so that ``env.np_random`` / ``env.np_random_seed`` hold what
    Gymnasium's API promises. ``check_env`` then passes; its observation checks (same seed,
    same observations after ``reset`` and after a ``step``) are the real evidence that the
    ``RandomState`` seeding makes MinAtar reproducible.

    Args:
        env: a MinAtar env (``gymnasium.make("MinAtar/...")``), possibly wrapped.
    """

    def __init__(self, env: gym.Env) -> None:
        RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Seed ``env.unwrapped.np_random`` if ``seed`` is given, then reset the game."""
        if seed is not None:
            gym.Env.reset(self.env.unwrapped, seed=seed)
        return self.env.reset(seed=seed, options=options)


def _channels_first_uint8(obs: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` ``bool`` -> C-contiguous ``(C, H, W)`` ``uint8`` in {0, 1} (new array)."""
    return np.ascontiguousarray(np.moveaxis(obs, -1, 0), dtype=np.uint8)


def minatar_channels_first(env: gym.Env, env_id: str) -> gym.Env:
    """Channel-first ``uint8`` observations for a MinAtar env.

    A :class:`~gymnasium.wrappers.TransformObservation` with a module-level function (not a
    lambda), so ``env.spec`` stays picklable.

    Args:
        env: a MinAtar env whose observations are ``(10, 10, k)`` ``bool``.
        env_id: quoted in the error message.

    Returns:
        The wrapped env; observation space ``Box(0, 1, (k, 10, 10), uint8)``.

    Raises:
        ValueError: if the observation space is not a 3-d ``Box``.
    """
    space = env.observation_space
    if not isinstance(space, spaces.Box) or len(space.shape) != 3:
        raise ValueError(
            f"MinAtar environment {env_id!r}: expected a Box observation space of shape "
            f"(10, 10, channels); got {space}"
        )
    h, w, c = space.shape
    box = spaces.Box(low=0, high=1, shape=(c, h, w), dtype=np.uint8)
    return TransformObservation(env, _channels_first_uint8, box)
