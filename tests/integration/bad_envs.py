"""Environments that misbehave on purpose, registered on import (used as ``bad_envs:Id``)."""

import gymnasium as gym
import numpy as np


class NaNAfter(gym.Env):
    """A 4-float observation env that returns a NaN observation at its ``bad_step``-th step."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, bad_step: int = 30, bad: str = "obs"):
        self.bad_step = bad_step
        self.bad = bad
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(4, 0.1, np.float32)
        reward = 1.0
        if self.t == self.bad_step:
            if self.bad == "obs":
                obs[2] = np.nan
            else:
                reward = float("inf")
        return obs, reward, False, self.t % 50 == 0, {}


class Continuous(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 0.0, False, False, {}


gym.register("NaNObs-v0", entry_point=NaNAfter, kwargs={"bad_step": 30, "bad": "obs"})
gym.register("InfReward-v0", entry_point=NaNAfter, kwargs={"bad_step": 30, "bad": "reward"})
