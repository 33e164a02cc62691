"""Configuration of the deterministic-policy-gradient agents (``ddpg``, ``td3``, ``apex-dpg``,
``d4pg``): one learner with switches, Gaussian-noise actors.

Sources of the defaults: DDPG (Lillicrap et al. 2015, "Continuous control with deep
reinforcement learning", §7 / Supplementary), TD3 (Fujimoto et al. 2018, "Addressing Function
Approximation Error in Actor-Critic Methods", Table 3 and the authors' TD3.py), Ape-X DPG
(Horgan et al. 2018, "Distributed Prioritized Experience Replay", Appendix), D4PG
(Barth-Maron et al. 2018, "Distributed Distributional Deterministic Policy Gradients", §4 and
Appendix) and CleanRL's ``ddpg_continuous_action.py`` / ``td3_continuous_action.py``. The
defaults here are CleanRL's TD3-style modern DDPG (Gaussian noise 0.1, τ = 0.005, Adam 3e-4,
256×256); the presets in :mod:`apexrl.agents.dpg` set each variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import tyro

from apexrl.config import ActorConfig, LearnerRuntimeConfig, ReplayConfig, RunConfig, _positive, _require


@dataclass(frozen=True)
class ContinuousActorConfig(ActorConfig):
    """Actors of the continuous-control agents: the runtime's actor settings plus a warm-up of
    uniformly random actions (CleanRL and SB3 act at random for the first learning_starts
    steps)."""

    random_action_frames: int = 0
    """Each actor acts uniformly at random in the Box for its first this many emulator frames,
    then follows its policy (CleanRL: learning_starts = 25K steps; SB3 zoo Pendulum: 0)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.random_action_frames >= 0, "random_action_frames", self.random_action_frames, "must be >= 0")


