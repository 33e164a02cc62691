"""Run-time validation of what an environment returns.

Gymnasium's own :class:`gymnasium.wrappers.PassiveEnvChecker` looks at the *first*
``reset``/``step`` only and merely warns about NaN rewards. A distributed run has many
actors stepping for days, so apexrl checks *every* call and fails loudly with an
:class:`EnvError` that says which environment, which actor (``context``), which step, what
was expected and what came back. Values that are NaN/inf, observations whose shape or
dtype differ from the declared ``observation_space`` and malformed ``reset``/``step``
tuples would otherwise surface much later as a NaN loss or an obscure replay error.
"""

from __future__ import annotations

import math
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import RecordConstructorArgs

__all__ = ["EnvError", "ValidatedEnv"]


class EnvError(ValueError):
    """An environment returned something apexrl cannot use.

    The message names the env id, the caller's context (e.g. ``"actor 3"``), the step
    number within the episode and within the env's lifetime, what was expected and what
    came back.
    """


def _describe(value: Any) -> str:
    """A short description of ``value`` for error messages (type, shape, dtype)."""
    if isinstance(value, np.ndarray):
        return f"ndarray(shape={value.shape}, dtype={value.dtype})"
    if isinstance(value, np.generic):
        return f"{type(value).__name__}({value!r}) (numpy scalar, shape=(), dtype={value.dtype})"
    if isinstance(value, tuple):
        names = ", ".join(type(v).__name__ for v in value)
        return f"tuple of {len(value)} element(s): ({names})"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__} {text}"


