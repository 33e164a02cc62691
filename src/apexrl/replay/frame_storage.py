"""Pixel-frame storage behind :class:`apexrl.replay.PrioritizedReplay`: each frame stored once.

:class:`FrameStorage` has the storage interface of :mod:`apexrl.replay.storage` and rebuilds
frame stacks at read time (the trick of Dopamine's circular replay buffer, Castro et al. 2018).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apexrl.replay._common import (
    INVALID_GID,
    action_dtype_arg,
    as_slots,
    check_arrays,
    check_saved_actions,
    counter,
    field,
    positive_int,
    restore,
    searchsorted_segments,
    shape_arg,
)
from apexrl.types import FrameTransitions, Transitions

__all__ = ["FrameStorage"]


class FrameStorage:
    """Memory-efficient storage of stacked pixel observations, each frame stored once.

    Each ``H×W`` ``uint8`` frame is written once to a FIFO frame ring; a stack of
    ``stack_size`` frames is rebuilt at read time by following per-frame links to the
    previous frame of the same stream and episode. This is the idea of Dopamine's circular
    replay buffer (Castro et al. 2018), adapted to Ape-X (Horgan et al. 2018): frames arrive
    from many actor streams interleaved, in :class:`apexrl.types.FrameTransitions` messages.

    Design (``Fc = frame_capacity``, ``C = capacity``):

    * frame ring ``frames[Fc, H, W]`` ``uint8``; the ``g``-th frame ever written has global
      id ``gid = g`` (``int64``) and lives at ``gid % Fc``; frames ``gid >= frames_written -
      Fc`` are present. Per frame ``prev_off`` ``int32`` = ``gid - prev_gid`` where
      ``prev_gid`` is the previous frame of the same stream and episode, ``0`` for an
      episode's first frame (so a stack at an episode start repeats the first frame, exactly
      Gymnasium's ``FrameStackObservation(padding_type="reset")``). Gaps ``>= Fc`` are
      clipped to ``Fc`` (the target is gone anyway).
    * per stream a ring of ``stream_window`` entries mapping recent step ids to gids, so a
      transition may reference frames sent in the same message or an earlier one.
    * per slot: ``obs_gid`` ``int64``, ``next_off`` ``int32`` (``next_gid - obs_gid``),
      ``oldest_off`` ``int32`` (``obs_gid -`` the oldest frame used by either stack),
      ``action`` ``[*action_shape]`` ``action_dtype`` (``int64``: 8 bytes by default),
      ``reward`` and ``discount`` ``float32``: 32 bytes with the default action.
      ``valid(slot)`` is ``oldest_gid >= frames_written - Fc``.

    Memory is about ``Fc/C · (H·W + 4) + 32`` bytes per slot plus ``16 · stream_window``
    bytes per stream: ≈ 7,165 bytes at ``C = 100_000`` for 84×84 frames (one frame is 7,056).

    Args:
        capacity: number of transition slots ``C`` (``>= 1``).
        frame_shape: ``(H, W)`` of one frame.
        stack_size: frames per stacked observation ``S`` (``>= 1``).
        frame_capacity: frames kept ``Fc``; defaults to ``capacity + max(1024, capacity //
            100)``: the margin covers the frames before the oldest transition's stack and
            the frames sent ahead of pending n-step transitions; items whose frames were
            evicted become invalid. Must be ``>= stack_size`` and ``< 2**31``.
        stream_window: step ids remembered per stream (``>= 1``); references to older steps
            that are not in the same message are rejected (mask ``False``).
        action_shape: shape of one action, ``()`` (a ``Discrete`` index, the default) or
            ``(d,)`` (a ``Box`` vector).
        action_dtype: ``int64`` (the default) or e.g. ``float32``.

    Raises:
        ValueError: on invalid arguments, naming the argument.
    """

    def __init__(
        self,
        capacity: int,
        frame_shape: tuple[int, int] = (84, 84),
        stack_size: int = 4,
        frame_capacity: int | None = None,
        stream_window: int = 512,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
    ) -> None:
        self.capacity = positive_int("capacity", capacity)
        try:
            fshape = tuple(int(d) for d in frame_shape)
        except TypeError as e:
            raise ValueError(f"frame_shape must be a tuple (H, W), got {frame_shape!r}") from e
        if len(fshape) != 2 or min(fshape) < 1:
            raise ValueError(f"frame_shape must be (H, W) with H, W >= 1, got {frame_shape!r}")
        self.frame_shape: tuple[int, int] = (fshape[0], fshape[1])
        self.stack_size = positive_int("stack_size", stack_size)
        if frame_capacity is None:
            frame_capacity = self.capacity + max(1024, self.capacity // 100)
        fc = positive_int("frame_capacity", frame_capacity)
        if fc < self.stack_size or fc >= 2**31:
            raise ValueError(
                f"frame_capacity must be in [stack_size={self.stack_size}, 2**31), got {fc}"
            )
        self.frame_capacity = fc
        self.stream_window = positive_int("stream_window", stream_window)
        self.action_shape = shape_arg("action_shape", action_shape)
        self.action_dtype = action_dtype_arg(action_dtype)

        self.frames = np.zeros((fc, *self.frame_shape), dtype=np.uint8)
        self._prev_off = np.zeros(fc, dtype=np.int32)
        self._frames_written = 0

        c = self.capacity
        self._obs_gid = np.full(c, INVALID_GID, dtype=np.int64)
        self._next_off = np.zeros(c, dtype=np.int32)
        self._oldest_off = np.zeros(c, dtype=np.int32)
        self._action = np.zeros((c, *self.action_shape), dtype=self.action_dtype)
        self._reward = np.zeros(c, dtype=np.float32)
        self._discount = np.zeros(c, dtype=np.float32)

        # Streams: sorted ids -> row; per row a ring of recent (step, gid) and the last frame.
        self._stream_ids = np.zeros(0, dtype=np.int64)
        self._stream_rows = np.zeros(0, dtype=np.int64)
        self._num_streams = 0
        self._ring_step = np.full((0, self.stream_window), -1, dtype=np.int64)
        self._ring_gid = np.zeros((0, self.stream_window), dtype=np.int64)
        self._last_step = np.zeros(0, dtype=np.int64)
        self._last_gid = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ properties
    @property
    def frames_written(self) -> int:
        """Total frames ever written (the next frame's gid)."""
        return self._frames_written

    @property
    def num_streams(self) -> int:
        """Number of distinct streams seen."""
        return self._num_streams

    @property
    def nbytes(self) -> int:
        """Bytes actually allocated: frame ring, per-frame links, per-slot fields, stream rings."""
        arrays = (
            self.frames, self._prev_off, self._obs_gid, self._next_off, self._oldest_off,
            self._action, self._reward, self._discount, self._stream_ids, self._stream_rows,
            self._ring_step, self._ring_gid, self._last_step, self._last_gid,
        )
        return int(sum(a.nbytes for a in arrays))

    # ------------------------------------------------------------------ streams
    def _lookup_rows(self, streams: np.ndarray) -> np.ndarray:
        """Row of each stream id, ``-1`` for unknown streams (vectorised)."""
        if self._stream_ids.size == 0:
            return np.full(streams.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self._stream_ids, streams)
        pos_c = np.minimum(pos, self._stream_ids.size - 1)
        found = self._stream_ids[pos_c] == streams
        return np.where(found, self._stream_rows[pos_c], -1)

    def _add_streams(self, new_ids: np.ndarray) -> None:
        """Register new (unique, unknown) stream ids; grows the per-stream arrays."""
        k = new_ids.size
        if k == 0:
            return
        rows = np.arange(self._num_streams, self._num_streams + k, dtype=np.int64)
        need = self._num_streams + k
        if need > self._ring_step.shape[0]:
            new_cap = max(need, 2 * self._ring_step.shape[0], 4)
            grow = new_cap - self._ring_step.shape[0]
            w = self.stream_window
            self._ring_step = np.concatenate([self._ring_step, np.full((grow, w), -1, np.int64)])
            self._ring_gid = np.concatenate([self._ring_gid, np.zeros((grow, w), np.int64)])
            self._last_step = np.concatenate([self._last_step, np.zeros(grow, np.int64)])
            self._last_gid = np.concatenate([self._last_gid, np.zeros(grow, np.int64)])
        self._last_step[rows] = np.iinfo(np.int64).min
        self._last_gid[rows] = INVALID_GID
        ids = np.concatenate([self._stream_ids, new_ids])
        all_rows = np.concatenate([self._stream_rows, rows])
        order = np.argsort(ids, kind="stable")
        self._stream_ids = ids[order]
        self._stream_rows = all_rows[order]
        self._num_streams = need

    # ------------------------------------------------------------------ write
    def write(self, slots: np.ndarray, items: FrameTransitions) -> np.ndarray:
        """Write a message's frames (in order), then resolve and store its transitions.

        Every frame of the message is written, whatever happens to the transitions.
        Transition ``j`` references the frames ``(stream[j], obs_step[j])`` and
        ``(stream[j], next_step[j])``, which may be in this message or an earlier one.

        Args:
            slots: ``[B]`` distinct integer slots in ``[0, capacity)``.
            items: :class:`FrameTransitions` with ``F`` frames ``[F, H, W]`` ``uint8`` and
                ``B`` transitions.

        Returns:
            ``[B]`` ``bool`` mask: ``False`` for a transition that references a frame older
            than the stream window (and not in this message) or a frame already evicted
            from the frame ring. Rejected slots become invalid.

        Raises:
            TypeError: if ``items`` is not a :class:`FrameTransitions`.
            ValueError: on shape mismatches; on a stream's frames whose steps are not
                strictly increasing; on a non-first frame of a stream never seen before;
                on a reference to a step the stream never sent (naming stream and step).
                Nothing is modified when an error is raised.
        """
        if not isinstance(items, FrameTransitions):
            raise TypeError(f"FrameStorage stores FrameTransitions, got {type(items).__name__}")
        s = as_slots(slots, self.capacity)
        n = s.shape[0]
        frames = np.asarray(items.frames)
        if frames.ndim != 3 or frames.shape[1:] != self.frame_shape:
            raise ValueError(
                f"items.frames must have shape (F, {self.frame_shape[0]}, {self.frame_shape[1]}), "
                f"got {frames.shape}"
            )
        nf = frames.shape[0]
        if frames.dtype != np.uint8:
            raise ValueError(f"items.frames must be uint8, got {frames.dtype}")
        f_stream = field(items, "frame_stream", nf).astype(np.int64, copy=False)
        f_step = field(items, "frame_step", nf).astype(np.int64, copy=False)
        f_first = field(items, "frame_first", nf).astype(bool, copy=False)
        t_stream = field(items, "stream", n).astype(np.int64, copy=False)
        obs_step = field(items, "obs_step", n).astype(np.int64, copy=False)
        next_step = field(items, "next_step", n).astype(np.int64, copy=False)
        action = field(items, "action", n, self.action_shape)
        reward = field(items, "reward", n)
        discount = field(items, "discount", n)

        fc = self.frame_capacity
        w = self.stream_window
        base = self._frames_written
        f_gid = base + np.arange(nf, dtype=np.int64)

        # ---- validate the frames and compute their prev links (nothing mutated yet)
        f_rows = self._lookup_rows(f_stream)
        order = np.argsort(f_stream, kind="stable")  # groups by stream, keeps step order
        so_stream = f_stream[order]
        so_step = f_step[order]
        head = np.ones(nf, dtype=bool)
        if nf:
            head[1:] = so_stream[1:] != so_stream[:-1]
            bad = ~head[1:] & (so_step[1:] <= so_step[:-1])
            if bad.any():
                i = int(np.flatnonzero(bad)[0]) + 1
                raise ValueError(
                    f"frames of stream {so_stream[i]} must have strictly increasing steps, "
                    f"got step {so_step[i]} after {so_step[i - 1]}"
                )
        so_rows = f_rows[order]
        known_head = head & (so_rows >= 0)
        if known_head.any():
            last = self._last_step[so_rows[known_head]]
            bad = so_step[known_head] <= last
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"stream {so_stream[known_head][i]} sent step {so_step[known_head][i]} "
                    f"after step {last[i]}: steps must be strictly increasing"
                )
        so_first = f_first[order]
        orphan = head & (so_rows < 0) & ~so_first
        if orphan.any():
            i = int(np.flatnonzero(orphan)[0])
            raise ValueError(
                f"stream {so_stream[i]} step {so_step[i]}: the first frame of a new stream "
                f"must have frame_first=True"
            )
        so_gid = f_gid[order]
        so_prev = np.empty(nf, dtype=np.int64)
        if nf:
            so_prev[1:] = so_gid[:-1]
            heads_known = head & (so_rows >= 0)
            so_prev[heads_known] = self._last_gid[so_rows[heads_known]]
            so_prev[so_first] = so_gid[so_first]
        prev_off = np.minimum(so_gid - so_prev, fc).astype(np.int32)

        # ---- resolve transition references (pre-message ring state, plus the message)
        t_rows = self._lookup_rows(t_stream)
        obs_gid, obs_ok = self._resolve(t_stream, t_rows, obs_step, so_stream, so_step, so_gid)
        next_gid, next_ok = self._resolve(t_stream, t_rows, next_step, so_stream, so_step, so_gid)

        # ---- mutate: register streams, write frames, links and stream rings
        new_streams = np.unique(so_stream[head & (so_rows < 0)])
        self._add_streams(new_streams)
        if new_streams.size:
            so_rows = self._lookup_rows(so_stream)
        if nf:
            keep = so_gid >= base + nf - fc  # frames that survive this very message
            ring_slot = so_gid[keep] % fc
            self.frames[ring_slot] = frames[order[keep]]
            self._prev_off[ring_slot] = prev_off[keep]
            tail = np.ones(nf, dtype=bool)
            tail[:-1] = head[1:]
            t_rows_f = so_rows[tail]
            self._last_step[t_rows_f] = so_step[tail]
            self._last_gid[t_rows_f] = so_gid[tail]
            # ring entries: only the last `w` steps of each stream (distinct residues)
            last_of_frame = self._last_step[so_rows]
            rk = so_step > last_of_frame - w
            self._ring_step[so_rows[rk], so_step[rk] % w] = so_step[rk]
            self._ring_gid[so_rows[rk], so_step[rk] % w] = so_gid[rk]
        self._frames_written = base + nf

        # ---- transitions: oldest frame of both stacks, validity, store
        ok = obs_ok & next_ok
        oldest = np.minimum(self._stack_oldest(np.where(ok, obs_gid, 0)),
                            self._stack_oldest(np.where(ok, next_gid, 0)))
        lo = self._frames_written - fc
        ok &= (obs_gid >= lo) & (next_gid >= lo) & (oldest >= lo)
        s_ok = s[ok]
        self._obs_gid[s_ok] = obs_gid[ok]
        self._next_off[s_ok] = (next_gid[ok] - obs_gid[ok]).astype(np.int32)
        self._oldest_off[s_ok] = (obs_gid[ok] - oldest[ok]).astype(np.int32)
        self._action[s_ok] = action[ok]
        self._reward[s_ok] = reward[ok]
        self._discount[s_ok] = discount[ok]
        s_bad = s[~ok]
        self._obs_gid[s_bad] = INVALID_GID
        self._oldest_off[s_bad] = 0
        return ok

    def _resolve(
        self,
        t_stream: np.ndarray,
        t_rows: np.ndarray,
        steps: np.ndarray,
        so_stream: np.ndarray,
        so_step: np.ndarray,
        so_gid: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map ``(stream, step)`` to gids: the message first, then the stream rings.

        Returns ``(gid [B] int64, ok [B] bool)``; ``ok`` is ``False`` for steps older than
        the stream window. Raises ``ValueError`` for a step the stream never sent.
        """
        n = steps.shape[0]
        gid = np.zeros(n, dtype=np.int64)
        ok = np.zeros(n, dtype=bool)
        if n == 0:
            return gid, ok
        in_msg = np.zeros(n, dtype=bool)
        if so_stream.size:
            # so_* are sorted by (stream, step): steps are strictly increasing per stream
            ks, kt, kg = so_stream, so_step, so_gid
            lo = np.searchsorted(ks, t_stream, side="left")
            hi = np.searchsorted(ks, t_stream, side="right")
            pos = searchsorted_segments(kt, lo, hi, steps)
            pos_c = np.minimum(pos, ks.size - 1)
            in_msg = (pos < hi) & (kt[pos_c] == steps) & (ks[pos_c] == t_stream)
            gid[in_msg] = kg[pos_c[in_msg]]
            ok |= in_msg
        rest = ~in_msg
        unknown = rest & (t_rows < 0)
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            raise ValueError(
                f"transition references stream {t_stream[i]} step {steps[i]}, "
                f"which that stream never sent (unknown stream)"
            )
        r = t_rows[rest]
        st = steps[rest]
        last = self._last_step[r]
        w = self.stream_window
        ring_i = np.mod(st, w)
        hit = self._ring_step[r, ring_i] == st
        in_window = (st <= last) & (last - st < w)
        never = (st > last) | (in_window & ~hit)
        if never.any():
            i = int(np.flatnonzero(never)[0])
            raise ValueError(
                f"transition references stream {t_stream[rest][i]} step {st[i]}, "
                f"which that stream never sent"
            )
        good = in_window & hit
        idx = np.flatnonzero(rest)
        gid[idx[good]] = self._ring_gid[r[good], ring_i[good]]
        ok[idx[good]] = True
        return gid, ok

    def _stack_oldest(self, gid: np.ndarray) -> np.ndarray:
        """Gid of the oldest frame of the stack whose newest frame is ``gid`` (vectorised).

        Links read from evicted slots are garbage but non-negative, so the result is then
        ``<=`` an evicted gid and the caller's validity test fails, as it should.
        """
        g = gid.copy()
        fc = self.frame_capacity
        for _ in range(self.stack_size - 1):
            g -= self._prev_off[g % fc]
        return g

    # ------------------------------------------------------------------ read
    _SLOT_FIELDS = ("_obs_gid", "_next_off", "_oldest_off", "_action", "_reward", "_discount")
    _STREAM_FIELDS = ("_stream_ids", "_stream_rows", "_ring_step", "_ring_gid", "_last_step", "_last_gid")

    def state_dict(self, filled: int) -> dict[str, np.ndarray]:
        """Frames written so far, the first ``filled`` slots and the stream tables, for
        checkpoints (views where possible; counters as 0-d ``int64`` arrays).

        Args:
            filled: slots in use, ``min(items added, capacity)`` (slots fill from 0).
        """
        nf = min(self._frames_written, self.frame_capacity)
        state = {"frames": self.frames[:nf], "prev_off": self._prev_off[:nf],
                 "frames_written": np.asarray(self._frames_written, dtype=np.int64),
                 "num_streams": np.asarray(self._num_streams, dtype=np.int64)}
        for name in self._SLOT_FIELDS:
            state[name[1:]] = getattr(self, name)[:filled]
        for name in self._STREAM_FIELDS:
            state[name[1:]] = getattr(self, name)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> int:
        """Restore a :meth:`state_dict`; returns the number of filled slots.

        Raises:
            ValueError: a missing array or one that does not fit this storage (frame shape,
                capacity, stream window), checked before anything is copied; for actions of
                another shape or dtype than ``action_shape``/``action_dtype``, naming both.
        """
        names = ("frames", "prev_off", "frames_written", "num_streams") + tuple(
            n[1:] for n in self._SLOT_FIELDS + self._STREAM_FIELDS)
        check_arrays(state, names)
        check_saved_actions(state["action"], self.action_shape, self.action_dtype)
        written = counter(state, "frames_written")
        nf = min(written, self.frame_capacity)
        filled = int(np.shape(state["action"])[0])
        restore("frames", self.frames, state["frames"], nf)
        restore("prev_off", self._prev_off, state["prev_off"], nf)
        for name in self._SLOT_FIELDS:
            restore(name[1:], getattr(self, name), state[name[1:]], filled)
        num_streams = counter(state, "num_streams")
        rows = int(np.shape(state["ring_step"])[0])
        if np.shape(state["ring_step"])[1:] != (self.stream_window,) or num_streams > rows or \
                np.shape(state["stream_ids"]) != (num_streams,):
            raise ValueError(f"replay state stream tables do not fit stream_window={self.stream_window}")
        self.frames[:nf] = state["frames"]
        self._prev_off[:nf] = state["prev_off"]
        self._frames_written = written
        for name in self._SLOT_FIELDS:
            getattr(self, name)[:filled] = state[name[1:]]
        for name in self._STREAM_FIELDS:
            setattr(self, name, np.array(state[name[1:]], dtype=np.int64))
        self._num_streams = num_streams
        return filled

    def valid(self, slots: np.ndarray) -> np.ndarray:
        """``[B]`` ``bool``: the slot holds a transition all of whose frames are still present."""
        s = np.asarray(slots, dtype=np.int64)
        oldest = self._obs_gid[s] - self._oldest_off[s]
        return oldest >= self._frames_written - self.frame_capacity

    def _stacks(self, newest: np.ndarray) -> np.ndarray:
        """``[B, S, H, W]`` stacks ending at gids ``newest``: S-1 link hops, one gather."""
        b = newest.shape[0]
        sz = self.stack_size
        fc = self.frame_capacity
        ring = np.empty((b, sz), dtype=np.int64)
        g = newest.copy()
        ring[:, sz - 1] = g % fc
        for k in range(sz - 2, -1, -1):
            g -= self._prev_off[ring[:, k + 1]]
            ring[:, k] = g % fc
        out = np.take(self.frames, ring.reshape(-1), axis=0)
        return out.reshape(b, sz, *self.frame_shape)

    def read(self, slots: np.ndarray) -> Transitions:
        """Gather slots and rebuild their frame stacks.

        Stacks are rebuilt by following the ``prev`` links (``stack_size - 1`` vectorised
        gathers; no per-item Python loop). Only meaningful for slots where :meth:`valid` is
        ``True``; invalid slots give garbage frames.

        Args:
            slots: ``[B]`` integer slots in ``[0, capacity)``.

        Returns:
            :class:`Transitions` with ``obs``/``next_obs`` ``[B, stack_size, H, W]`` ``uint8``,
            ``action`` ``[B, *action_shape]`` ``action_dtype``, ``reward``/``discount``
            ``float32``.
        """
        s = np.asarray(slots, dtype=np.int64)
        obs_gid = np.maximum(self._obs_gid[s], 0)
        next_gid = obs_gid + self._next_off[s]
        return Transitions(
            obs=self._stacks(obs_gid),
            action=self._action[s],
            reward=self._reward[s],
            discount=self._discount[s],
            next_obs=self._stacks(next_gid),
        )

    def __repr__(self) -> str:
        return (
            f"FrameStorage(capacity={self.capacity}, frame_shape={self.frame_shape}, "
            f"stack_size={self.stack_size}, frame_capacity={self.frame_capacity}, "
            f"action_shape={self.action_shape}, action_dtype={self.action_dtype})"
        )

