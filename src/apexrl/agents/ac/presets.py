"""Presets of ``ppo`` and ``a2c``, every value with its source.

PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms"):

- ``cartpole`` (``CartPole-v1``): the SB3 zoo's PPO CartPole-v1 hyperparameters
  (``rl-baselines3-zoo/hyperparams/ppo.yml``): 8 envs, n_steps 32, one minibatch of 256
  (SB3 ``batch_size`` 256 = the whole rollout), 20 epochs, γ = 0.98, λ = 0.8, entropy 0, learning
  rate 1e-3 and clip ε = 0.2 both annealed linearly to 0 (``lin_1e-3``, ``lin_0.2``), 100K steps,
  SB3 defaults otherwise (64×64 separate MLPs, Adam, grad-norm clip 0.5, no value clipping,
  advantage normalization). ``vf_coef`` 1 here equals SB3's 0.5 (SB3's value loss is the mean
  squared error without the ½ of apexrl's).
- ``pendulum`` (``Pendulum-v1``): the SB3 zoo's PPO Pendulum-v1 values (4 envs, n_steps 1024,
  γ = 0.9, λ = 0.95, 10 epochs, lr 1e-3, ε = 0.2, entropy 0, SB3's minibatch 64) without its
  gSDE exploration (``use_sde``), which apexrl does not have, and with 200K frames instead of
  the zoo's 100K (``docs/ppo.md``, deviation 9).

A2C (Mnih et al. 2016, synchronous as OpenAI baselines' A2C):

- ``cartpole``: the SB3 zoo's A2C CartPole-v1 (8 envs, entropy 0, 500K steps) on SB3's A2C
  defaults (n_steps 5, γ = 0.99, λ = 1 (n-step returns), RMSProp lr 7e-4 with α = 0.99 and
  ε = 1e-5, grad-norm clip 0.5, value weight 0.5 of the MSE (1 here), no advantage normalization),
  with OpenAI baselines' linear decay of the learning rate to 0 (``a2c.learn(lrschedule="linear")``;
  SB3 keeps it constant): with a constant rate one seed of three ended at 470, see ``docs/a2c.md``.

All presets run one actor in the learner's process (``--backend local``) that pulls parameters at
every step, so the policy lag is at most two agent steps per rollout (``docs/ppo.md``, deviation 1).
With ``--backend mp`` the actor's outbox holds one rollout (``queue_size`` 1; the runtime's default
of 16 would let rollouts wait 16 learner steps) besides the queue's one batch.
"""

from __future__ import annotations

from collections.abc import Callable

from apexrl.agents.ac.config import ActorCriticAgentConfig, ActorCriticConfig
from apexrl.config import ActorConfig, ReplayConfig, RunConfig


def _config(run: RunConfig, envs: int, learner: ActorCriticConfig) -> ActorCriticAgentConfig:
    rollout = learner.n_step * envs
    return ActorCriticAgentConfig(
        run=run,
        replay=ReplayConfig(prioritized=False, replay_capacity=learner.batch_size, learning_starts=learner.batch_size),
        actor=ActorConfig(envs_per_actor=envs, local_buffer_size=rollout, param_update_period_frames=envs,
                          queue_size=1),
        learner=learner,
    )


def ppo_cartpole() -> ActorCriticAgentConfig:
    """``CartPole-v1`` (SB3 zoo; see the module docstring)."""
    return _config(
        RunConfig(env_id="CartPole-v1", total_env_frames=100_000, num_actors=1, backend="local",
                  eval_interval_frames=10_000, eval_episodes=10, final_eval_episodes=20, log_interval_s=2.0),
        8,
        ActorCriticConfig(n_step=32, gamma=0.98, gae_lambda=0.8, batch_size=256, epochs=20, num_minibatches=1,
                          clip_range=0.2, clip_range_final_fraction=0.0, clip_range_vf=None, ent_coef=0.0,
                          vf_coef=1.0, learning_rate=1e-3, learning_rate_final_fraction=0.0, optimizer="adam",
                          optimizer_eps=1e-5, max_grad_norm=0.5, hidden_sizes=(64, 64)))


def ppo_pendulum() -> ActorCriticAgentConfig:
    """``Pendulum-v1`` (SB3 zoo without gSDE; see the module docstring)."""
    return _config(
        RunConfig(env_id="Pendulum-v1", total_env_frames=200_000, num_actors=1, backend="local",
                  eval_interval_frames=20_000, eval_episodes=5, final_eval_episodes=20, log_interval_s=2.0),
        4,
        ActorCriticConfig(n_step=1024, gamma=0.9, gae_lambda=0.95, batch_size=4096, epochs=10, num_minibatches=64,
                          clip_range=0.2, clip_range_vf=None, ent_coef=0.0, vf_coef=1.0, learning_rate=1e-3,
                          learning_rate_final_fraction=None, optimizer="adam", optimizer_eps=1e-5,
                          max_grad_norm=0.5, hidden_sizes=(64, 64)))


def a2c_cartpole() -> ActorCriticAgentConfig:
    """``CartPole-v1`` (SB3 zoo A2C; see the module docstring)."""
    return _config(
        RunConfig(env_id="CartPole-v1", total_env_frames=500_000, num_actors=1, backend="local",
                  eval_interval_frames=25_000, eval_episodes=10, final_eval_episodes=20, log_interval_s=2.0),
        8,
        ActorCriticConfig(n_step=5, gamma=0.99, gae_lambda=1.0, batch_size=40, epochs=1, num_minibatches=1,
                          clip_range=None, clip_range_vf=None, normalize_advantage=False, ent_coef=0.0,
                          vf_coef=1.0, learning_rate=7e-4, learning_rate_final_fraction=0.0, optimizer="rmsprop",
                          optimizer_eps=1e-5, rmsprop_decay=0.99, max_grad_norm=0.5, hidden_sizes=(64, 64)))


PPO_PRESETS: dict[str, Callable[[], ActorCriticAgentConfig]] = {"cartpole": ppo_cartpole, "pendulum": ppo_pendulum}
A2C_PRESETS: dict[str, Callable[[], ActorCriticAgentConfig]] = {"cartpole": a2c_cartpole}
