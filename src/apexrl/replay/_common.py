"""Argument and checkpoint checks shared by the slot storages (:mod:`apexrl.replay.storage`,
:mod:`apexrl.replay.frame_storage`). Private: NumPy only, no other apexrl import."""

from __future__ import annotations

from typing import Any

import numpy as np

INVALID_GID = np.int64(-(2**62))
"""Marks a frame-storage slot that holds no valid transition."""


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int >= 1``.

    Raises:
        ValueError: not a positive integer (bools refused), naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def shape_arg(name: str, value: Any) -> tuple[int, ...]:
    """``value`` as a tuple of non-negative ints (``()`` allowed).

    Raises:
        ValueError: not a sequence of ints, or a negative entry, naming ``name``.
    """
    try:
        shape = tuple(int(d) for d in value)
    except TypeError as e:
        raise ValueError(f"{name} must be a tuple of ints, got {value!r}") from e
    if any(d < 0 for d in shape):
        raise ValueError(f"{name} must have non-negative entries, got {value!r}")
    return shape


def dtype_arg(name: str, value: Any) -> np.dtype:
    """``np.dtype(value)``.

    Raises:
        ValueError: not a NumPy dtype, naming ``name``.
    """
    try:
        return np.dtype(value)
    except TypeError as e:
        raise ValueError(f"{name} must be a NumPy dtype, got {value!r}") from e


def action_dtype_arg(value: Any) -> np.dtype:
    """An action dtype: integer (``Discrete`` indices) or floating (``Box`` vectors).

    Raises:
        ValueError: not a NumPy integer or floating dtype, naming ``action_dtype``.
    """
    dtype = dtype_arg("action_dtype", value)
    if dtype.kind not in "iuf":
        raise ValueError(f"action_dtype must be an integer or floating NumPy dtype, got {dtype}")
    return dtype


def check_saved_actions(saved: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Check that a checkpoint's ``action`` array has this storage's action shape and dtype.

    Raises:
        ValueError: naming both the checkpoint's and this storage's action shape and dtype.
    """
    a = np.asarray(saved)
    if a.ndim < 1 or a.shape[1:] != shape or a.dtype != dtype:
        got = a.shape[1:] if a.ndim else a.shape
        raise ValueError(
            f"replay state 'action': the checkpoint holds actions of shape {got} {a.dtype}, this "
            f"replay stores action_shape={shape} action_dtype={dtype} (was the checkpoint written "
            "for an env with another action space, or by another algorithm?)"
        )


def restore(name: str, target: np.ndarray, saved: Any, rows: int | None = None) -> None:
    """Check that ``saved`` fits ``target[:rows]`` (dtype, row shape, row count).

    Raises:
        ValueError: ``saved`` is not an array of ``target``'s dtype and row shape, or has more
            rows than ``target``.
    """
    a = np.asarray(saved)
    n = target.shape[0] if rows is None else rows
    if a.dtype != target.dtype or a.shape[1:] != target.shape[1:] or a.shape[0] != n or n > target.shape[0]:
        raise ValueError(f"replay state {name!r}: expected {n} rows of {target.shape[1:]} {target.dtype}, "
                         f"got shape {a.shape} {a.dtype}")


def counter(state: dict[str, Any], name: str) -> int:
    """A counter saved as a one-element integer array: 0-d as :meth:`FrameStorage.state_dict` makes
    it, or shape ``(1,)`` as it comes back from a checkpoint (``np.ascontiguousarray`` makes 0-d
    arrays 1-d before ``np.save``).

    Raises:
        ValueError: not exactly one integer ``>= 0``.
    """
    a = np.asarray(state[name])
    if a.size != 1 or a.ndim > 1 or not np.issubdtype(a.dtype, np.integer) or int(a.reshape(-1)[0]) < 0:
        raise ValueError(f"replay state {name!r}: expected one integer >= 0, got shape {a.shape} {a.dtype}")
    return int(a.reshape(-1)[0])


def check_arrays(state: dict[str, Any], names: tuple[str, ...]) -> None:
    """Raises ValueError naming the arrays of ``names`` missing from ``state``."""
    missing = [n for n in names if n not in state]
    if missing:
        raise ValueError(f"replay state is missing {', '.join(missing)}")


def as_slots(slots: np.ndarray, capacity: int) -> np.ndarray:
    """``slots`` as a 1-D ``int64`` array in ``[0, capacity)``.

    Raises:
        ValueError: not 1-D, not integers, or out of range.
    """
    s = np.asarray(slots)
    if s.ndim != 1:
        raise ValueError(f"slots must be 1-D, got shape {s.shape}")
    if s.size and not np.issubdtype(s.dtype, np.integer):
        raise ValueError(f"slots must be integers, got dtype {s.dtype}")
    s = s.astype(np.int64, copy=False)
    if s.size and (s.min() < 0 or s.max() >= capacity):
        raise ValueError(f"slots must lie in [0, {capacity}), got range [{s.min()}, {s.max()}]")
    return s


def field(items: Any, name: str, n: int, tail: tuple[int, ...] = ()) -> np.ndarray:
    """``items.<name>`` as an array of shape ``(n, *tail)``.

    Raises:
        ValueError: another shape, naming ``items.<name>``.
    """
    a = np.asarray(getattr(items, name))
    if a.shape != (n, *tail):
        raise ValueError(f"items.{name} must have shape {(n, *tail)}, got {a.shape}")
    return a


def searchsorted_segments(
    values: np.ndarray, lo: np.ndarray, hi: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Per query ``q``: ``lo + searchsorted(values[lo:hi], q, "left")`` (vectorised).

    Works because ``values`` is sorted within each segment: a binary search done on all
    queries at once (``log2(max segment)`` NumPy steps).
    """
    lo = lo.copy()
    hi = hi.copy()
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        mid_c = np.minimum(mid, values.size - 1)
        go_right = active & (values[mid_c] < queries)
        go_left = active & ~go_right
        lo = np.where(go_right, mid + 1, lo)
        hi = np.where(go_left, mid, hi)
