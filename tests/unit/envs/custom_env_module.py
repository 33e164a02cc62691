"""A user module that registers an environment when imported (for ``module:EnvId`` ids)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

CUSTOM_ID = "ApexrlCustom/Counter-v0"


class CounterEnv(gym.Env):
    """Observation ``[t]`` as float64 (cast to float32 by make_env); ends after 5 steps."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0.0, 100.0, (1,), dtype=np.float64)
        self.action_space = spaces.Discrete(3)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0]), {}

    def step(self, action: Any):
        self.t += 1
        return np.array([float(self.t)]), 2.0, self.t >= 5, False, {}


gym.register(CUSTOM_ID, entry_point=CounterEnv)
