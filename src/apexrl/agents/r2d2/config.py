"""Configuration of R2D2 (Kapturowski et al. 2019, "Recurrent Experience Replay in Distributed
Reinforcement Learning", Table 2; Acme's ``r2d2`` defaults where the paper is silent).

The replay's items are sequences: ``--replay-capacity`` and ``--learning-starts`` count
sequences, ``--samples-per-insert`` is sequences sampled per sequence inserted (Acme's R2D2: 4),
``--local-buffer-size`` the sequences an actor collects before sending them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import tyro

from apexrl.config import EpsilonGreedyConfig, LearnerRuntimeConfig, ReplayConfig, RunConfig, _positive, _require

__all__ = ["R2D2AgentConfig", "R2D2Config"]


@dataclass(frozen=True)
class R2D2Config(LearnerRuntimeConfig):
    """R2D2's learning rule: a recurrent dueling double-Q network trained on replayed sequences
    with stored state and burn-in, n-step targets under invertible value rescaling (the formulas:
    apexrl.losses.r2d2)."""

    n_step: int = 5
    """n of the n-step return (R2D2: 5)."""
    gamma: float = 0.997
    """Discount γ per agent step (R2D2: 0.997)."""
    batch_size: int = 64
    """Sequences per learner step (R2D2: 64)."""
    burn_in: int = 40
    """Steps at the start of each replayed sequence unrolled without gradient to refresh the stored
    state (R2D2: 40; 0 = no burn-in)."""
    sequence_length: int = 80
    """m: steps of each sequence the loss is computed on (R2D2: 80)."""
    sequence_period: int = 40
    """Steps between the starts of consecutive sequences of an episode (R2D2: 40, an overlap of 40)."""
    stored_state: bool = True
    """Start the learner's unroll from the actor's LSTM state stored with each sequence (R2D2's
    "stored state"); --no-stored-state starts from zeros (the paper's zero-state ablation)."""
    lstm_size: int = 512
    """Units of the LSTM (R2D2: 512)."""
    hidden_sizes: tuple[int, ...] = (512,)
    """Widths of the MLP torso (vector observations) or of the hidden layer after a conv torso."""
    head_hidden: int = 512
    """Hidden units of each dueling stream after the LSTM (R2D2: 512; 0 = linear streams)."""
    learning_rate: float = 1e-4
    """Adam step size (R2D2: 1e-4)."""
    learning_rate_final: float | None = None
    """If set, the learning rate decays linearly to this value at the end of the budget."""
    optimizer_eps: float = 1e-3
    """ε of Adam's denominator (R2D2: 1e-3)."""
    max_grad_norm: float = 40.0
    """Clip of the global gradient norm (Acme's R2D2: 40; the paper does not clip)."""
    target_update_period: int = 2500
    """Learner steps between target network copies (R2D2: 2500)."""
    value_rescaling_epsilon: float = 1e-3
    """ε of the value rescaling h(x) = sign(x)(√(|x|+1) − 1) + εx (R2D2: 1e-3)."""
    value_rescaling: bool = True
    """Train in the rescaled space h (R2D2); off = plain n-step double Q-learning targets."""
    priority_eta: float = 0.9
    """η of the sequence priority p = η·max_t|δ_t| + (1−η)·mean_t|δ_t| (R2D2: 0.9)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "n_step", "batch_size", "sequence_length", "sequence_period", "lstm_size", "learning_rate",
                  "optimizer_eps", "target_update_period", "value_rescaling_epsilon")
        _require(self.burn_in >= 0, "burn_in", self.burn_in, "must be >= 0")
        _require(self.sequence_period <= self.sequence_length, "sequence_period", self.sequence_period,
                 f"must be <= sequence_length={self.sequence_length} (sequences must overlap or touch)")
        _require(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "must be in [0, 1]")
        _require(0.0 <= self.priority_eta <= 1.0, "priority_eta", self.priority_eta, "must be in [0, 1]")
        _require(self.head_hidden >= 0, "head_hidden", self.head_hidden, "must be >= 0")
        _require(self.max_grad_norm > 0 or math.isinf(self.max_grad_norm), "max_grad_norm", self.max_grad_norm,
                 "must be > 0")
        _require(self.learning_rate_final is None or self.learning_rate_final >= 0, "learning_rate_final",
                 self.learning_rate_final, "must be >= 0")
        _require(len(self.hidden_sizes) > 0 and all(h > 0 for h in self.hidden_sizes), "hidden_sizes",
                 self.hidden_sizes, "must be one or more positive widths")


@dataclass(frozen=True)
class R2D2AgentConfig:
    """R2D2: ε-greedy recurrent actors (one ε per environment instance), sequence replay with
    per-sequence priorities, one learner. Presets: apexrl.agents.r2d2.presets."""

    run: tyro.conf.OmitArgPrefixes[RunConfig] = field(
        default_factory=lambda: RunConfig(env_id="popgym-PositionOnlyCartPoleEasy-v0"))
    replay: tyro.conf.OmitArgPrefixes[ReplayConfig] = field(
        default_factory=lambda: ReplayConfig(priority_exponent=0.9, importance_sampling_exponent=0.6,
                                             replay_capacity=10_000, learning_starts=64, samples_per_insert=4.0))
    actor: tyro.conf.OmitArgPrefixes[EpsilonGreedyConfig] = field(
        default_factory=lambda: EpsilonGreedyConfig(local_buffer_size=4))
    learner: tyro.conf.OmitArgPrefixes[R2D2Config] = field(default_factory=R2D2Config)

    def __post_init__(self) -> None:
        _require(self.replay.learning_starts <= self.replay.replay_capacity, "learning_starts",
                 self.replay.learning_starts, f"must be <= replay_capacity={self.replay.replay_capacity}")
