"""Presets of the DPG agents: an environment-family base (``pendulum``, ``mujoco``, ``control``)
with each algorithm's switches on top, every value with its source.

Switches (one learner, :class:`~apexrl.agents.dpg.config.DPGConfig`):

| name | paper | critic | target policy | replay | n | actors |
|---|---|---|---|---|---|---|
| ``ddpg`` | Lillicrap et al. 2015 | one scalar | μ⁻(s') | uniform | 1 | 1 |
| ``td3`` | Fujimoto et al. 2018 | twin, min of targets | μ⁻(s') + clipped noise, policy delay 2 | uniform | 1 | 1 |
| ``apex-dpg`` | Horgan et al. 2018 | one scalar | μ⁻(s') | prioritized, priorities from the actors' critics | 5 | N, σ_i per actor |
| ``d4pg`` | Barth-Maron et al. 2018 | categorical, 51 atoms | μ⁻(s') | prioritized | 5 | N |

Family bases:

- ``pendulum`` (``Pendulum-v1``; ``MountainCarContinuous-v0`` takes it too, untested): the SB3 zoo's
  TD3 / DDPG Pendulum-v1 hyperparameters (``rl-baselines3-zoo/hyperparams/td3.yml``): 20K steps,
  γ = 0.98, replay 200K, 10K uniformly random steps before learning, Gaussian noise σ = 0.1,
  Adam lr 1e-3, 400×300 MLPs, batch 256 (SB3 default), τ = 0.005, one update per step; with the
  values tuned here that ``docs/continuous-control.md`` lists.
- ``mujoco`` (Gymnasium MuJoCo v5; untested starting point): CleanRL's ``td3_continuous_action.py``
  / ``ddpg_continuous_action.py``: 1M steps, γ = 0.99, replay 1M, 25K random steps, σ = 0.1,
  Adam 3e-4, 256×256, batch 256, τ = 0.005.
- ``control`` (DeepMind Control Suite through Shimmy; untested starting point): D4PG's control
  suite settings (Barth-Maron et al. 2018, §4 / Appendix): batch 256, Adam 1e-4 for both
  networks, σ = 0.3, replay 1M, target copy every 100 steps, 51 atoms on [−150, 150], n = 5,
  300×200 MLPs replaced by 256×256 (the paper's layer sizes are for its own torso), 1M steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from apexrl.agents.dpg.config import DPGAgentConfig, DPGConfig, GaussianNoiseConfig
from apexrl.config import ReplayConfig, RunConfig


def pendulum_base() -> DPGAgentConfig:
    """``Pendulum-v1`` (SB3 zoo TD3 / DDPG settings; see the module docstring)."""
    return DPGAgentConfig(
        run=RunConfig(env_id="Pendulum-v1", total_env_frames=15_000, num_actors=1, backend="local",
                      eval_interval_frames=5_000, eval_episodes=5, final_eval_episodes=20, log_interval_s=2.0,
                      eval_max_episode_steps=1_000),
        replay=ReplayConfig(prioritized=False, replay_capacity=200_000, learning_starts=1_000,
                            samples_per_insert=256.0),
        actor=GaussianNoiseConfig(exploration_noise=0.1, random_action_frames=1_000, param_update_period_frames=50),
        learner=DPGConfig(gamma=0.98, batch_size=256, actor_learning_rate=1e-3, critic_learning_rate=1e-3,
                          hidden_sizes=(64, 64), tau=0.005),
    )


def mujoco_base() -> DPGAgentConfig:
    """Gymnasium MuJoCo v5 (CleanRL TD3 / DDPG settings; untested starting point)."""
    return DPGAgentConfig(
        run=RunConfig(env_id="HalfCheetah-v5", total_env_frames=1_000_000, num_actors=1, backend="local",
                      eval_interval_frames=50_000, eval_episodes=10, final_eval_episodes=20, log_interval_s=5.0,
                      eval_max_episode_steps=1_000),
        replay=ReplayConfig(prioritized=False, replay_capacity=1_000_000, learning_starts=25_000,
                            samples_per_insert=256.0),
        actor=GaussianNoiseConfig(exploration_noise=0.1, random_action_frames=25_000, param_update_period_frames=50),
        learner=DPGConfig(gamma=0.99, batch_size=256, actor_learning_rate=3e-4, critic_learning_rate=3e-4,
                          hidden_sizes=(256, 256), tau=0.005),
    )


def control_base() -> DPGAgentConfig:
    """DeepMind Control Suite (D4PG's settings; untested starting point)."""
    return DPGAgentConfig(
        run=RunConfig(env_id="dm_control/cartpole-swingup-v0", total_env_frames=1_000_000, num_actors=2,
                      eval_interval_frames=50_000, eval_episodes=10, final_eval_episodes=20, log_interval_s=5.0,
                      eval_max_episode_steps=1_000),
        replay=ReplayConfig(prioritized=True, replay_capacity=1_000_000, learning_starts=10_000,
                            samples_per_insert=32.0),
        actor=GaussianNoiseConfig(exploration_noise=0.3, param_update_period_frames=100),
        learner=DPGConfig(gamma=0.99, batch_size=256, actor_learning_rate=1e-4, critic_learning_rate=1e-4,
                          hidden_sizes=(256, 256), tau=1.0, target_update_period=100, n_step=5),
    )


BASES: dict[str, Callable[[], DPGAgentConfig]] = {"pendulum": pendulum_base, "mujoco": mujoco_base,
                                                   "control": control_base}

SWITCHES: dict[str, dict[str, dict[str, Any]]] = {
    "ddpg": {"learner": dict(twin_critics=False, policy_delay=1, target_policy_noise=0.0, distributional=False,
                             n_step=1),
             "replay": dict(prioritized=False), "run": dict(num_actors=1, backend="local")},
    "td3": {"learner": dict(twin_critics=True, policy_delay=2, target_policy_noise=0.2, target_noise_clip=0.5,
                            target_update_period=2, distributional=False, n_step=1),
            "replay": dict(prioritized=False), "run": dict(num_actors=1, backend="local")},
    "apex-dpg": {"learner": dict(twin_critics=False, distributional=False, n_step=5),
                 "replay": dict(prioritized=True, priority_exponent=0.6, importance_sampling_exponent=0.4),
                 "run": dict(num_actors=2, backend="mp"), "actor": dict(exploration_noise_alpha=1.0)},
    "d4pg": {"learner": dict(twin_critics=False, distributional=True, num_atoms=51, n_step=5),
             "replay": dict(prioritized=True, priority_exponent=0.6, importance_sampling_exponent=0.4),
             "run": dict(num_actors=2, backend="mp")},
}
"""Each algorithm's switches, applied on every family base."""

SUPPORT: dict[str, tuple[float, float]] = {"pendulum": (-1000.0, 0.0), "mujoco": (-500.0, 1500.0),
                                           "control": (-150.0, 150.0)}
"""D4PG's [v_min, v_max] per family: Pendulum's rewards are in [−16.3, 0] per step, so with γ = 0.98
returns lie in [−815, 0] (tuned here); MuJoCo's locomotion returns with γ = 0.99 (a guess, untested);
the control suite's D4PG support (Barth-Maron et al. 2018)."""

OVERRIDES: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
"""Settings of one algorithm on one family that differ from base + switches (measured here; see
``docs/continuous-control.md``)."""


def replace_groups(config: DPGAgentConfig, groups: dict[str, dict[str, Any]]) -> DPGAgentConfig:
    """``config`` with the given fields of its groups replaced (``{"learner": {...}, ...}``)."""
    return DPGAgentConfig(**{name: dataclasses.replace(getattr(config, name), **groups.get(name, {}))
                             for name in ("run", "replay", "actor", "learner")})


def preset(algo: str, family: str) -> Callable[[], DPGAgentConfig]:
    """The config factory of ``algo`` on ``family`` (base, then switches, then overrides)."""

    def make() -> DPGAgentConfig:
        config = BASES[family]()
        groups: dict[str, dict[str, Any]] = {k: dict(v) for k, v in SWITCHES[algo].items()}
        if groups["learner"].get("distributional"):
            groups["learner"]["v_min"], groups["learner"]["v_max"] = SUPPORT[family]
        if family == "control" and algo in ("ddpg", "td3"):  # the control base is D4PG's: one actor here
            groups["learner"].update(tau=0.005, target_update_period=groups["learner"].get("target_update_period", 1))
        for group, values in OVERRIDES.get((algo, family), {}).items():
            groups.setdefault(group, {}).update(values)
        return replace_groups(config, groups)

    make.__doc__ = f"``{algo}`` on the ``{family}`` family (see :mod:`apexrl.agents.dpg.presets`)."
    return make


def presets_of(algo: str) -> dict[str, Callable[[], DPGAgentConfig]]:
    """``--preset`` name -> factory for ``algo``."""
    return {family: preset(algo, family) for family in BASES}
