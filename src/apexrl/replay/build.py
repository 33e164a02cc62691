"""The replay a :class:`~apexrl.config.ReplayConfig` describes for an environment, with the
memory check made before anything is allocated."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from apexrl.replay.prioritized import PrioritizedReplay
from apexrl.replay.storage import ArrayStorage, FrameStorage


def action_layout(info: Any) -> tuple[tuple[int, ...], np.dtype]:
    """``(action_shape, action_dtype)`` stored per transition: ``((), int64)`` for a ``Discrete``
    action space, ``(shape, float32)`` for a ``Box``."""
    shape = tuple(getattr(info, "action_shape", ()) or ())
    return (shape, np.dtype(np.float32)) if shape else ((), np.dtype(np.int64))


def replay_bytes_needed(config: Any, info: Any) -> int:
    """Bytes the replay :func:`build_replay` makes will hold once full (storage + sum tree)."""
    c = config.replay_capacity
    tree = 16 * (1 << (c - 1).bit_length())
    shape, dtype = action_layout(info)
    action = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.kind == "atari":
        h, w = info.obs_shape[1:]
        frames = c + max(1024, c // 100)
        return frames * (h * w + 4) + (24 + action) * c + tree
    obs = int(np.prod(info.obs_shape)) * np.dtype(info.obs_dtype).itemsize
    return c * (2 * obs + 8 + action) + tree


def available_memory_bytes() -> int | None:
    """Memory available to new allocations (``MemAvailable`` of ``/proc/meminfo``; free physical
    pages elsewhere), or ``None`` when the system does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def build_replay(config: Any, info: Any, seed: int | None = None) -> PrioritizedReplay:
    """The replay a :class:`~apexrl.config.ReplayConfig` describes: frame-deduplicated storage for
    Atari, array storage otherwise, actions stored as :func:`action_layout` says;
    ``prioritized=False`` is the same sampler with α = 0 (equal mass, uniform sampling) and β = 0
    (unit importance weights).

    Raises:
        ValueError: the full replay would need more memory than is available (the message gives
            both in bytes and names ``--replay-capacity``); checked before allocating.
    """
    need, available = replay_bytes_needed(config, info), available_memory_bytes()
    if available is not None and need > available:
        raise ValueError(
            f"invalid replay_capacity={config.replay_capacity} (--replay-capacity): the replay needs "
            f"{need:,} bytes ({need / 2**30:.2f} GiB) but only {available:,} bytes "
            f"({available / 2**30:.2f} GiB) of memory are available")
    shape, dtype = action_layout(info)
    actions: dict[str, Any] = {} if shape == () else {"action_shape": shape, "action_dtype": dtype}
    if info.kind == "atari":
        storage: Any = FrameStorage(config.replay_capacity, frame_shape=tuple(info.obs_shape[1:]),
                                    stack_size=int(info.obs_shape[0]), **actions)
    else:
        storage = ArrayStorage(config.replay_capacity, tuple(info.obs_shape), info.obs_dtype, **actions)
    return PrioritizedReplay(storage, priority_exponent=config.priority_exponent if config.prioritized else 0.0,
                             importance_sampling_exponent=config.importance_sampling_exponent
                             if config.prioritized else 0.0,
                             priority_epsilon=config.priority_epsilon, seed=seed)


def agent_replay(agent: Any, config: Any, info: Any, seed: int | None = None) -> Any:
    """The replay of a run of ``agent`` (:class:`apexrl.agents.base.Agent`): the agent's own
    (:attr:`~apexrl.agents.base.Agent.build_replay`, given the whole ``config``) or, when it has
    none, :func:`build_replay` of ``config.replay``. Every backend builds its replay (or each Ray
    replay shard) here.

    Raises:
        ValueError: as :func:`build_replay` (or the agent's builder): the replay would not fit in
            memory.
    """
    if agent.build_replay is not None:
        return agent.build_replay(config, info, seed)
    return build_replay(config.replay, info, seed=seed)
