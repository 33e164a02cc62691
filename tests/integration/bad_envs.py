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


class RaiseOnReset(gym.Env):
    """Fails at every reset: its actors never deliver anything (a crash loop)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        raise RuntimeError("simulator license server unreachable")

    def step(self, action):
        raise AssertionError("never reached")


gym.register("RaiseOnReset-v0", entry_point=RaiseOnReset)
gym.register("NaNObs-v0", entry_point=NaNAfter, kwargs={"bad_step": 30, "bad": "obs"})
gym.register("InfReward-v0", entry_point=NaNAfter, kwargs={"bad_step": 30, "bad": "reward"})


class FailOnce(gym.Env):
    """CartPole-like 4-float env that fails once per test at its ``bad_step``-th step: it raises
    (``mode="raise"``) or blocks (``mode="hang"``). The first instance to get there creates the
    file named by ``$APEXRL_TEST_MARKER``; later instances (restarted actors) see it and behave."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, bad_step: int = 200, mode: str = "raise"):
        import os

        self.marker = os.environ.get("APEXRL_TEST_MARKER")
        self.bad_step = bad_step
        self.mode = mode
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def _first(self) -> bool:
        import os

        try:  # atomic: exactly one instance wins
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            return True
        except FileExistsError:
            return False

    def step(self, action):
        import time

        self.t += 1
        if self.t == self.bad_step and self.marker and self._first():
            if self.mode == "raise":
                raise RuntimeError("simulated emulator crash")
            time.sleep(3600)
        obs = self.np_random.uniform(-0.5, 0.5, 4).astype(np.float32)
        return obs, float(action == (obs[0] > 0)), False, self.t % 100 == 0, {}


class Flaky(FailOnce):
    """Raises at every ``every``-th step of each instance (a flaky simulator that still makes
    progress: a restarted actor's new instance runs ``every - 1`` steps before the next crash)."""

    def __init__(self, every: int = 500):
        super().__init__(bad_step=0)
        self.every = every

    def step(self, action):
        if self.t + 1 == self.every:
            raise RuntimeError("simulated flaky simulator")
        return super().step(action)


gym.register("Flaky-v0", entry_point=Flaky, kwargs={"every": 500})
gym.register("CrashOnce-v0", entry_point=FailOnce, kwargs={"bad_step": 200, "mode": "raise"})
gym.register("HangOnce-v0", entry_point=FailOnce, kwargs={"bad_step": 200, "mode": "hang"})
