"""Configuration of soft actor-critic (``sac``; Haarnoja et al. 2018, "Soft Actor-Critic
Algorithms and Applications", arXiv 1812.05905, Table 1) with CleanRL's ``sac_continuous_action.py``
and SB3's SAC as the sources of the defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import tyro

from apexrl.agents.dpg.config import ContinuousActorConfig, ContinuousLearnerFields, check_agent_config
from apexrl.config import ReplayConfig, RunConfig, _positive, _require


@dataclass(frozen=True)
class SACConfig(ContinuousLearnerFields):
    """SAC's learning rule: twin soft Q critics with Polyak targets, a squashed-Gaussian policy
    and an automatically tuned entropy temperature α (the formulas: apexrl.losses.sac)."""

    n_step: int = 1
    """n of the n-step return (SAC: 1; the entropy bonus is only on the bootstrap state, a
    deviation for n > 1)."""
    gamma: float = 0.99
    """Discount γ per agent step (SAC, CleanRL, SB3: 0.99)."""
    batch_size: int = 256
    """Transitions per learner step (SAC, CleanRL, SB3: 256)."""
    actor_learning_rate: float = 3e-4
    """Adam step size of the policy (SAC, CleanRL: 3e-4)."""
    critic_learning_rate: float = 3e-4
    """Adam step size of the twin critics (SAC, SB3: 3e-4; CleanRL: 1e-3)."""
    alpha_learning_rate: float = 3e-4
    """Adam step size of log α (SAC, SB3: 3e-4; CleanRL: the critics' 1e-3)."""
    learning_rate_final_fraction: float | None = None
    """If set, the three step sizes decay linearly to this fraction of their initial value at the
    end of the budget (SB3 zoo schedules; off in the paper)."""
    optimizer_eps: float = 1e-8
    """ε of Adam's denominator (PyTorch default)."""
    max_grad_norm: float = math.inf
    """Clip of each network's global gradient norm (inf = none, as the paper)."""
    tau: float = 0.005
    """Polyak coefficient of the target critics θ⁻ ← τθ + (1 − τ)θ⁻ (SAC, CleanRL, SB3: 0.005)."""
    target_update_period: int = 1
    """Learner steps between target updates (SAC, SB3: 1)."""
    policy_delay: int = 1
    """Critic updates per policy (and α) update (SAC, SB3: 1; CleanRL: 2 with 2 policy steps)."""
    autotune: bool = True
    """Tune α by gradient descent on the temperature loss towards the target entropy (SAC 2018b);
    off = keep α at --init-alpha."""
    init_alpha: float = 1.0
    """Initial (or, without --autotune, fixed) temperature α (SB3 "auto": 1.0; CleanRL with
    autotune: 1.0, without: 0.2)."""
    target_entropy: float | None = None
    """Target entropy H̄ of the temperature loss; default −d for d action dimensions (SAC)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Widths of the policy and critic MLPs (SAC, CleanRL, SB3: 256, 256)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "n_step", "batch_size", "actor_learning_rate", "critic_learning_rate",
                  "alpha_learning_rate", "optimizer_eps", "target_update_period", "policy_delay", "init_alpha")
        _require(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "must be in [0, 1]")
        _require(0.0 < self.tau <= 1.0, "tau", self.tau, "must be in (0, 1]")
        _require(self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "must be > 0 (inf = no clipping)")
        frac = self.learning_rate_final_fraction
        _require(frac is None or 0.0 <= frac <= 1.0, "learning_rate_final_fraction", frac, "must be in [0, 1]")
        _require(self.target_entropy is None or math.isfinite(self.target_entropy), "target_entropy",
                 self.target_entropy, "must be finite")
        _require(len(self.hidden_sizes) > 0 and all(h > 0 for h in self.hidden_sizes), "hidden_sizes",
                 self.hidden_sizes, "must be one or more positive widths")


@dataclass(frozen=True)
class SACAgentConfig:
    """SAC: actors sampling from the squashed-Gaussian policy, uniform replay (SAC's), one
    learner. Presets: apexrl.agents.sac.presets."""

    run: tyro.conf.OmitArgPrefixes[RunConfig] = field(default_factory=lambda: RunConfig(env_id="Pendulum-v1"))
    replay: tyro.conf.OmitArgPrefixes[ReplayConfig] = field(default_factory=lambda: ReplayConfig(prioritized=False))
    actor: tyro.conf.OmitArgPrefixes[ContinuousActorConfig] = field(default_factory=ContinuousActorConfig)
    learner: tyro.conf.OmitArgPrefixes[SACConfig] = field(default_factory=SACConfig)

    def __post_init__(self) -> None:
        check_agent_config(self)
