"""Configuration of the synchronous actor-critic agents ``a2c`` (Mnih et al. 2016, "Asynchronous
Methods for Deep Reinforcement Learning", run synchronously as OpenAI baselines' A2C) and ``ppo``
(Schulman et al. 2017, "Proximal Policy Optimization Algorithms"): one learner with switches.

Sources of the defaults: the PPO paper (Table 3, Atari; Table 2 / §6.1, MuJoCo), CleanRL's
``ppo.py`` / ``ppo_continuous_action.py`` and SB3's ``PPO`` / ``A2C`` defaults. The presets
(:mod:`apexrl.agents.ac.presets`) set each algorithm's values with their sources.

Units: a rollout is ``n_step`` agent steps of each of an actor's ``envs_per_actor`` envs; one
learner step (``learner_steps``) consumes ``batch_size`` transitions (whole rollouts) with
``epochs`` passes of ``num_minibatches`` minibatches each (PPO) or one gradient step (A2C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import tyro

from apexrl.config import ActorConfig, LearnerRuntimeConfig, ReplayConfig, RunConfig, _positive, _require


@dataclass(frozen=True)
class ActorCriticConfig(LearnerRuntimeConfig):
    """The actor-critic learning rule: GAE(λ) advantages from the behaviour values, PPO's clipped
    surrogate (or A2C's plain policy gradient when clip_range is None), a (clipped) value loss
    and an entropy bonus (the formulas: apexrl.losses.policy_gradient)."""

    n_step: int = 128
    """Rollout length T in agent steps per env (A3C's t_max = 5; PPO Atari: 128; CleanRL: 128);
    A2C's n-step returns use n = T."""
    gamma: float = 0.99
    """Discount γ per agent step (all sources: 0.99)."""
    gae_lambda: float = 0.95
    """λ of GAE (PPO: 0.95; A2C: 1, the n-step returns)."""
    batch_size: int = 512
    """Transitions per learner step: whole rollouts, a multiple of n_step × envs_per_actor
    (PPO Atari: 8 × 128 = 1024; CleanRL CartPole: 4 × 128 = 512)."""
    epochs: int = 4
    """Passes over the batch per learner step (PPO Atari: 3; CleanRL: 4; MuJoCo: 10; A2C: 1)."""
    num_minibatches: int = 4
    """Minibatches per pass (CleanRL: 4; A2C: 1)."""
    clip_range: float | None = 0.2
    """ε of the clipped surrogate (PPO: 0.2 for MuJoCo, 0.1 × α for Atari); None = A2C's plain
    policy gradient −Â log π."""
    clip_range_final_fraction: float | None = None
    """If set, ε decays linearly to this fraction of its value at the end of the budget (PPO
    Atari: 0, "α annealed from 1 to 0"; the SB3 zoo's lin_0.2)."""
    clip_range_vf: float | None = 0.2
    """Clip of the value change in the value loss (CleanRL clip_vloss with ε = 0.2, baselines);
    None = the plain ½(V − R)² (the paper, SB3's default)."""
    normalize_advantage: bool = True
    """Normalize advantages per minibatch to mean 0, std 1 (CleanRL, SB3 PPO; A2C: off)."""
    ent_coef: float = 0.01
    """c_2, the entropy bonus (PPO Atari: 0.01; MuJoCo: 0; A3C: 0.01)."""
    vf_coef: float = 0.5
    """c_1, the value loss weight (PPO Atari, CleanRL, SB3: 0.5; MuJoCo had separate networks: 1)."""
    learning_rate: float = 2.5e-4
    """Step size (PPO Atari / CleanRL: 2.5e-4; MuJoCo: 3e-4; SB3 A2C: 7e-4)."""
    learning_rate_final_fraction: float | None = 0.0
    """If set, the step size decays linearly to this fraction at the end of the budget (PPO,
    CleanRL anneal_lr: 0; None = constant)."""
    optimizer: Literal["adam", "rmsprop"] = "adam"
    """adam (PPO) or rmsprop (A3C / A2C: RMSProp with decay α = 0.99, not centered)."""
    optimizer_eps: float = 1e-5
    """ε of the optimizer's denominator (CleanRL PPO Adam: 1e-5; SB3 A2C RMSProp: 1e-5)."""
    rmsprop_decay: float = 0.99
    """α of RMSProp's squared-gradient average (A3C, SB3 A2C: 0.99)."""
    max_grad_norm: float = 0.5
    """Clip of the global gradient norm (CleanRL, SB3: 0.5; A3C: 40)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Torso widths (CleanRL / SB3 MLP: 64, 64; conv torsos use the last as their hidden width)."""
    activation: Literal["tanh", "relu"] = "tanh"
    """Nonlinearity of the MLP torso for vector observations (the PPO paper, baselines, CleanRL,
    SB3: tanh); conv torsos (MinAtar, Atari) always use ReLU."""
    shared_torso: bool = False
    """One torso for the policy and value heads (Atari / MinAtar networks); off: separate torsos."""
    squash: bool = False
    """Box actions: tanh-squashed Gaussian; off: the Gaussian sample clipped to the bounds for the
    env (the PPO paper, CleanRL, SB3)."""
    log_std_init: float = 0.0
    """Initial state-independent log σ of the Gaussian (CleanRL, SB3: 0), in policy units (half the
    action range)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "n_step", "batch_size", "epochs", "num_minibatches", "learning_rate", "optimizer_eps")
        _require(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "must be in [0, 1]")
        _require(0.0 <= self.gae_lambda <= 1.0, "gae_lambda", self.gae_lambda, "must be in [0, 1]")
        for name in ("clip_range", "clip_range_vf"):
            value = getattr(self, name)
            _require(value is None or (value > 0 and math.isfinite(value)), name, value,
                     "must be > 0 and finite (or None)")
        for name in ("clip_range_final_fraction", "learning_rate_final_fraction"):
            value = getattr(self, name)
            _require(value is None or 0.0 <= value <= 1.0, name, value, "must be in [0, 1]")
        _require(self.clip_range_final_fraction is None or self.clip_range is not None, "clip_range_final_fraction",
                 self.clip_range_final_fraction, "needs --clip-range")
        _require(self.ent_coef >= 0, "ent_coef", self.ent_coef, "must be >= 0")
        _require(self.vf_coef >= 0, "vf_coef", self.vf_coef, "must be >= 0")
        _require(0.0 < self.rmsprop_decay < 1.0, "rmsprop_decay", self.rmsprop_decay, "must be in (0, 1)")
        _require(self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "must be > 0 (inf = no clipping)")
        _require(self.batch_size % self.num_minibatches == 0, "num_minibatches", self.num_minibatches,
                 f"must divide batch_size={self.batch_size}")
        _require(len(self.hidden_sizes) > 0 and all(h > 0 for h in self.hidden_sizes), "hidden_sizes",
                 self.hidden_sizes, "must be one or more positive widths")
        _require(math.isfinite(self.log_std_init), "log_std_init", self.log_std_init, "must be finite")


@dataclass(frozen=True)
class ActorCriticAgentConfig:
    """A2C / PPO: actors sampling from the stochastic policy, rollouts through a bounded queue
    (apexrl.replay.rollout; --replay-capacity is its size in transitions), one learner.
    Presets: apexrl.agents.ac.presets."""

    run: tyro.conf.OmitArgPrefixes[RunConfig] = field(
        default_factory=lambda: RunConfig(env_id="CartPole-v1", num_actors=1, backend="local"))
    replay: tyro.conf.OmitArgPrefixes[ReplayConfig] = field(
        default_factory=lambda: ReplayConfig(prioritized=False, replay_capacity=512, learning_starts=512))
    actor: tyro.conf.OmitArgPrefixes[ActorConfig] = field(
        default_factory=lambda: ActorConfig(envs_per_actor=4, local_buffer_size=512, param_update_period_frames=4))
    learner: tyro.conf.OmitArgPrefixes[ActorCriticConfig] = field(default_factory=ActorCriticConfig)

    def __post_init__(self) -> None:
        check_on_policy(self)


def check_on_policy(config: ActorCriticAgentConfig) -> None:
    """The cross-group checks of the on-policy agents.

    Raises:
        ValueError: a batch that is not whole rollouts, a queue smaller than one batch, a local
            buffer larger than a rollout (messages must carry whole rollouts as they finish), or a
            rate limit (the queue paces on-policy data).
    """
    lc, actor, replay = config.learner, config.actor, config.replay
    rollout = lc.n_step * actor.envs_per_actor
    _require(lc.batch_size % rollout == 0, "batch_size", lc.batch_size,
             f"must be a multiple of a rollout's n_step × envs_per_actor = {lc.n_step} × {actor.envs_per_actor}")
    _require(replay.replay_capacity >= lc.batch_size, "replay_capacity", replay.replay_capacity,
             f"is the rollout queue's size and must be >= batch_size={lc.batch_size}")
    _require(actor.local_buffer_size <= rollout, "local_buffer_size", actor.local_buffer_size,
             f"must be <= a rollout's n_step × envs_per_actor = {rollout} (one message per rollout)")
    _require(replay.samples_per_insert == 0, "samples_per_insert", replay.samples_per_insert,
             "must be 0 for on-policy agents (the rollout queue paces actors and learner)")
    _require(replay.learning_starts <= lc.batch_size, "learning_starts", replay.learning_starts,
             f"must be <= batch_size={lc.batch_size} (on-policy: learning starts with the first batch)")
