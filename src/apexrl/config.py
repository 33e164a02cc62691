"""Frozen configuration dataclasses shared by all algorithms.

Every field is a command-line flag (``apexrl train ALGO --help``). Invalid values raise
:class:`ValueError` naming the field when the dataclass is constructed. Units are explicit:
``env_frames`` are emulator frames (4 per agent step on Atari, 1 elsewhere), ``env_steps``
are agent steps, ``learner_steps`` are gradient updates.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import tyro


_FLAGS = {"env_id": "--env", "num_actors": "--actors", "total_env_frames": "--frames",
          "checkpoint_every_min": "--checkpoint-every"}


def flag_name(field_name: str) -> str:
    """The command-line flag of a config field (``batch_size`` -> ``--batch-size``)."""
    return _FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


def _require(ok: bool, field_name: str, value: Any, what: str) -> None:
    if not ok:
        raise ValueError(f"invalid {field_name}={value!r} ({flag_name(field_name)}): {what}")


def check_device(device: str, field_name: str = "device") -> None:
    """Raise ValueError unless ``device`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    import re

    _require(bool(re.fullmatch(r"auto|cpu|cuda(:\d+)?", device)), field_name, device,
             "must be auto, cpu, cuda or cuda:N")


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _require(value > 0, name, value, "must be > 0")


@dataclass(frozen=True)
class RunConfig:
    """What to run, where, for how long, and where results go."""

    env_id: Annotated[str, tyro.conf.arg(name="env")] = "CartPole-v1"
    """Gymnasium id (CartPole-v1, MinAtar/Breakout-v1, ALE/Pong-v5, module:EnvId)."""
    seed: int = 0
    """Seed of networks, replay sampling and environments (>= 0); env i of actor j gets its own seed in
    [0, 2**32), distinct across restarts and resumes (apexrl.runtime.seeding.derive_seeds)."""
    total_env_frames: Annotated[int, tyro.conf.arg(name="frames")] = 100_000
    """Training budget in emulator frames (agent steps × frame skip)."""
    num_actors: Annotated[int, tyro.conf.arg(name="actors")] = 2
    """Number of actor processes (Ape-X: 360). The local backend runs exactly one."""
    backend: Literal["mp", "local", "ray"] = "mp"
    """mp: actors in their own processes (default); local: one actor inside the learner's process;
    ray: actors, replay shards, learner and evaluator as Ray actors (pip install apexrl[ray])."""
    ray_address: str | None = None
    """--backend ray: address of a running Ray cluster (HOST:6379); default: start a local instance."""
    replay_shards: int = 1
    """--backend ray: replay shard actors; actor i writes to shard i mod R, the learner
    samples from them in proportion to their priority mass."""
    run_dir: str | None = None
    """Run directory; default runs/<algo>-<env>-s<seed>-<time>."""
    log_interval_s: float = 5.0
    """Seconds of wall time between rows of metrics.csv."""
    eval_interval_frames: int = 50_000
    """Emulator frames between greedy evaluations during training (0 = only the final one)."""
    eval_episodes: int = 10
    """Episodes per periodic evaluation."""
    final_eval_episodes: int = 20
    """Episodes of the final evaluation that gives final_eval_return."""
    eval_epsilon: float = 0.001
    """ε of the evaluation policy (Ape-X: 0.001)."""
    eval_max_episode_steps: int = 27_000
    """Cap on an evaluation episode's length in agent steps (27K agent steps = 108K Atari frames)."""
    video_every_evals: int = 0
    """Write an MP4 of one greedy evaluation episode every K-th periodic evaluation into
    RUN_DIR/videos (as apexrl video does; needs the viz extra); 0 = off."""
    max_wall_s: float | None = None
    """Stop training after this many seconds of wall time even if frames remain (off by default)."""
    stop_eval_return: float | None = None
    """Stop early once a periodic evaluation reaches this mean return (off by default)."""
    learner_threads: int = 0
    """torch threads of the learner (0 = the cores left after the actors and the evaluator, at least 1)."""
    progress: bool = True
    """Show the live progress bar."""
    tensorboard: bool = True
    """Write TensorBoard event files into the run directory."""
    checkpoint_every_min: Annotated[float, tyro.conf.arg(name="checkpoint-every")] = 10.0
    """Minutes of wall time between checkpoints (0 = only at the end and on SIGTERM / SIGINT)."""
    keep_checkpoints: int = 3
    """Newest complete checkpoints kept in RUN_DIR/checkpoints."""
    checkpoint_replay: bool = True
    """Include the replay (items and priorities) in checkpoints, so a resume continues with it."""
    max_evaluator_restarts: int = 3
    """The evaluator is restarted after a crash (its traceback is logged); this many failures in a
    row without a finished evaluation stop the run. The final evaluation runs in the learner's
    process and does not depend on it."""
    max_checkpoint_failures: int = 3
    """Failed checkpoint writes in a row (disk full, I/O errors) that stop the run; fewer are logged,
    counted (the checkpoint_errors column) and training goes on with the previous checkpoints intact."""

    def __post_init__(self) -> None:
        _require(self.checkpoint_every_min >= 0, "checkpoint_every_min", self.checkpoint_every_min, "must be >= 0")
        _require(self.keep_checkpoints >= 1, "keep_checkpoints", self.keep_checkpoints, "must be >= 1")
        _require(self.max_evaluator_restarts >= 0, "max_evaluator_restarts", self.max_evaluator_restarts,
                 "must be >= 0")
        _require(isinstance(self.max_checkpoint_failures, int) and self.max_checkpoint_failures >= 1,
                 "max_checkpoint_failures", self.max_checkpoint_failures, "must be an integer >= 1")
        _positive(self, "total_env_frames", "num_actors", "log_interval_s", "final_eval_episodes",
                  "eval_episodes", "eval_max_episode_steps", "replay_shards")
        _require(self.eval_interval_frames >= 0, "eval_interval_frames", self.eval_interval_frames, "must be >= 0")
        _require(self.video_every_evals >= 0, "video_every_evals", self.video_every_evals, "must be >= 0")
        _require(self.video_every_evals == 0 or self.eval_interval_frames > 0, "video_every_evals",
                 self.video_every_evals, "needs periodic evaluations (--eval-interval-frames > 0)")
        _require(0.0 <= self.eval_epsilon <= 1.0, "eval_epsilon", self.eval_epsilon, "must be in [0, 1]")
        _require(self.max_wall_s is None or self.max_wall_s > 0, "max_wall_s", self.max_wall_s, "must be > 0")
        _require(self.learner_threads >= 0, "learner_threads", self.learner_threads, "must be >= 0")
        _require(bool(self.env_id), "env_id", self.env_id, "must be a Gymnasium id")
        _require(self.seed >= 0, "seed", self.seed, "must be >= 0")


@dataclass(frozen=True)
class ReplayConfig:
    """Prioritized replay (Schaul et al. 2016) as used by Ape-X (Horgan et al. 2018)."""

    prioritized: bool = True
    """Proportional prioritized sampling (Schaul et al. 2016); off = uniform sampling, unit weights."""
    replay_capacity: int = 100_000
    """Transitions kept; the oldest are removed first (Ape-X: 2M)."""
    priority_exponent: float = 0.6
    """α in P(i) = p_i^α / Σ_k p_k^α (Ape-X: 0.6)."""
    importance_sampling_exponent: float = 0.4
    """β in w_i = (N·P(i))^-β (Ape-X: 0.4)."""
    importance_sampling_exponent_final: float | None = None
    """If set, β is annealed linearly to this value over the run (Rainbow: 1.0)."""
    priority_epsilon: float = 1e-6
    """ε in p_i = |δ_i| + ε, keeps every transition sampleable."""
    learning_starts: int = 1_000
    """Transitions in replay before the learner starts (Ape-X: 50K)."""
    samples_per_insert: float = 0.0
    """Rate limit: target learner samples (batch × steps) per inserted transition; the learner waits
    when below it and actors are throttled when above it. 0 = no limit (Ape-X default behaviour)."""
    samples_per_insert_tolerance: float = 0.1
    """Allowed relative deviation from --samples-per-insert before anyone waits."""

    def __post_init__(self) -> None:
        _positive(self, "replay_capacity", "priority_epsilon")
        _require(self.priority_exponent >= 0, "priority_exponent", self.priority_exponent, "must be >= 0")
        for name in ("importance_sampling_exponent", "importance_sampling_exponent_final"):
            value = getattr(self, name)
            _require(value is None or 0.0 <= value <= 1.0, name, value, "must be in [0, 1]")
        _require(self.learning_starts >= 1, "learning_starts", self.learning_starts, "must be >= 1")
        _require(self.samples_per_insert >= 0, "samples_per_insert", self.samples_per_insert, "must be >= 0")
        _require(self.samples_per_insert_tolerance > 0, "samples_per_insert_tolerance",
                 self.samples_per_insert_tolerance, "must be > 0")


@dataclass(frozen=True)
class ActorConfig:
    """Actors of every agent (Horgan et al. 2018, Algorithm 1): how many environments each steps,
    how often it sends experience and pulls parameters, how it is supervised. An agent's
    exploration settings extend it (EpsilonGreedyConfig; the continuous agents' Gaussian noise)."""

    envs_per_actor: int = 1
    """Environments each actor steps with one batched forward pass."""
    local_buffer_size: int = 50
    """B: transitions an actor collects before sending them with priorities (Ape-X: 50)."""
    param_update_period_frames: int = 400
    """Emulator frames between parameter pulls (Ape-X: 400)."""
    queue_size: int = 16
    """Messages that may wait in the actor→replay queue (bounded: backpressure)."""
    repeat_action_probability: float = 0.0
    """Atari sticky actions (0 = DQN/Ape-X protocol; ALE v5 default is 0.25)."""
    max_actor_restarts: int = 5
    """Restarts allowed in a row without a delivery: an actor that fails this many times again
    before it delivers any experience is in a crash loop and the run stops. A delivered message
    resets the count, so faults between which the actor makes progress are restarted indefinitely
    (every restart is counted in actor_restarts)."""
    actor_timeout_s: float = 60.0
    """An environment step (or reset) running longer than this many seconds counts as a crash."""

    def __post_init__(self) -> None:
        _positive(self, "envs_per_actor", "local_buffer_size", "param_update_period_frames", "queue_size")
        _require(0.0 <= self.repeat_action_probability <= 1.0, "repeat_action_probability",
                 self.repeat_action_probability, "must be in [0, 1]")
        _require(self.max_actor_restarts >= 0, "max_actor_restarts", self.max_actor_restarts, "must be >= 0")
        _require(self.actor_timeout_s > 0, "actor_timeout_s", self.actor_timeout_s, "must be > 0")


@dataclass(frozen=True)
class EpsilonGreedyConfig(ActorConfig):
    """Ape-X ε-greedy actors (DQN family): environment instance i of the M = actors × envs of the run
    explores with ε_i = ε^(1 + α·i/(M−1)) (apexrl.agents.exploration)."""

    epsilon: float = 0.4
    """Base ε of the per-actor schedule ε_i = ε^(1 + α·i/(N−1)) (Ape-X: 0.4)."""
    epsilon_alpha: float = 7.0
    """α of the per-actor schedule (Ape-X: 7)."""
    epsilon_decay_frames: int = 0
    """If > 0, ε decays linearly from --epsilon-start to the actor's ε over this many of the
    actor's emulator frames (single-actor DQN: 1 → 0.1 over 1M frames); 0 = constant ε (Ape-X)."""
    epsilon_start: float = 1.0
    """Initial ε of the decay above."""
    epsilon_per_env: bool = True
    """ε_i per environment instance, i over all actors × envs (R2D2, SEED RL); off: one ε_i per actor
    for all its envs (the Ape-X paper's wording). A run of one actor has one ε either way."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(0.0 <= self.epsilon <= 1.0, "epsilon", self.epsilon, "must be in [0, 1]")
        _require(0.0 <= self.epsilon_start <= 1.0, "epsilon_start", self.epsilon_start, "must be in [0, 1]")
        _require(self.epsilon_decay_frames >= 0, "epsilon_decay_frames", self.epsilon_decay_frames, "must be >= 0")
        _require(self.epsilon_alpha >= 0, "epsilon_alpha", self.epsilon_alpha, "must be >= 0")


@dataclass(frozen=True)
class LearnerRuntimeConfig:
    """The fields of every agent's learner group that the runtime reads besides the learning rule
    (batch size, n and γ are the rule's own): publication period, updates per loop iteration,
    the NaN bound and the device."""

    publish_period: int = 1
    """Learner steps between parameter publications to actors."""
    updates_per_step: int = 1
    """Learner updates per main-loop iteration."""
    max_consecutive_nonfinite: int = 100
    """A NaN or infinite loss or gradient skips its update; this many in a row stop the run."""
    device: str = "auto"
    """Where the learner's networks and updates run: auto (CUDA when present, else cpu), cpu,
    cuda or cuda:N. Replay and actors stay on the host."""

    def __post_init__(self) -> None:
        check_device(self.device)
        _positive(self, "publish_period", "updates_per_step", "max_consecutive_nonfinite")


@dataclass(frozen=True)
class DQNConfig(LearnerRuntimeConfig):
    """The learning rule: dueling double Q-learning with n-step returns (the Ape-X DQN loss)."""

    n_step: int = 3
    """n of the n-step return (Ape-X: 3)."""
    gamma: float = 0.99
    """Discount γ per agent step."""
    batch_size: int = 64
    """Transitions per learner step (Ape-X: 512)."""
    learning_rate: float = 1e-3
    """Optimizer step size (Ape-X: 0.00025/4 with centered RMSProp)."""
    learning_rate_final: float | None = None
    """If set, the learning rate decays linearly to this value at the end of the budget."""
    optimizer: Literal["adam", "rmsprop"] = "adam"
    """adam or centered rmsprop (Ape-X: RMSProp, decay 0.95, eps 1.5e-7)."""
    optimizer_eps: float = 1.5e-4
    """ε of the optimizer's denominator."""
    rmsprop_decay: float = 0.95
    """Decay of RMSProp's squared-gradient average."""
    max_grad_norm: float = 40.0
    """Clip of the global gradient norm (Ape-X: 40)."""
    target_update_period: int = 500
    """Learner steps between target network copies (Ape-X: 2500)."""
    double: bool = True
    """Double Q-learning: online argmax, target evaluation (van Hasselt et al. 2016)."""
    dueling: bool = True
    """Dueling head V + A − mean(A) (Wang et al. 2016)."""
    distributional: bool = False
    """C51 (Bellemare et al. 2017): a categorical return distribution on --num-atoms atoms in
    [--v-min, --v-max], cross-entropy loss, priorities from the loss (as in Rainbow)."""
    num_atoms: int = 51
    """Atoms of the categorical distribution (C51, Rainbow: 51)."""
    v_min: float = -10.0
    """Lowest atom (C51, Rainbow: −10)."""
    v_max: float = 10.0
    """Highest atom (C51, Rainbow: 10)."""
    noisy: bool = False
    """Factorised Gaussian noisy layers in the head, resampled every step (Fortunato et al. 2018)."""
    noisy_sigma0: float = 0.5
    """σ0 of the noisy layers' initial noise scale σ0/√fan_in (Rainbow: 0.5)."""
    loss: Literal["mse", "huber"] = "mse"
    """mse: ½δ² (Ape-X); huber: Huber with κ=1 (DQN 2015)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Widths of the MLP torso (vector observations) or of the hidden layer after a conv torso."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "n_step", "batch_size", "learning_rate", "optimizer_eps", "target_update_period")
        _require(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "must be in [0, 1]")
        _require(self.max_grad_norm > 0 or math.isinf(self.max_grad_norm), "max_grad_norm",
                 self.max_grad_norm, "must be > 0")
        _require(0.0 < self.rmsprop_decay < 1.0, "rmsprop_decay", self.rmsprop_decay, "must be in (0, 1)")
        _require(self.learning_rate_final is None or self.learning_rate_final >= 0, "learning_rate_final",
                 self.learning_rate_final, "must be >= 0")
        _require(self.num_atoms >= 2, "num_atoms", self.num_atoms, "must be >= 2")
        _require(self.v_min < self.v_max, "v_min", self.v_min, f"must be < v_max={self.v_max}")
        _require(self.noisy_sigma0 >= 0, "noisy_sigma0", self.noisy_sigma0, "must be >= 0")
        _require(len(self.hidden_sizes) > 0 and all(h > 0 for h in self.hidden_sizes), "hidden_sizes",
                 self.hidden_sizes, "must be one or more positive widths")


@dataclass(frozen=True)
class ApexDQNConfig:
    """Ape-X DQN (Horgan et al. 2018): N ε-greedy actors, central prioritized replay, one
    dueling double n-step Q-learner. Presets: see :mod:`apexrl.agents.dqn.apex_dqn`."""

    run: tyro.conf.OmitArgPrefixes[RunConfig] = field(default_factory=RunConfig)
    replay: tyro.conf.OmitArgPrefixes[ReplayConfig] = field(default_factory=ReplayConfig)
    actor: tyro.conf.OmitArgPrefixes[EpsilonGreedyConfig] = field(default_factory=EpsilonGreedyConfig)
    learner: tyro.conf.OmitArgPrefixes[DQNConfig] = field(default_factory=DQNConfig)

    def __post_init__(self) -> None:
        _require(self.replay.learning_starts <= self.replay.replay_capacity, "learning_starts",
                 self.replay.learning_starts, f"must be <= replay_capacity={self.replay.replay_capacity}")
        _require(self.replay.learning_starts >= self.learner.batch_size, "learning_starts",
                 self.replay.learning_starts, f"must be >= batch_size={self.learner.batch_size}")


def to_dict(config: Any) -> dict[str, Any]:
    """Nested plain-dict form of a config dataclass (JSON-serialisable)."""
    return dataclasses.asdict(config)


def _group_type(cls: type, name: str) -> type | None:
    """The dataclass type of field ``name`` of ``cls`` (through ``Annotated`` / tyro markers), or None."""
    import typing

    hint = typing.get_type_hints(cls, include_extras=True).get(name)
    while hint is not None and typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return hint if dataclasses.is_dataclass(hint) else None


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Inverse of :func:`to_dict` for the config dataclasses (lists become tuples); nested groups
    are rebuilt as the types ``cls`` declares for them.

    Raises:
        ValueError: a key that is not a field of ``cls`` (or an invalid value).
    """
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ValueError(f"unknown config field {key!r} for {cls.__name__}")
        nested = _group_type(cls, key) if isinstance(value, dict) else None
        if nested is not None:
            value = from_dict(nested, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)
