"""On-policy data: rollouts, the actor-side rollout adder and the bounded rollout queue.

A rollout is ``T`` consecutive agent steps of each of ``E`` environments (time-major arrays
``[T, E, ...]``), with what the behaviour policy computed when it acted: ``V(s_t)`` and
``log π_old(a_t|s_t)``. The queue is the agent's replay (``Agent.build_replay``): actors insert
whole rollouts, the learner pops a batch of them (each rollout is used by exactly one learner
step) and the queue refuses more than ``capacity`` transitions (``may_insert`` is False when full,
so the training loop stops taking actor messages and actors block on their bounded outboxes).
Nothing is prioritized: ``update_priorities`` does nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

_FIELDS = ("obs", "actions", "rewards", "terminated", "truncated", "values", "next_values", "log_probs")


@dataclass
class Rollout:
    """``T`` agent steps of ``E`` environments, time-major.

    Fields (``T`` steps, ``E`` envs):
        obs: ``[T, E, *obs_shape]`` (the env's dtype): ``s_t``.
        actions: ``[T, E]`` int64 (``Discrete``) or ``[T, E, d]`` float32 (``Box``: the policy's
            pre-squash / unclipped sample ``u_t``, whose log-probability ``log_probs`` is).
        rewards: ``[T, E]`` float32 ``r_t``.
        terminated, truncated: ``[T, E]`` bool: the episode ended at ``s_{t+1}`` (a terminal state;
            a time limit).
        values: ``[T, E]`` float32 ``V(s_t)`` of the behaviour network.
        next_values: ``[T, E]`` float32 ``V(s_{t+1})``; for a truncated step ``V`` of the final
            observation (bootstrap); for a terminated one whatever the policy gave (unused).
        log_probs: ``[T, E]`` float32 ``log π_old(a_t|s_t)`` of the behaviour policy.

    ``len(rollout) = T·E`` (transitions). :meth:`concat` joins rollouts of one ``T`` along the
    env axis (the interface :func:`apexrl.replay.concat_items` uses).
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    values: np.ndarray
    next_values: np.ndarray
    log_probs: np.ndarray

    def __post_init__(self) -> None:
        shape = np.shape(self.rewards)
        if len(shape) != 2:
            raise ValueError(f"Rollout.rewards must be [T, E], got shape {shape}")
        for name in _FIELDS:
            got = np.shape(getattr(self, name))
            if got[:2] != shape:
                raise ValueError(f"Rollout.{name} must start with [T, E] = {list(shape)}, got shape {got}")

    @property
    def num_steps(self) -> int:
        """``T``."""
        return int(np.shape(self.rewards)[0])

    @property
    def num_envs(self) -> int:
        """``E``."""
        return int(np.shape(self.rewards)[1])

    def __len__(self) -> int:
        return self.num_steps * self.num_envs

    @classmethod
    def concat(cls, rollouts: list[Rollout]) -> Rollout:
        """Join rollouts along the env axis, skipping empty ones (``T = 0``).

        Raises:
            ValueError: no rollouts, or non-empty rollouts of different lengths ``T``.
        """
        if len(rollouts) == 0:
            raise ValueError("Rollout.concat needs at least one rollout")
        full = [r for r in rollouts if len(r)]
        if not full:
            return rollouts[0]
        if len(full) == 1:
            return full[0]
        lengths = sorted({r.num_steps for r in full})
        if len(lengths) > 1:
            raise ValueError(f"cannot join rollouts of different lengths T: {lengths}")
        return cls(*(np.concatenate([getattr(r, f) for r in full], axis=1) for f in _FIELDS))

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields by name (for checkpoints)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class RolloutAdder:
    """Cuts each actor's steps into rollouts of ``rollout_length`` steps of all its envs (the
    actor-side adder of the on-policy agents, ``Agent.build_adder``).

    :meth:`add` is called by :class:`apexrl.runtime.actor.Actor` once per agent step with the
    runtime's keywords; ``q_taken`` is ``V(s_t)`` and ``next_value`` ``V(s_{t+1})`` (the
    final observation's value for truncated envs; the actor computes it), ``extras["log_prob"]``
    the behaviour log-probability.

    Args:
        num_envs: ``E``. rollout_length: ``T`` (>= 1).

    Raises:
        ValueError: ``num_envs`` or ``rollout_length`` < 1.
    """

    def __init__(self, num_envs: int, rollout_length: int) -> None:
        if num_envs < 1 or rollout_length < 1:
            raise ValueError(f"num_envs={num_envs} and rollout_length={rollout_length} must be >= 1")
        self.num_envs, self.rollout_length = int(num_envs), int(rollout_length)
        self._steps: list[tuple[np.ndarray, ...]] = []
        self._empty: Rollout | None = None

    def add(self, obs: np.ndarray, actions: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray, truncated: np.ndarray, q_taken: np.ndarray | None = None,
            next_value: np.ndarray | None = None,
            extras: dict[str, np.ndarray] | None = None) -> tuple[Rollout, None]:
        """Record one step of every env; returns ``(rollout, None)``: a full rollout every
        ``rollout_length`` calls, otherwise an empty one (``T = 0``).

        Raises:
            ValueError: ``q_taken``, ``next_value`` or ``extras["log_prob"]`` missing (a policy that
                does not give values and log-probabilities cannot feed an on-policy learner), or
                arrays whose leading dimension is not ``E``.
        """
        del next_obs
        missing = [n for n, v in (("q_taken (V(s))", q_taken), ("next_value", next_value)) if v is None]
        if extras is None or "log_prob" not in extras:
            missing.append('extras["log_prob"]')
        if missing:
            raise ValueError(f"RolloutAdder.add needs {', '.join(missing)} from the policy")
        step = (np.asarray(obs), np.asarray(actions), np.asarray(reward, np.float32), np.asarray(terminated, bool),
                np.asarray(truncated, bool), np.asarray(q_taken, np.float32), np.asarray(next_value, np.float32),
                np.asarray(extras["log_prob"], np.float32))
        for name, a in zip(_FIELDS, step):
            if a.shape[:1] != (self.num_envs,):
                raise ValueError(f"RolloutAdder.add: {name} must have leading dimension E={self.num_envs}, "
                                 f"got shape {a.shape}")
        if self._empty is None:
            self._empty = Rollout(*(np.zeros((0, self.num_envs, *a.shape[1:]), a.dtype) for a in step))
        self._steps.append(step)
        if len(self._steps) < self.rollout_length:
            return self._empty, None
        steps, self._steps = self._steps, []
        return Rollout(*(np.stack(column) for column in zip(*steps))), None


class RolloutSample(NamedTuple):
    """What :meth:`RolloutQueue.sample` returns: ``keys`` ``[K]`` int64 (the popped rollouts'
    insertion numbers), ``data`` the popped rollouts joined along the env axis."""

    keys: np.ndarray
    data: Rollout


class RolloutQueue:
    """A bounded FIFO of rollouts: each rollout is handed to the learner once.

    Args:
        capacity: transitions (``T·E`` per rollout) it holds at most; :meth:`may_insert` is False
            from then on. A message that arrives while full is still kept (the loop stopped asking,
            so at most the messages of one poll overshoot).

    Raises:
        ValueError: ``capacity`` < 1.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"invalid replay_capacity={capacity} (--replay-capacity): must be >= 1")
        self.capacity = int(capacity)
        self._queue: deque[tuple[int, Rollout]] = deque()
        self._held = 0
        self._next_key = 0

    def __len__(self) -> int:
        return self._held

    @property
    def nbytes(self) -> int:
        """Bytes of the rollouts held."""
        return sum(a.nbytes for _, r in self._queue for a in r.arrays().values())

    def may_insert(self) -> bool:
        """Room for more experience (the training loop takes actor messages only then)."""
        return self._held < self.capacity

    def add(self, items: Rollout, priorities: np.ndarray | None = None) -> np.ndarray:
        """Append a rollout (an empty one is ignored); returns its key ``[1]`` int64 (``[0]`` if empty).

        Raises:
            TypeError: ``items`` is not a :class:`Rollout`.
        """
        del priorities
        if not isinstance(items, Rollout):
            raise TypeError(f"RolloutQueue.add takes a Rollout, got {type(items).__name__}")
        if len(items) == 0:
            return np.zeros(0, np.int64)
        key = self._next_key
        self._next_key += 1
        self._queue.append((key, items))
        self._held += len(items)
        return np.array([key], np.int64)

    def can_sample(self, batch_size: int) -> bool:
        """At least ``batch_size`` transitions are held."""
        return self._held >= batch_size and self._held > 0

    def sample(self, batch_size: int) -> RolloutSample:
        """Pop the oldest rollouts until they hold ``>= batch_size`` transitions and join them.

        Raises:
            ValueError: fewer than ``batch_size`` transitions held (check :meth:`can_sample`).
        """
        if not self.can_sample(batch_size):
            raise ValueError(f"the rollout queue holds {self._held} transitions, fewer than batch_size={batch_size}")
        keys, taken, count = [], [], 0
        while count < batch_size:
            key, rollout = self._queue.popleft()
            keys.append(key)
            taken.append(rollout)
            count += len(rollout)
        self._held -= count
        return RolloutSample(np.asarray(keys, np.int64), Rollout.concat(taken))

    def update_priorities(self, keys: np.ndarray, priorities: Any) -> None:
        """Nothing: rollouts are not prioritized (the runtime's interface)."""

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, meta)``: the held rollouts, field by field, as ``rollout.<i>.<field>``."""
        arrays = {f"rollout.{i}.{name}": a for i, (_, r) in enumerate(self._queue) for name, a in r.arrays().items()}
        meta = {"kind": "rollout_queue", "rollouts": len(self._queue), "keys": [k for k, _ in self._queue],
                "next_key": self._next_key, "capacity": self.capacity}
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`.

        Raises:
            ValueError: a state of another replay kind, or missing / malformed arrays.
        """
        if meta.get("kind") != "rollout_queue":
            raise ValueError(f"replay state of kind {meta.get('kind')!r} is not a rollout queue's")
        queue: deque[tuple[int, Rollout]] = deque()
        for i, key in enumerate(meta["keys"]):
            try:
                rollout = Rollout(*(np.asarray(arrays[f"rollout.{i}.{name}"]) for name in _FIELDS))
            except KeyError as exc:
                raise ValueError(f"replay state is missing {exc.args[0]}") from None
            queue.append((int(key), rollout))
        self._queue = queue
        self._held = sum(len(r) for _, r in queue)
        self._next_key = int(meta["next_key"])


def build_rollout_queue(config: Any, info: Any, seed: int | None = None) -> RolloutQueue:
    """``Agent.build_replay`` of the on-policy agents: a :class:`RolloutQueue` of
    ``config.replay.replay_capacity`` transitions (``info`` and ``seed`` are not needed)."""
    del info, seed
    return RolloutQueue(config.replay.replay_capacity)


__all__ = ["Rollout", "RolloutAdder", "RolloutQueue", "RolloutSample", "build_rollout_queue"]
