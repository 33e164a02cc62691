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
        extras: per-env arrays (leading dimension ``E``) computed with the actions that the
            agent's own adder (:attr:`Agent.build_adder`) stores: the recurrent state the actions
            were taken from, behaviour log-probabilities, value estimates. The actor passes them as
            ``adder.add(..., extras=extras)``, and only when they are not ``None`` (the runtime's
            n-step adder takes none).
    """

    actions: np.ndarray
    env_actions: np.ndarray
    q_taken: np.ndarray | None = None
    value: np.ndarray | None = None
    extras: dict[str, np.ndarray] | None = None


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

    # Optional, for stateful (recurrent) policies; the actor calls it when the policy defines it:
    # def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
    #     """The outcome of the last actions, ``[E]`` float32 / bool / bool, given right after
    #     ``env.step`` and before :meth:`step` on the next observations: reset the state of envs
    #     whose episode ended, keep the reward as the next input."""


class GreedyPolicy(Protocol):
    """A stateful evaluation policy over ``num_envs`` environments (:attr:`Agent.build_greedy`), for
    agents whose greedy action depends on more than the observation (a recurrent state)."""

    def act(self, obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        """Env actions for ``obs`` ``[num_envs, *obs_shape]`` (ε-greedy with ``epsilon`` where the
        agent has one)."""
        ...

    def observe(self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """As :meth:`ActorPolicy.observe`: after each ``env.step``, before the next :meth:`act`."""
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


ActionKind = Literal["discrete", "continuous", "any"]


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
        action_kind: the action spaces it acts in: ``"discrete"`` (``gymnasium.spaces.Discrete``),
            ``"continuous"`` (a 1-d ``gymnasium.spaces.Box`` with finite bounds) or ``"any"``
            (either; its builders look at ``info.action_space``).
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
            ``learner.n_step`` / ``learner.gamma`` and the env's action shape). An adder's
            ``add(obs, actions, reward, next_obs, terminated, truncated, q_taken=, next_value=[,
            extras=])`` returns ``(items, priorities or None)``; items of a type of its own define
            ``__len__``, a classmethod ``concat(list)`` (:func:`apexrl.replay.concat_items`) and
            ``tail(start)`` (the items ``start:``, for a message larger than the replay).
        build_replay: ``(config, info, seed) -> replay`` or ``None`` for the runtime's prioritized
            transition replay (:func:`apexrl.replay.build.build_replay`). Used by every backend (each
            Ray replay shard builds one). A replay has ``add(items, priorities)``,
            ``sample(batch_size)`` (an object with ``keys``), ``update_priorities(keys, priorities)``,
            ``can_sample(batch_size)``, ``__len__``, ``nbytes``, ``state_dict()`` and
            ``load_state_dict(arrays, meta)``; the Ray backend's sharded sampling also reads
            ``sum_tree.total`` (a :class:`apexrl.replay.PrioritizedReplay` over its own storage has it)
            and splits sampled data with :func:`apexrl.replay.take_items` (a NamedTuple of arrays,
            or a container with ``take(rows)``).
        build_greedy: ``(network, num_envs) -> GreedyPolicy`` or ``None``: a stateful evaluation
            policy (recurrent agents); without it the evaluator calls :attr:`greedy_actions`.
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
    build_replay: Callable[..., Any] | None = None
    build_greedy: Callable[..., GreedyPolicy] | None = None
