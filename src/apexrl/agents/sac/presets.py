"""Presets of ``sac``, every value with its source.

- ``pendulum`` (``Pendulum-v1``): the SB3 zoo's SAC Pendulum-v1 hyperparameters
  (``rl-baselines3-zoo/hyperparams/sac.yml``: 20K steps, learning rate 1e-3) on SB3's SAC
  defaults (replay 1M, 100 steps before learning, batch 256, τ = 0.005, γ = 0.99, automatic
  temperature from α = 1, target entropy −d, 256×256 MLPs, one update per step), with the
  values tuned here that ``docs/continuous-control.md`` lists.
- ``mujoco`` (Gymnasium MuJoCo v5; untested starting point): CleanRL's
  ``sac_continuous_action.py``: 1M steps, 5K random steps before learning, policy lr 3e-4,
  critic and temperature lr 1e-3, batch 256, τ = 0.005, γ = 0.99, autotuned α.
- ``control`` (DeepMind Control Suite; untested starting point): the ``mujoco`` values on the
  control suite's 1M steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from apexrl.agents.dpg.config import ContinuousActorConfig
from apexrl.agents.sac.config import SACAgentConfig, SACConfig
from apexrl.config import ReplayConfig, RunConfig


def pendulum() -> SACAgentConfig:
    """``Pendulum-v1`` (SB3 zoo; see the module docstring)."""
    return SACAgentConfig(
        run=RunConfig(env_id="Pendulum-v1", total_env_frames=15_000, num_actors=1, backend="local",
                      eval_interval_frames=5_000, eval_episodes=5, final_eval_episodes=20, log_interval_s=2.0,
                      eval_max_episode_steps=1_000),
        replay=ReplayConfig(prioritized=False, replay_capacity=1_000_000, learning_starts=256,
                            samples_per_insert=256.0),
        actor=ContinuousActorConfig(random_action_frames=256, param_update_period_frames=50),
        learner=SACConfig(gamma=0.99, batch_size=256, actor_learning_rate=1e-3, critic_learning_rate=1e-3,
                          alpha_learning_rate=1e-3, hidden_sizes=(64, 64), tau=0.005),
    )


def mujoco() -> SACAgentConfig:
    """Gymnasium MuJoCo v5 (CleanRL's settings; untested starting point)."""
    return SACAgentConfig(
        run=RunConfig(env_id="HalfCheetah-v5", total_env_frames=1_000_000, num_actors=1, backend="local",
                      eval_interval_frames=50_000, eval_episodes=10, final_eval_episodes=20, log_interval_s=5.0,
                      eval_max_episode_steps=1_000),
        replay=ReplayConfig(prioritized=False, replay_capacity=1_000_000, learning_starts=5_000,
                            samples_per_insert=256.0),
        actor=ContinuousActorConfig(random_action_frames=5_000, param_update_period_frames=50),
        learner=SACConfig(gamma=0.99, batch_size=256, actor_learning_rate=3e-4, critic_learning_rate=1e-3,
                          alpha_learning_rate=1e-3, hidden_sizes=(256, 256), tau=0.005),
    )


def control() -> SACAgentConfig:
    """DeepMind Control Suite (the ``mujoco`` values; untested starting point)."""
    config = mujoco()
    return dataclasses.replace(config, run=dataclasses.replace(config.run, env_id="dm_control/cartpole-swingup-v0"))


PRESETS: dict[str, Callable[[], SACAgentConfig]] = {"pendulum": pendulum, "mujoco": mujoco, "control": control}
