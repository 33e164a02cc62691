"""The agent plug-in interface: what every algorithm gives the one runtime.

An agent is a frozen configuration plus one builder (:class:`Agent`), registered by name in
:mod:`apexrl.agents`. The training loop (:mod:`apexrl.runtime.trainer`), the actor loop
(:mod:`apexrl.runtime.actor`), the evaluator, checkpoints and the three backends use only what
is defined here; they never name an algorithm. Modelled on Acme's builders
(``acme/agents/*/builder.py``), with one object instead of Acme's factory layers.

The configuration of every agent has four groups (frozen dataclasses, one flag per field):

- ``run``: :class:`apexrl.config.RunConfig` (env, budget in ``env_frames``, backend, logging);
- ``replay``: :class:`apexrl.config.ReplayConfig` (capacity, prioritization, rate limit);
- ``actor``: :class:`apexrl.config.ActorConfig` or an extension of it with the agent's
  exploration settings (ε-greedy, Gaussian noise);
- ``learner``: the agent's learning rule; it must have the fields of
  :data:`LEARNER_FIELDS`, which the runtime reads (batch size, ``n_step``, ``gamma``, the
  publication period, the NaN bound and ``device``).

Units: ``env_frames`` are emulator frames (4 per agent step on Atari), ``env_steps`` agent
steps, ``learner_steps`` calls of :meth:`Learner.update`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

LEARNER_FIELDS = ("batch_size", "n_step", "gamma", "publish_period", "updates_per_step",
                  "max_consecutive_nonfinite", "device")
"""Fields the runtime reads from every agent's ``learner`` config group."""


@dataclass
class PolicyStep:
    """What an actor-side policy returns for a batch of ``E`` observations.

    Fields:
        actions: ``[E]`` ``int64`` (``Discrete``) or ``[E, *action_shape]`` ``float32`` (``Box``,
            in the policy's normalized units ``[-1, 1]``): what the adder stores and the learner
            trains on.
        env_actions: what ``env.step`` receives: the same array for ``Discrete``; for ``Box``
            ``actions`` rescaled to the action space's bounds
            (:func:`apexrl.envs.spaces.scale_actions`).
        q_taken: ``[E]`` ``float32`` ``Q(s, a)`` of the actions taken, from the actor's own network,
            for initial priorities; ``None`` when the agent gives none (the replay then inserts
            with the maximum priority seen, or uniformly).
        value: ``[E]`` ``float32`` bootstrap value ``V(s)`` of these observations
            (``max_a Q(s, a)``; ``Q(s, μ(s))`` for DPG), used as ``next_value`` of the previous
            step's transition; ``None`` exactly when ``q_taken`` is.
    """

    actions: np.ndarray
    env_actions: np.ndarray
    q_taken: np.ndarray | None = None
    value: np.ndarray | None = None


class ActorPolicy(Protocol):
    """The actor-side policy of one actor (all of its ``E`` environments).

    ``network`` is the module the actor pulls published parameters into
    (:meth:`Learner.acting_network` has the same architecture). The policy holds its own
    exploration state (ε_i, noise scale σ_i, random generator).
    """

    network: Any

    def step(self, obs: np.ndarray) -> PolicyStep:
        """Act on ``obs`` ``[E, *obs_shape]`` (one batched forward pass); explores."""
        ...

    def value(self, obs: np.ndarray) -> np.ndarray:
        """``[K]`` ``float32`` bootstrap values of ``K`` observations (final observations of
        truncated episodes); only called when the policy gives values."""
        ...

    def advance(self, frames: int) -> None:
        """The actor has now taken ``frames`` emulator frames in total (schedules such as ε
        decay read it)."""
        ...


class Learner(Protocol):
    """The learner of an agent: networks, targets, optimizers and the update rule.

    Attributes:
        consecutive_skipped: updates in a row whose loss or gradient was not finite (they were
            skipped); the runtime stops at ``learner.max_consecutive_nonfinite``.
        skipped_updates: all skipped updates so far.
    """

    consecutive_skipped: int
    skipped_updates: int

    def update(self, sample: Any) -> tuple[np.ndarray, dict[str, float]]:
        """One learner step on a :class:`apexrl.types.SampledBatch`; returns ``(priorities [B]
        float32, metrics)``. Metrics are named ``learner/…`` (``learner/loss`` and, where the
        agent has one, ``learner/td_abs_mean``, ``learner/q_mean``, ``learner/learning_rate``)."""
        ...

    def acting_network(self) -> Any:
        """The ``nn.Module`` whose parameters actors and the evaluator need (published to them)."""
        ...

    def set_progress(self, fraction: float) -> None:
        """Training progress in ``[0, 1]`` (env frames / budget), for schedules (learning rate)."""
        ...

    def state_dict(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(tensors, meta)`` for a checkpoint: CPU tensors (safetensors) and JSON-able metadata."""
        ...

    def load_state_dict(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; raises ``ValueError`` naming the mismatch."""
        ...


ActionKind = Literal["discrete", "continuous"]


def lazy(target: str) -> Callable[..., Any]:
    """A builder that imports ``"package.module:name"`` when first called and calls it, so that an
    agent record (and the registry) can name torch-using builders without importing torch.

    Raises:
        ValueError: ``target`` is not of the form ``module:name``.
    """
    module, sep, name = target.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"lazy builder target must be 'module:name', got {target!r}")

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{target}``, imported when called."
    return call


@dataclass(frozen=True)
class Agent:
    """A registered algorithm: its configuration, presets and builder functions.

    Every callable is a module-level function (so that the agent is found again by name in actor
    processes; processes receive ``name``, never the object).

    Attributes:
        name: the CLI name (``apexrl train NAME``).
        doc: one paragraph shown by ``apexrl train NAME --help``.
        config_class: the frozen config dataclass (groups ``run``, ``replay``, ``actor``,
            ``learner``).
        presets: ``--preset`` name -> config factory.
        default: the config factory used without ``--preset`` (and for ``--env`` of no family).
        single_actor: the algorithm defaults to one actor in the learner's process.
        action_kind: the action spaces it acts in: ``"discrete"`` (``gymnasium.spaces.Discrete``)
            or ``"continuous"`` (``gymnasium.spaces.Box``).
        build_network: ``(config, info) -> nn.Module``: the acting network (actors, evaluator,
            export); the learner's :meth:`Learner.acting_network` has the same architecture.
        build_policy: ``(config, info, network, index, rng) -> ActorPolicy`` for actor ``index``
            of ``config.run.num_actors``; ``rng`` is the actor's ``numpy`` generator.
        build_learner: ``(config, info, seed, device) -> Learner``.
        greedy_actions: ``(network, obs, action_space, epsilon, rng) -> env actions``: the
            evaluation policy (greedy with an ε for the DQN family; the deterministic action
            rescaled to the bounds for continuous agents, which ignore ``epsilon``).
        build_adder: ``(config, info, num_envs, stream_offset) -> adder`` or ``None`` for the
            runtime's n-step transitions (:class:`apexrl.replay.NStepAdder`, sized by
            ``learner.n_step`` / ``learner.gamma`` and the env's action shape).
    """

    name: str
    doc: str
    config_class: type
    presets: dict[str, Callable[[], Any]]
    default: Callable[[], Any]
    single_actor: bool
    action_kind: ActionKind
    build_network: Callable[..., Any]
    build_policy: Callable[..., ActorPolicy]
    build_learner: Callable[..., Learner]
    greedy_actions: Callable[..., np.ndarray]
    build_adder: Callable[..., Any] | None = None
