"""Presets of ``r2d2`` (``--preset NAME``); every flag overrides them.

- ``popgym``: POPGym's small memory tasks (``popgym-PositionOnlyCartPoleEasy-v0``, the default
  env, and ``popgym-RepeatPreviousEasy-v0``), tuned here for 2 CPU cores (not from a paper): the
  paper's rule (n = 5, γ = 0.997, value rescaling, stored state, burn-in, priorities η = 0.9,
  α = 0.9, β = 0.6, target copies, Adam) with a small network (MLP 64 → LSTM 64 → dueling 64)
  and shorter sequences (burn-in 10, m = 20, period 10) for these 52–200-step episodes, a higher
  replay ratio than Acme's 4 (32 sequences sampled per sequence inserted), target copies every 500
  learner steps, Adam lr 1e-3 decaying linearly to 1e-4 and Adam's ε 1e-6 instead of 1e-3 (POPGym's
  rewards are 1/200 per step; with ε 1e-3 the gradients sit far below ε and learning stalled).
  PositionOnlyCartPole seeds 0-2: final returns 1.0, 0.975, 1.0 in 121-427 s here; RepeatPrevious
  learns with ``--gamma 0.9 --frames 200000`` (docs/r2d2.md).
- ``minatar``: MinAtar (Young & Tian 2019): the MinAtar conv torso (16 channels, 128 units) →
  LSTM 128 → dueling 128, the paper's sequences (burn-in 40, m = 80, period 40).
- ``atari``: the paper's settings (Nature CNN → LSTM 512 → dueling 512, burn-in 40, m = 80,
  period 40, n = 5, γ = 0.997, Adam 1e-4 ε 1e-3, target period 2500, batch 64) with a replay of
  20K sequences (≈ 2.4M steps held with overlap) instead of 4M observations and 2 actors instead
  of 256; frames are stored once (:mod:`apexrl.replay.sequence_frames`).
"""

from __future__ import annotations

from collections.abc import Callable

from apexrl.agents.r2d2.config import R2D2AgentConfig, R2D2Config
from apexrl.config import EpsilonGreedyConfig, ReplayConfig, RunConfig

__all__ = ["PRESETS", "atari", "minatar", "popgym"]

_PER = dict(priority_exponent=0.9, importance_sampling_exponent=0.6)


def popgym() -> R2D2AgentConfig:
    """POPGym memory tasks on 2 CPU cores (see the module docstring)."""
    return R2D2AgentConfig(
        run=RunConfig(env_id="popgym-PositionOnlyCartPoleEasy-v0", total_env_frames=150_000, num_actors=1,
                      eval_interval_frames=10_000, eval_episodes=10, final_eval_episodes=20, log_interval_s=5.0),
        replay=ReplayConfig(replay_capacity=20_000, learning_starts=200, samples_per_insert=32.0, **_PER),
        actor=EpsilonGreedyConfig(envs_per_actor=8, local_buffer_size=8, param_update_period_frames=400),
        learner=R2D2Config(n_step=5, gamma=0.997, batch_size=64, burn_in=10, sequence_length=20, sequence_period=10,
                           lstm_size=64, hidden_sizes=(64,), head_hidden=64, learning_rate=1e-3,
                           learning_rate_final=1e-4, optimizer_eps=1e-6, target_update_period=500,
                           max_grad_norm=40.0),
    )


def minatar() -> R2D2AgentConfig:
    """MinAtar games (the MinAtar network with an LSTM; see the module docstring)."""
    return R2D2AgentConfig(
        run=RunConfig(env_id="MinAtar/Breakout-v1", total_env_frames=1_000_000, num_actors=2,
                      eval_interval_frames=50_000, eval_episodes=10, final_eval_episodes=20,
                      eval_max_episode_steps=10_000, log_interval_s=10.0),
        replay=ReplayConfig(replay_capacity=5_000, learning_starts=200, samples_per_insert=8.0, **_PER),
        actor=EpsilonGreedyConfig(envs_per_actor=4, local_buffer_size=4, param_update_period_frames=400),
        learner=R2D2Config(lstm_size=128, hidden_sizes=(128,), head_hidden=128, learning_rate=2.5e-4,
                           target_update_period=1000),
    )


def atari() -> R2D2AgentConfig:
    """Atari 2600 (ALE) with DeepMind preprocessing; the paper's settings scaled to a CPU."""
    return R2D2AgentConfig(
        run=RunConfig(env_id="ALE/Pong-v5", total_env_frames=10_000_000, num_actors=2,
                      eval_interval_frames=250_000, eval_episodes=3, final_eval_episodes=3, log_interval_s=10.0),
        replay=ReplayConfig(replay_capacity=20_000, learning_starts=500, samples_per_insert=4.0, **_PER),
        actor=EpsilonGreedyConfig(envs_per_actor=4, local_buffer_size=4, param_update_period_frames=400),
        learner=R2D2Config(lstm_size=512, hidden_sizes=(512,), head_hidden=512, learning_rate=1e-4,
                           target_update_period=2500),
    )


PRESETS: dict[str, Callable[[], R2D2AgentConfig]] = {"popgym": popgym, "minatar": minatar, "atari": atari}