class ValidatedEnv(gym.Wrapper, RecordConstructorArgs):
    """Check every ``reset``/``step`` result and raise :class:`EnvError` on bad data.

    Checks, on every call:

    * ``reset`` returns a 2-tuple ``(obs, info)`` and ``step`` a 5-tuple
      ``(obs, reward, terminated, truncated, info)`` (the Gymnasium >= 0.26 API);
      ``info`` is a ``dict``; ``terminated``/``truncated`` are ``bool``/``np.bool_``.
    * For a :class:`gymnasium.spaces.Box` observation space: the observation is a NumPy
      array (or NumPy scalar) with exactly the declared ``shape`` and ``dtype``, and, for
      floating dtypes, only finite values (no NaN/inf). Bounds are *not* checked (many
      environments legitimately leave them slightly). For any other space:
      ``observation_space.contains(obs)``.
    * The reward is a real number (Python/NumPy int or float, or a 0-d numeric array)
      and finite.

    Args:
        env: the environment to check.
        env_id: the id the env was made from; quoted in every error.
        context: who runs the env, e.g. ``"actor 3"``; quoted in every error if non-empty.
        layer: where this checker sits in the wrapper stack, e.g. ``"base env"``;
            quoted in every error so that the reader knows which step numbering applies.
        step_unit: what one ``step`` call of ``env`` is, e.g. ``"agent steps"`` or
            ``"emulator frames"`` (for an ALE env made with ``frameskip=1``).

    Raises:
        EnvError: at construction if ``env.observation_space`` or ``env.action_space`` is
            not a :class:`gymnasium.spaces.Space`; on ``reset``/``step`` as listed above.

    The step counters: ``episode_step`` is the number of ``step`` calls since the last
    ``reset`` (the failing step included, so the first step of an episode is step 1);
    ``total_steps`` counts all ``step`` calls since the wrapper was made; ``episode`` is
    the number of ``reset`` calls so far (the first episode is episode 1).
    """

    def __init__(
        self,
        env: gym.Env,
        env_id: str,
        context: str = "",
        *,
        layer: str = "wrapped env",
        step_unit: str = "agent steps",
    ) -> None:
        RecordConstructorArgs.__init__(
            self, env_id=env_id, context=context, layer=layer, step_unit=step_unit
        )
        gym.Wrapper.__init__(self, env)
        self.env_id = env_id
        self.context = context
        self.layer = layer
        self.step_unit = step_unit
        self.episode = 0
        self.episode_step = 0
        self.total_steps = 0
        for name in ("observation_space", "action_space"):
            space = getattr(env, name)
            if not isinstance(space, spaces.Space):
                raise EnvError(
                    f"{self._where()}: `{name}` must be a gymnasium.spaces.Space; "
                    f"got {_describe(space)}"
                )
        obs_space = env.observation_space
        self._box = isinstance(obs_space, spaces.Box)
        if self._box:
            self._shape = tuple(obs_space.shape)
            self._dtype = np.dtype(obs_space.dtype)
            self._check_finite = self._dtype.kind in "fc"

    # -- messages ---------------------------------------------------------------------------

    def _where(self, call: str | None = None) -> str:
        who = f"env {self.env_id!r}"
        if self.context:
            who += f" ({self.context})"
        if call == "step":
            when = (
                f"step() at step {self.episode_step} of episode {self.episode} "
                f"({self.total_steps} {self.step_unit} since the env was made)"
            )
        elif call == "reset":
            when = (
                f"reset() starting episode {self.episode} "
                f"(after {self.total_steps} {self.step_unit} since the env was made)"
            )
        else:
            when = "construction"
        return f"{who}, {self.layer}, {when}"

    def _fail(self, call: str, what: str, expected: str, got: str) -> EnvError:
        return EnvError(f"{self._where(call)}: {what}: expected {expected}; got {got}")

    # -- checks -----------------------------------------------------------------------------

    def _check_obs(self, obs: Any, call: str) -> None:
        space = self.env.observation_space
        if self._box:
            shape = getattr(obs, "shape", None)
            dtype = getattr(obs, "dtype", None)
            if not isinstance(obs, (np.ndarray, np.generic)):
                raise self._fail(
                    call,
                    "observation is not a NumPy array",
                    f"ndarray of shape {self._shape} and dtype {self._dtype} ({space})",
                    _describe(obs),
                )
            if shape != self._shape or dtype != self._dtype:
                raise self._fail(
                    call,
                    "observation does not match the declared observation_space",
                    f"shape {self._shape}, dtype {self._dtype} ({space})",
                    f"shape {shape}, dtype {dtype}",
                )
            if self._check_finite:
                finite = np.isfinite(obs)
                if not finite.all():
                    bad = np.argwhere(~finite) if np.ndim(obs) else np.zeros((1, 0), int)
                    first = tuple(int(i) for i in bad[0])
                    value = np.asarray(obs)[first]
                    raise self._fail(
                        call,
                        "observation contains NaN/inf",
                        "finite values",
                        f"{len(bad)} non-finite of {np.size(obs)} entries, "
                        f"first at index {first}: {value}",
                    )
        elif not space.contains(obs):
            raise self._fail(
                call,
                "observation is not in the declared observation_space",
                f"an element of {space}",
                _describe(obs),
            )

    def _check_info(self, info: Any, call: str) -> None:
        if not isinstance(info, dict):
            raise self._fail(call, "info is not a dict", "dict", _describe(info))

    # -- gymnasium API ------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset the wrapped env and validate ``(obs, info)``; see the class docstring."""
        result = self.env.reset(seed=seed, options=options)
        self.episode += 1
        self.episode_step = 0
        if not isinstance(result, tuple) or len(result) != 2:
            raise self._fail(
                "reset",
                "reset() returned a malformed result",
                "a 2-tuple (obs, info)",
                _describe(result),
            )
        obs, info = result
        self._check_obs(obs, "reset")
        self._check_info(info, "reset")
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the wrapped env and validate the 5-tuple; see the class docstring."""
        result = self.env.step(action)
        self.episode_step += 1
        self.total_steps += 1
        if not isinstance(result, tuple) or len(result) != 5:
            raise self._fail(
                "step",
                "step() returned a malformed result",
                "a 5-tuple (obs, reward, terminated, truncated, info)",
                _describe(result),
            )
        obs, reward, terminated, truncated, info = result
        self._check_obs(obs, "step")
        if isinstance(reward, (int, float, np.integer, np.floating)) and not isinstance(
            reward, (bool, np.bool_)
        ):
            value = float(reward)
        elif (
            isinstance(reward, np.ndarray)
            and reward.ndim == 0
            and reward.dtype.kind in "iuf"
        ):
            value = float(reward)
        else:
            raise self._fail(
                "step", "reward is not a real number", "a finite int or float", _describe(reward)
            )
        if not math.isfinite(value):
            raise self._fail("step", "reward is NaN/inf", "a finite number", repr(value))
        for name, flag in (("terminated", terminated), ("truncated", truncated)):
            if not isinstance(flag, (bool, np.bool_)):
                raise self._fail(
                    "step", f"`{name}` is not a bool", "bool or numpy.bool_", _describe(flag)
                )
        self._check_info(info, "step")
        return obs, reward, terminated, truncated, info
