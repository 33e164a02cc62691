"""Ape-X DQN (Horgan et al. 2018, "Distributed Prioritized Experience Replay", arXiv 1803.00933).

N actors explore with ε_i = 0.4^(1 + 7·i/(N−1)) and send n-step transitions with initial
priorities to a central proportional prioritized replay; one learner trains a dueling network
with the n-step double-Q loss and publishes parameters back. Code: the runtime
(:mod:`apexrl.runtime`) with the DQN loss (:mod:`apexrl.losses.dqn`).

Presets (``--preset NAME``) set every default for an environment family; any flag overrides:

- ``cartpole``: tuned here for ``CartPole-v1`` on 2 CPU cores (not from a paper): 2 actors,
  100K frames, replay 100K, MLP 256 + dueling streams of 256, Adam lr 1e-3 decaying linearly to 1e-5, Huber
  loss, target period 100, batch 64, 16 samples per inserted transition (rate limited). In a
  sweep of 5 seeds, ½δ² loss with target period 250 at 60K frames solved 2 of 3 seeds; Huber
  with period 100 at 80K frames solved 5 of 5 (final greedy return 500) but, evaluated every
  2,500 frames (benchmark), 2 of 5 seeds had fallen to 217 and 439 at the end; the longer
  low-learning-rate tail of 100K frames kept both at 500. A replay of 50K (half the run) still
  ended one CI run at 313 after reaching 500: once the replay held only long, successful
  episodes the network forgot the failure states. The replay now holds the whole run (100K):
  6 of 6 seeds ended at 500 on a loaded machine (78–127 s).
- ``minatar``: MinAtar (Young & Tian 2019) network (one 3×3×16 conv, 128 units) and replay
  100K, target period 1000; Ape-X actors, loss and prioritized replay instead of uniform DQN.
- ``toy-text``: Gymnasium's toy-text grids with ``Discrete`` observations (``FrozenLake-v1``, the
  default env, slippery; ``Taxi-v4`` does not learn within these 60K frames and has its own
  preset, below), tuned here (not from a paper): the state index is one-hot
  encoded inside the network (:mod:`apexrl.nets.encoders`), replay keeps the index (``uint8`` /
  ``int16``). 60K frames, 4 envs per actor, replay 60K (the whole run), MLP 128, Adam lr 1e-3
  decaying to 1e-4, Huber loss, target period 250, batch 128, 8 samples per inserted transition
  (Ape-X) or one update every 8 agent steps (single-actor DQN family), 100 final greedy episodes.
  ``apexrl train dqn --env FrozenLake-v1`` (the preset is chosen for it) seeds 0 / 1: 0.76 / 0.63
  over 100 greedy episodes (the optimal policy succeeds in about 74%), 45-90 s each on 2 cores.
- ``taxi``: ``Taxi-v4`` (chosen for it): ``toy-text`` with γ = 0.9 instead of 0.99, target
  period 100 instead of 250, Adam lr 3e-3 → 3e-4 instead of 1e-3 → 1e-4, and 200K frames with a
  replay of 200K. A −1 per step task whose +20 lies ~13 steps away: with γ = 0.99 and the
  slower targets, 60K frames ended every evaluation at −200 (no delivery; runs in
  ``docs/dqn-family.md``); these values were the first that delivered, and 200K frames reach the
  optimum (about 8) with ``dqn``, one actor: seeds 0 / 1 / 2 end at 8.06 / 8.37 / 8.39 over 100
  greedy episodes (seed 0: 59 s on an idle 2-core machine).
- ``atari``: the Ape-X paper's settings (n = 3, γ = 0.99, α = 0.6, β = 0.4, target period
  2500, centered RMSProp lr 0.00025/4, decay 0.95, eps 1.5e-7, grad-norm clip 40, B = 50,
  parameter pull every 400 frames, Nature CNN, dueling) with deviations for a few CPU cores:
  batch 64 instead of 512, replay 1M instead of 2M, learning starts at 20K transitions
  instead of 50K.
"""

from __future__ import annotations

import dataclasses

from collections.abc import Callable

from apexrl.config import ApexDQNConfig, DQNConfig, EpsilonGreedyConfig, ReplayConfig, RunConfig

CONFIG = ApexDQNConfig