@dataclass(frozen=True)
class GaussianNoiseConfig(ContinuousActorConfig):
    """Gaussian exploration noise on the deterministic action: actor i of N acts with
    clip(μ(s) + N(0, σ_i²), −1, 1) in the policy's units (σ_i: apex_noise_scale)."""

    exploration_noise: float = 0.1
    """σ of the Gaussian action noise in units of half the action range (TD3 / CleanRL: 0.1;
    D4PG: 0.3; DDPG used Ornstein-Uhlenbeck noise θ = 0.15, σ = 0.2 instead)."""
    exploration_noise_alpha: float = 0.0
    """Spread of σ over the actors: σ_i = σ^(1 + α·i/(N−1)) (0 = every actor uses σ). Chosen here
    by analogy with Ape-X DQN's ε_i = ε^(1 + α·i/(N−1)) (Horgan et al. 2018 give each Ape-X actor
    its own exploration rate); not a value from the papers."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(0.0 <= self.exploration_noise <= 1.0, "exploration_noise", self.exploration_noise,
                 "must be in [0, 1]")
        _require(self.exploration_noise_alpha >= 0, "exploration_noise_alpha", self.exploration_noise_alpha,
                 "must be >= 0")


def apex_noise_scale(index: int, num_actors: int, sigma: float, alpha: float) -> float:
    """σ_i = σ^(1 + α·i/(N−1)) of actor ``index`` of ``num_actors`` (σ for one actor or α = 0).

    With σ = 0.3, α = 1 and 4 actors: 0.3, 0.201, 0.134, 0.09 — the first actor explores the most.

    Raises:
        ValueError: ``index`` outside ``[0, num_actors)``.
    """
    from apexrl.agents.exploration import apex_epsilon  # Ape-X's ε_i schedule, applied to σ

    return apex_epsilon(index, num_actors, sigma, alpha)


@dataclass(frozen=True)
class ContinuousLearnerFields(LearnerRuntimeConfig):
    """The continuous learners' fields that are not the learning rule itself: what the runtime
    reads (apexrl.config.LearnerRuntimeConfig) and the observation normalization switch."""

    normalize_observations: bool = False
    """Normalize observations by their running mean and standard deviation inside the networks
    (as SB3's VecNormalize; statistics from the learner's batches, published to actors and kept
    in checkpoints and exported policies). Box vector observations only."""


@dataclass(frozen=True)
class DPGConfig(ContinuousLearnerFields):
    """The deterministic-policy-gradient learning rule; switches select DDPG, TD3, Ape-X DPG or
    D4PG (the formulas: apexrl.losses.dpg)."""

    n_step: int = 1
    """n of the n-step return (DDPG, TD3: 1; Ape-X DPG: 5; D4PG: 5)."""
    gamma: float = 0.99
    """Discount γ per agent step (all four papers: 0.99)."""
    batch_size: int = 256
    """Transitions per learner step (TD3 code, CleanRL: 256; DDPG: 64; D4PG: 256; Ape-X DPG: 512)."""
    actor_learning_rate: float = 3e-4
    """Adam step size of the policy μ (CleanRL / TD3 code: 3e-4; DDPG: 1e-4; D4PG: 1e-4)."""
    critic_learning_rate: float = 3e-4
    """Adam step size of the critic (CleanRL / TD3 code: 3e-4; DDPG: 1e-3; D4PG: 1e-4)."""
    learning_rate_final_fraction: float | None = None
    """If set, both step sizes decay linearly to this fraction of their initial value at the end
    of the budget (tuned here; the papers keep them constant)."""
    optimizer_eps: float = 1e-8
    """ε of Adam's denominator (PyTorch default, as CleanRL)."""
    max_grad_norm: float = math.inf
    """Clip of each network's global gradient norm (inf = no clipping, as the papers; Ape-X: 40)."""
    tau: float = 0.005
    """Target update θ⁻ ← τθ + (1 − τ)θ⁻ applied every --target-update-period steps (TD3 /
    CleanRL: 0.005 every 2; DDPG: 0.001 every step; D4PG: τ = 1 every 100 steps, a hard copy)."""
    target_update_period: int = 1
    """Learner steps between target updates (TD3: 2, with the delayed policy update; D4PG: 100)."""
    twin_critics: bool = False
    """Clipped double-Q: two critics, the minimum of their targets (TD3)."""
    policy_delay: int = 1
    """Critic updates per policy update (TD3: 2)."""
    target_policy_noise: float = 0.0
    """σ̃ of TD3's target policy smoothing noise on μ⁻(s'), in policy units (TD3: 0.2; 0 = off)."""
    target_noise_clip: float = 0.5
    """c: the smoothing noise is clipped to [−c, c] (TD3: 0.5)."""
    distributional: bool = False
    """D4PG's categorical critic on --num-atoms atoms in [--v-min, --v-max], cross-entropy loss
    against the projected n-step target, priorities from the cross-entropy."""
    num_atoms: int = 51
    """Atoms of the categorical critic (D4PG: 51)."""
    v_min: float = -150.0
    """Lowest atom (D4PG: −150 for the control suite; set it to the task's return range)."""
    v_max: float = 150.0
    """Highest atom (D4PG: 150)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Widths of the policy and critic MLPs (CleanRL / TD3 code: 256, 256; DDPG: 400, 300)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "n_step", "batch_size", "actor_learning_rate", "critic_learning_rate", "optimizer_eps",
                  "target_update_period", "policy_delay")
        _require(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "must be in [0, 1]")
        _require(0.0 < self.tau <= 1.0, "tau", self.tau, "must be in (0, 1]")
        _require(self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "must be > 0 (inf = no clipping)")
        frac = self.learning_rate_final_fraction
        _require(frac is None or 0.0 <= frac <= 1.0, "learning_rate_final_fraction", frac, "must be in [0, 1]")
        _require(self.target_policy_noise >= 0, "target_policy_noise", self.target_policy_noise, "must be >= 0")
        _require(self.target_noise_clip >= 0, "target_noise_clip", self.target_noise_clip, "must be >= 0")
        _require(self.num_atoms >= 2, "num_atoms", self.num_atoms, "must be >= 2")
        _require(math.isfinite(self.v_min) and self.v_min < self.v_max, "v_min", self.v_min,
                 f"must be finite and < v_max={self.v_max}")
        _require(math.isfinite(self.v_max), "v_max", self.v_max, "must be finite")
        _require(not (self.twin_critics and self.distributional), "twin_critics", self.twin_critics,
                 "cannot be combined with --distributional (D4PG has one categorical critic)")
        _require(len(self.hidden_sizes) > 0 and all(h > 0 for h in self.hidden_sizes), "hidden_sizes",
                 self.hidden_sizes, "must be one or more positive widths")


def check_agent_config(config: object) -> None:
    """The cross-group checks of the continuous agents' configs (as ``ApexDQNConfig``'s).

    Raises:
        ValueError: ``learning_starts`` above the replay capacity or below the batch size.
    """
    replay, learner = config.replay, config.learner  # type: ignore[attr-defined]
    _require(replay.learning_starts <= replay.replay_capacity, "learning_starts", replay.learning_starts,
             f"must be <= replay_capacity={replay.replay_capacity}")
    _require(replay.learning_starts >= learner.batch_size, "learning_starts", replay.learning_starts,
             f"must be >= batch_size={learner.batch_size}")


@dataclass(frozen=True)
class DPGAgentConfig:
    """DDPG / TD3 / Ape-X DPG / D4PG: Gaussian-noise actors, (prioritized) replay and one
    deterministic-policy-gradient learner. Presets: apexrl.agents.dpg.presets."""

    run: tyro.conf.OmitArgPrefixes[RunConfig] = field(default_factory=lambda: RunConfig(env_id="Pendulum-v1"))
    replay: tyro.conf.OmitArgPrefixes[ReplayConfig] = field(default_factory=ReplayConfig)
    actor: tyro.conf.OmitArgPrefixes[GaussianNoiseConfig] = field(default_factory=GaussianNoiseConfig)
    learner: tyro.conf.OmitArgPrefixes[DPGConfig] = field(default_factory=DPGConfig)

    def __post_init__(self) -> None:
        check_agent_config(self)
