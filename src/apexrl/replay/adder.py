"""Actor-side n-step transition builder (Ape-X actor, Horgan et al. 2018, Algorithm 1 l. 7-10).

The actor steps a vector of ``E`` environments; :class:`NStepAdder` keeps the last ``n``
steps of each environment (its *stream*) and emits n-step transitions
``(s_t, a_t, R_t^(n), γ^k or 0, s_{t+k})`` as soon as they are complete (``a_t`` a
``Discrete`` index or a ``Box`` vector), with their
initial priorities ``|R + γ^k V(s_{t+k}) − q(s_t, a_t)|`` computed from the actor's own
Q-values (Algorithm 1, line 10). Everything is vectorised over environments; the only
Python loops run over the ``n`` window positions.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import numpy as np

from apexrl.replay._common import action_dtype_arg, shape_arg
from apexrl.types import FrameTransitions, Transitions

__all__ = ["NStepAdder", "concat_items", "num_items"]

Items = Union[Transitions, FrameTransitions]


def num_items(items: Items) -> int:
    """Number of transitions ``B`` in a :class:`Transitions` or :class:`FrameTransitions`."""
    if isinstance(items, FrameTransitions):
        return int(np.shape(items.stream)[0])
    if isinstance(items, Transitions):
        return int(np.shape(items.action)[0])
    if hasattr(items, "__len__") and hasattr(type(items), "concat"):  # an agent's own container
        return len(items)
    raise TypeError(f"expected Transitions, FrameTransitions or a container with __len__ and concat, "
                    f"got {type(items).__name__}")


def take_items(items: Any, rows: np.ndarray) -> Any:
    """The items at ``rows`` ``[K]`` of a sampled batch's data: field by field for a NamedTuple of
    arrays (:class:`Transitions`), by its ``take(rows)`` for an agent's own container.

    Raises:
        TypeError: a container that is neither.
    """
    if isinstance(items, tuple):
        return type(items)(*(np.take(f, rows, axis=0) for f in items))
    if hasattr(items, "take"):
        return items.take(rows)
    raise TypeError(f"expected a NamedTuple of arrays or a container with take(rows), got {type(items).__name__}")


def concat_items(items: Sequence[Items]) -> Items:
    """Concatenate containers field-wise (an actor's local buffer into one message).

    Args:
        items: non-empty sequence of :class:`Transitions`, or of :class:`FrameTransitions`
            (frames keep their order, so each stream's frames stay in step order), or of an
            agent's own container type (one that defines ``__len__`` and a classmethod ``concat``).

    Returns:
        One container of the same type, each field ``np.concatenate``-d along axis 0 (an agent's
        container: its ``concat``).

    Raises:
        ValueError: if ``items`` is empty.
        TypeError: if the containers are not all of the same supported type.
    """
    if len(items) == 0:
        raise ValueError("items must contain at least one container")
    kind = type(items[0])
    if any(type(x) is not kind for x in items):
        raise TypeError(f"cannot concatenate {kind.__name__} with "
                        f"{next(type(x).__name__ for x in items if type(x) is not kind)}")
    if kind not in (Transitions, FrameTransitions):
        if hasattr(kind, "concat") and hasattr(kind, "__len__"):  # an agent's own container
            return items[0] if len(items) == 1 else kind.concat(list(items))
        raise TypeError(f"expected Transitions, FrameTransitions or a container with __len__ and concat, "
                        f"got {kind.__name__}")
    if len(items) == 1:
        return items[0]
    return kind(*(np.concatenate(fields, axis=0) for fields in zip(*items)))


class NStepAdder:
    """Builds n-step transitions for ``E`` environment streams stepping in lockstep.

    Per stream the last ``n`` steps are pending. Each :meth:`add` call pushes step ``t``
    and emits, per stream:

    * no termination and ``n`` steps pending: the oldest, with
      ``R = Σ_{i<n} γ^i r_{t+i+1}``, ``discount = γ^n``, ``next_obs = s_{t+n}``;
    * ``terminated``: every pending step, with its truncated return and ``discount = 0``;
    * ``truncated`` (time limit) and not terminated: every pending step, with the return over
      its ``k`` remaining steps, ``discount = γ^k`` and ``next_obs`` = the final observation
      (bootstrapping still happens).

    After a termination or truncation the stream's window is cleared and the next call's
    ``obs`` for it must be the new episode's first observation. Items are emitted grouped by
    environment, oldest first.

    With ``frame_stack=True`` (Atari, observations ``[S, H, W]`` ``uint8`` whose newest frame
    is ``obs[-1]``) the adder returns :class:`FrameTransitions` for a
    :class:`~apexrl.replay.FrameStorage`: stream ``e`` is ``stream_offset + e``; each frame
    gets a step id (``int64``, counting from 0 per stream, never reused); a new episode's
    first observation sends its newest frame with ``frame_first=True`` and every call sends
    ``next_obs[-1]``. Each frame is sent exactly once, in the same call as (or before) any
    transition referencing it. The adder relies on the caller passing, for a continuing
    episode, ``obs`` equal to the previous call's ``next_obs`` (it is not re-read).

    Args:
        num_envs: ``E >= 1``.
        n_step: ``n >= 1``.
        gamma: discount ``γ`` in ``[0, 1]``.
        frame_stack: emit :class:`FrameTransitions` (see above).
        stream_offset: first stream id (``>= 0``), e.g. ``actor_id * num_envs``, so streams
            of different actors do not collide.
        action_shape: shape of one action: ``()`` for a ``Discrete`` index (the default),
            ``(d,)`` for a ``Box`` action vector.
        action_dtype: dtype the actions are stored and emitted in: ``int64`` (the default)
            for ``Discrete``, ``float32`` for ``Box``. Actions are carried unchanged (cast
            to this dtype), never summed or discounted.

    Raises:
        ValueError: on invalid arguments, naming the argument.
    """

    def __init__(
        self,
        num_envs: int,
        n_step: int,
        gamma: float,
        frame_stack: bool = False,
        stream_offset: int = 0,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
    ) -> None:
        for name, v, lo in (("num_envs", num_envs, 1), ("n_step", n_step, 1), ("stream_offset", stream_offset, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        try:
            g = float(gamma)
        except (TypeError, ValueError) as e:
            raise ValueError(f"gamma must be a float in [0, 1], got {gamma!r}") from e
        if not 0.0 <= g <= 1.0:
            raise ValueError(f"gamma must be a float in [0, 1], got {gamma!r}")
        self.num_envs = int(num_envs)
        self.n_step = int(n_step)
        self.gamma = g
        self.action_shape = shape_arg("action_shape", action_shape)
        self.action_dtype = action_dtype_arg(action_dtype)
        self.frame_stack = bool(frame_stack)
        self.stream_offset = int(stream_offset)
        e, n = self.num_envs, self.n_step
        self._powers = g ** np.arange(n + 1, dtype=np.float64)
        self._pos = np.zeros(e, dtype=np.int64)  # steps pushed this episode
        self._pending = np.zeros(e, dtype=np.int64)
        self._action = np.zeros((e, n, *self.action_shape), dtype=self.action_dtype)
        self._reward = np.zeros((e, n), dtype=np.float64)
        self._q = np.zeros((e, n), dtype=np.float64)
        self._obs: np.ndarray | None = None  # [E, n, *obs_shape] (plain mode)
        # frame mode
        self._obs_step = np.zeros((e, n), dtype=np.int64)
        self._next_step_id = np.zeros(e, dtype=np.int64)  # next unused step id per stream
        self._cur_step = np.full(e, -1, dtype=np.int64)  # step id of the current obs frame
        self._new_episode = np.ones(e, dtype=bool)
        self._streams = self.stream_offset + np.arange(e, dtype=np.int64)

    def reset(self) -> None:
        """Drop every pending step (e.g. after the actor restarts its environments).

        Step ids keep increasing; the next call starts a new episode on every stream.
        """
        self._pos[:] = 0
        self._pending[:] = 0
        self._new_episode[:] = True

    def _vec(self, name: str, x: np.ndarray, dtype: type | np.dtype, tail: tuple[int, ...] = ()) -> np.ndarray:
        a = np.asarray(x)
        if a.shape != (self.num_envs, *tail):
            raise ValueError(f"{name} must have shape {(self.num_envs, *tail)}, got {a.shape}")
        return a.astype(dtype, copy=False)

    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        q_taken: np.ndarray | None = None,
        next_value: np.ndarray | None = None,
    ) -> tuple[Items, np.ndarray | None]:
        """Push one vector-env step and return the transitions it completes.

        Args:
            obs: ``[E, *obs_shape]`` ``s_t`` (``[E, S, H, W]`` ``uint8`` with ``frame_stack``).
            action: ``[E, *action_shape]`` ``a_t`` (``[E]`` integers by default), cast to
                ``action_dtype``.
            reward: ``[E]`` float ``r_{t+1}``.
            next_obs: ``[E, *obs_shape]`` the true ``s_{t+1}`` (the final observation when
                the episode ended at this step, not the auto-reset one).
            terminated: ``[E]`` bool, episode ended in a terminal state (no bootstrap).
                ``terminated & truncated`` counts as terminated.
            truncated: ``[E]`` bool, episode cut by a time limit (bootstrap from ``next_obs``).
            q_taken: ``[E]`` float ``q(s_t, a_t)`` from the actor's network, or ``None``.
                Give it on every call (or on none): it is stored per pending step and used
                when that step's transition is emitted.
            next_value: ``[E]`` float bootstrap value ``V(s_{t+1})``, e.g.
                ``max_a q(s_{t+1}, a)``, or ``None``.

        Returns:
            ``(items, priorities)``: the ``B >= 0`` completed transitions
            (:class:`Transitions`, or :class:`FrameTransitions` carrying this step's new
            frames even when ``B = 0``), and ``[B]`` ``float32`` initial priorities
            ``|R + discount · next_value − q_taken|`` when both ``q_taken`` and
            ``next_value`` are given, else ``None``.

        Raises:
            ValueError: on shape mismatches (``action`` not ``[E, *action_shape]``), or if only
                one of ``q_taken``/``next_value`` is given (nothing is modified then).
        """
        e, n = self.num_envs, self.n_step
        obs = np.asarray(obs)
        next_obs = np.asarray(next_obs)
        if obs.ndim < 1 or obs.shape[0] != e:
            raise ValueError(f"obs must have shape ({e}, *obs_shape), got {obs.shape}")
        if next_obs.shape != obs.shape:
            raise ValueError(f"next_obs must have the shape of obs {obs.shape}, got {next_obs.shape}")
        if self.frame_stack and (obs.ndim != 4 or obs.dtype != np.uint8):
            raise ValueError(
                f"with frame_stack=True obs must be [E, S, H, W] uint8, got {obs.shape} {obs.dtype}"
            )
        if self._obs is not None and not self.frame_stack and obs.shape[1:] != self._obs.shape[2:]:
            raise ValueError(f"obs shape changed from {self._obs.shape[2:]} to {obs.shape[1:]}")
        action = self._vec("action", action, self.action_dtype, self.action_shape)
        reward = self._vec("reward", reward, np.float64)
        terminated = self._vec("terminated", terminated, bool)
        truncated = self._vec("truncated", truncated, bool)
        if (q_taken is None) != (next_value is None):
            raise ValueError("q_taken and next_value must be given together (or both None)")
        with_prio = q_taken is not None
        if with_prio:
            q_taken = self._vec("q_taken", q_taken, np.float64)
            next_value = self._vec("next_value", next_value, np.float64)

        envs = np.arange(e)
        idx = self._pos % n
        # ---- push step t
        if self.frame_stack:
            new_ep = self._new_episode
            first_env = np.flatnonzero(new_ep)
            first_ids = self._next_step_id[first_env]
            self._next_step_id[first_env] += 1
            self._cur_step[first_env] = first_ids
            next_ids = self._next_step_id.copy()
            self._next_step_id += 1
            self._obs_step[envs, idx] = self._cur_step
            frames = np.concatenate([obs[first_env, -1], next_obs[:, -1]], axis=0)
            frame_stream = np.concatenate([self._streams[first_env], self._streams])
            frame_step = np.concatenate([first_ids, next_ids])
            frame_first = np.zeros(frames.shape[0], dtype=bool)
            frame_first[: first_env.size] = True
            self._cur_step = next_ids
            self._new_episode = np.zeros(e, dtype=bool)
        else:
            if self._obs is None:
                self._obs = np.zeros((e, n, *obs.shape[1:]), dtype=obs.dtype)
            self._obs[envs, idx] = obs
        self._action[envs, idx] = action
        self._reward[envs, idx] = reward
        if with_prio:
            self._q[envs, idx] = q_taken
        self._pos += 1
        self._pending += 1
        pending = self._pending
        pos = self._pos

        # ---- which window positions are emitted: grid [E, n], j = age rank (0 = oldest)
        done = terminated | truncated
        j = np.arange(n)
        emit = np.where(
            done[:, None], j[None, :] < pending[:, None], (j[None, :] == 0) & (pending[:, None] == n)
        )
        # rewards in chronological order (zeros beyond `pending`), discounted suffix sums
        start = pos - pending  # absolute step of the oldest pending item
        ring = (start[:, None] + j[None, :]) % n  # [E, n]
        chrono = np.where(j[None, :] < pending[:, None], self._reward[envs[:, None], ring], 0.0)
        ret = np.empty_like(chrono)
        acc = np.zeros(e)
        for i in range(n - 1, -1, -1):
            acc = chrono[:, i] + self.gamma * acc
            ret[:, i] = acc
        # For a non-done stream the only emitted item is the oldest (j=0) of a full window,
        # whose suffix sum covers exactly n rewards.
        k = pending[:, None] - j[None, :]  # steps remaining
        disc = np.where(terminated[:, None], 0.0, self._powers[np.clip(k, 0, n)])

        ee, jj = np.nonzero(emit)  # row-major: grouped by env, oldest first
        rr = ring[ee, jj]
        reward_out = ret[ee, jj].astype(np.float32)
        disc_out = disc[ee, jj].astype(np.float32)
        action_out = self._action[ee, rr].copy()
        prio = None
        if with_prio:
            target = ret[ee, jj] + disc[ee, jj] * next_value[ee]
            prio = np.abs(target - self._q[ee, rr]).astype(np.float32)

        if self.frame_stack:
            items: Items = FrameTransitions(
                frames=np.ascontiguousarray(frames),
                frame_stream=frame_stream,
                frame_step=frame_step,
                frame_first=frame_first,
                stream=self._streams[ee],
                obs_step=self._obs_step[ee, rr],
                next_step=next_ids[ee],
                action=action_out,
                reward=reward_out,
                discount=disc_out,
            )
        else:
            obs_buf: np.ndarray = self._obs  # type: ignore[assignment]  # set above
            items = Transitions(
                obs=obs_buf[ee, rr],
                action=action_out,
                reward=reward_out,
                discount=disc_out,
                next_obs=next_obs[ee],  # fancy indexing copies
            )

        # ---- bookkeeping
        n_emit = emit.sum(axis=1)
        self._pending = pending - n_emit
        self._pending[done] = 0
        self._pos[done] = 0
        if self.frame_stack:
            self._new_episode = done.copy()
        return items, prio
