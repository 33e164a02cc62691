"""Environments: Gymnasium ids made ready for Ape-X actors.

* :func:`make_env` / :func:`make_vector_env`: any Gymnasium id (also ``module:EnvId``),
  with DeepMind preprocessing for ``ALE/*`` (Mnih et al. 2015), channel-first ``uint8``
  observations for ``MinAtar/*`` (Young & Tian 2019), ``float32`` vectors otherwise,
  raw-return episode statistics and run-time validation (:class:`EnvError`).
* :func:`final_observations` / :func:`completed_episodes`: read a same-step-autoreset
  vector env's ``info``.
* :func:`check_env_id`, :func:`env_info`, :func:`require_action_space`: fail fast before any
  process starts.
* Continuous control: ``Pendulum-v1`` and ``MountainCarContinuous-v0`` with the default install,
  Gymnasium's MuJoCo v5 ids with the ``mujoco`` extra, the DeepMind Control Suite's
  ``dm_control/<domain>-<task>-v0`` ids with the ``control`` extra (:mod:`apexrl.envs.control`);
  ``Box`` actions are ``float32`` (:mod:`apexrl.envs.actions`).
"""

from apexrl.envs.atari import EpisodicLifeEnv, wrap_atari, wrap_deepmind
from apexrl.envs.checks import EnvError, ValidatedEnv
from apexrl.envs.make import (
    EnvKind,
    EnvSpecInfo,
    check_env_id,
    completed_episodes,
    env_info,
    env_kind,
    final_observations,
    make_env,
    make_vector_env,
    register_env_families,
    require_action_space,
)

__all__ = [
    "EnvError",
    "EnvKind",
    "EnvSpecInfo",
    "EpisodicLifeEnv",
    "ValidatedEnv",
    "check_env_id",
    "completed_episodes",
    "env_info",
    "env_kind",
    "final_observations",
    "make_env",
    "make_vector_env",
    "register_env_families",
    "require_action_space",
    "wrap_atari",
    "wrap_deepmind",
]
