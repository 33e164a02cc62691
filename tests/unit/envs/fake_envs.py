"""Small deterministic environments for the envs tests."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

SCRIPTED_ID = "ApexrlTest/Scripted-v0"


class ScriptedEnv(gym.Env):
    """Vector observations ``[t, t, ...]`` (t = step in episode), reward 1 per step.

    ``faults`` maps a step number within the episode (1-based; 0 means ``reset``) to a
    fault injected at that call: ``"nan_obs"``, ``"inf_obs"``, ``"nan_reward"``,
    ``"inf_reward"``, ``"wrong_shape"``, ``"wrong_dtype"``, ``"four_tuple"``,
    ``"bare_obs"`` (reset returns only the observation), ``"int_terminated"``,
    ``"info_none"``, ``"list_obs"``.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        obs_dim: int = 3,
        dtype: Any = np.float32,
        episode_len: int = 10,
        faults: dict[int, str] | None = None,
    ) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, (obs_dim,), dtype=dtype)
        self.action_space = spaces.Discrete(2)
        self.dtype = np.dtype(dtype)
        self.obs_dim = obs_dim
        self.episode_len = episode_len
        self.faults = dict(faults or {})
        self.t = 0

    def _obs(self, fault: str | None) -> Any:
        obs = np.full(self.obs_dim, self.t, dtype=self.dtype)
        if fault == "nan_obs":
            obs[1] = np.nan
        elif fault == "inf_obs":
            obs[0] = np.inf
        elif fault == "wrong_shape":
            obs = np.zeros(self.obs_dim + 1, dtype=self.dtype)
        elif fault == "wrong_dtype":
            obs = obs.astype(np.float64)
        elif fault == "list_obs":
            obs = obs.tolist()
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        fault = self.faults.get(0)
        obs = self._obs(fault)
        if fault == "bare_obs":
            return obs
        return obs, {}

    def step(self, action: Any):
        self.t += 1
        fault = self.faults.get(self.t)
        obs = self._obs(fault)
        reward: Any = 1.0
        if fault == "nan_reward":
            reward = float("nan")
        elif fault == "inf_reward":
            reward = -np.inf
        terminated: Any = self.t >= self.episode_len
        if fault == "int_terminated":
            terminated = 0
        info: Any = None if fault == "info_none" else {}
        if fault == "four_tuple":
            return obs, reward, terminated, info
        return obs, reward, terminated, False, info


class LivesEnv(gym.Env):
    """An Atari-like game with lives and 84x84 ``uint8`` frames.

    The frame of emulated step ``k`` since the last *real* reset is filled with ``k % 256``
    (the reset frame has value 0). ``rewards[k-1]`` is paid on step ``k`` (0 after the
    list ends). A life is lost on each step listed in ``life_loss_steps``; the game is over
    (``terminated``) when the lives reach 0. ``info["lives"]`` is reported like ALE does.
    ``real_resets`` counts calls of ``reset``.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        rewards: list[float],
        life_loss_steps: tuple[int, ...] = (),
        lives: int = 3,
    ) -> None:
        self.observation_space = spaces.Box(0, 255, (84, 84), dtype=np.uint8)
        self.action_space = spaces.Discrete(4)
        self.rewards = list(rewards)
        self.life_loss_steps = set(life_loss_steps)
        self.start_lives = lives
        self.lives = lives
        self.k = 0
        self.real_resets = 0

    def _frame(self) -> np.ndarray:
        return np.full((84, 84), self.k % 256, dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.real_resets += 1
        self.k = 0
        self.lives = self.start_lives
        return self._frame(), {"lives": self.lives}

    def step(self, action: Any):
        self.k += 1
        reward = self.rewards[self.k - 1] if self.k <= len(self.rewards) else 0.0
        if self.k in self.life_loss_steps:
            self.lives -= 1
        terminated = self.lives == 0
        return self._frame(), reward, terminated, False, {"lives": self.lives}


def register_fake_envs() -> None:
    """Register :class:`ScriptedEnv` as ``ApexrlTest/Scripted-v0`` (idempotent)."""
    if SCRIPTED_ID not in gym.registry:
        gym.register(SCRIPTED_ID, entry_point=ScriptedEnv)


BOX_ACTIONS_ID = "ApexrlTest/BoxActions-v0"


class BoxActionEnv(gym.Env):
    """``Box`` actions of any shape, bounds and dtype; records every action it is given.

    Observation ``[2]`` ``float64`` (so ``make_env`` casts it); reward ``-|a|²``; episodes
    of 5 steps (terminated).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, low: Any = -1.0, high: Any = 1.0, shape: tuple[int, ...] = (2,),
                 dtype: Any = np.float32) -> None:
        self.observation_space = spaces.Box(-10.0, 10.0, (2,), dtype=np.float64)
        self.action_space = spaces.Box(low, high, shape, dtype=dtype)
        self.received: list[np.ndarray] = []
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2), {}

    def step(self, action):
        a = np.asarray(action)
        self.received.append(a)
        self.t += 1
        return np.full(2, float(self.t)), -float(np.sum(np.square(a, dtype=np.float64))), self.t >= 5, False, {}


def register_box_action_env() -> None:
    """Register :class:`BoxActionEnv` as ``ApexrlTest/BoxActions-v0`` (idempotent)."""
    if BOX_ACTIONS_ID not in gym.registry:
        gym.register(BOX_ACTIONS_ID, entry_point=BoxActionEnv)