def cartpole() -> ApexDQNConfig:
    """``CartPole-v1`` on 2 CPU cores (tuned here; see the module docstring)."""
    return ApexDQNConfig(
        run=RunConfig(env_id="CartPole-v1", total_env_frames=100_000, num_actors=2, eval_interval_frames=10_000,
                      eval_episodes=10, final_eval_episodes=20, log_interval_s=2.0),
        replay=ReplayConfig(replay_capacity=100_000, learning_starts=1_000, samples_per_insert=16.0),
        actor=EpsilonGreedyConfig(envs_per_actor=1, local_buffer_size=50, param_update_period_frames=400),
        learner=DQNConfig(n_step=3, gamma=0.99, batch_size=64, learning_rate=1e-3, learning_rate_final=1e-5,
                          target_update_period=100, hidden_sizes=(256, 256), max_grad_norm=10.0, loss="huber"),
    )


def minatar() -> ApexDQNConfig:
    """MinAtar games (Young & Tian 2019 network and replay size; Ape-X runtime and loss)."""
    return ApexDQNConfig(
        run=RunConfig(env_id="MinAtar/Breakout-v1", total_env_frames=3_000_000, num_actors=2,
                      eval_interval_frames=50_000, eval_episodes=10, final_eval_episodes=20,
                      eval_max_episode_steps=10_000, log_interval_s=10.0),
        replay=ReplayConfig(replay_capacity=100_000, learning_starts=5_000, samples_per_insert=8.0),
        actor=EpsilonGreedyConfig(envs_per_actor=4, local_buffer_size=50, param_update_period_frames=400),
        learner=DQNConfig(n_step=3, gamma=0.99, batch_size=64, learning_rate=2.5e-4, target_update_period=1000,
                          hidden_sizes=(128,), max_grad_norm=10.0, optimizer="adam", optimizer_eps=1.5e-4),
    )


def atari() -> ApexDQNConfig:
    """Atari 2600 (ALE) with DeepMind preprocessing; Ape-X paper settings scaled to a CPU."""
    return ApexDQNConfig(
        run=RunConfig(env_id="ALE/Pong-v5", total_env_frames=10_000_000, num_actors=2,
                      eval_interval_frames=250_000, eval_episodes=3, final_eval_episodes=3, log_interval_s=10.0),
        replay=ReplayConfig(replay_capacity=1_000_000, learning_starts=20_000),
        actor=EpsilonGreedyConfig(envs_per_actor=4, local_buffer_size=50, param_update_period_frames=400),
        learner=DQNConfig(n_step=3, gamma=0.99, batch_size=64, learning_rate=0.00025 / 4, optimizer="rmsprop",
                          rmsprop_decay=0.95, optimizer_eps=1.5e-7, max_grad_norm=40.0, target_update_period=2500,
                          hidden_sizes=(512,)),
    )


def toy_text() -> ApexDQNConfig:
    """Gymnasium's toy-text grids with ``Discrete`` observations (tuned on ``FrozenLake-v1``), one-hot
    encoded inside the network (see the module docstring)."""
    return ApexDQNConfig(
        run=RunConfig(env_id="FrozenLake-v1", total_env_frames=60_000, num_actors=2, eval_interval_frames=10_000,
                      eval_episodes=20, final_eval_episodes=100, log_interval_s=2.0),
        replay=ReplayConfig(replay_capacity=60_000, learning_starts=1_000, samples_per_insert=8.0),
        actor=EpsilonGreedyConfig(envs_per_actor=4, local_buffer_size=50, param_update_period_frames=400),
        learner=DQNConfig(n_step=3, gamma=0.99, batch_size=128, learning_rate=1e-3, learning_rate_final=1e-4,
                          target_update_period=250, hidden_sizes=(128,), max_grad_norm=10.0, loss="huber"),
    )


def taxi() -> ApexDQNConfig:
    """``Taxi-v4``: the ``toy-text`` preset with γ = 0.9, target period 100, Adam lr 3e-3 decaying to
    3e-4, 200K frames and a replay of the whole run (see the module docstring)."""
    base = toy_text()
    return ApexDQNConfig(
        run=dataclasses.replace(base.run, env_id="Taxi-v4", total_env_frames=200_000, eval_interval_frames=20_000),
        replay=dataclasses.replace(base.replay, replay_capacity=200_000),
        actor=base.actor,
        learner=dataclasses.replace(base.learner, gamma=0.9, target_update_period=100, learning_rate=3e-3,
                                    learning_rate_final=3e-4),
    )


PRESETS: dict[str, Callable[[], ApexDQNConfig]] = {"cartpole": cartpole, "minatar": minatar, "atari": atari,
                                                   "toy-text": toy_text, "taxi": taxi}
