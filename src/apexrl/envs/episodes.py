"""Reading the batched ``info`` of a Gymnasium same-step-autoreset vector env.

:func:`final_observations` gives the true last observations of the episodes that ended at a
step; :func:`completed_episodes` their ``RecordEpisodeStatistics`` (raw return, length). Both
are re-exported by :mod:`apexrl.envs.make` and :mod:`apexrl.envs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["completed_episodes", "final_observations"]


def final_observations(
    next_obs: np.ndarray, info: dict[str, Any], done: np.ndarray
) -> np.ndarray:
    """The true ``s_{t+1}`` batch of a same-step-autoreset vector env.

    Args:
        next_obs: ``[N, *obs_shape]``: the observations returned by ``step``; rows of
            sub-envs whose episode ended hold the *next* episode's first observation.
        info: the ``info`` returned by the same ``step``; ``info["final_obs"]`` is an object
            array of length ``N`` whose entries are the last observations of the ended
            episodes, ``info["_final_obs"]`` the ``[N]`` bool mask of those entries.
        done: ``[N]`` bool: ``terminated | truncated`` of that step.

    Returns:
        A new ``[N, *obs_shape]`` array, same dtype as ``next_obs``, where rows with
        ``done`` are replaced by the final observation; ``next_obs`` is not modified.

    Raises:
        ValueError: if ``done`` has the wrong length, or a done row has no final
            observation in ``info`` (e.g. the vector env is not in ``SAME_STEP`` mode).
    """
    done = np.asarray(done, dtype=bool)
    if done.shape != (len(next_obs),):
        raise ValueError(
            f"final_observations: done must have shape ({len(next_obs)},) to match next_obs; "
            f"got {done.shape}"
        )
    out = np.array(next_obs, copy=True)
    rows = np.flatnonzero(done)
    if rows.size == 0:
        return out
    final = info.get("final_obs")
    mask = info.get("_final_obs")
    if final is None or mask is None:
        raise ValueError(
            f"final_observations: sub-envs {rows.tolist()} are done but info has no "
            "'final_obs'/'_final_obs' (is the vector env in AutoresetMode.SAME_STEP?); "
            f"info keys: {sorted(info)}"
        )
    mask = np.asarray(mask, dtype=bool)
    missing = [int(i) for i in rows if not mask[i]]
    if missing:
        raise ValueError(
            f"final_observations: sub-envs {missing} are done but info['_final_obs'] is False "
            "for them"
        )
    for i in rows:
        out[i] = final[i]
    return out


def _episodes_from(
    info: dict[str, Any], found: dict[int, tuple[int, float, int]]
) -> None:
    episode = info.get("episode")
    if not isinstance(episode, dict):
        return
    mask = info.get("_episode")
    if mask is None:
        mask = episode.get("_r")
    if mask is None:
        return
    returns = np.asarray(episode["r"])
    lengths = np.asarray(episode["l"])
    for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
        found[int(i)] = (int(i), float(returns[i]), int(lengths[i]))


def completed_episodes(info: dict[str, Any]) -> list[tuple[int, float, int]]:
    """Episodes that ended at this step of a :func:`make_vector_env` vector env.

    In ``SAME_STEP`` mode (Gymnasium 1.x) the statistics of ``RecordEpisodeStatistics``
    arrive as ``info["final_info"]["episode"] = {"r": [N] float64, "l": [N] int,
    "t": [N] float, "_r": mask, ...}`` with the mask ``info["final_info"]["_episode"]``;
    in the other autoreset modes as ``info["episode"]`` / ``info["_episode"]``. Both are
    read. For Atari training envs an episode here is a whole game (the statistics are
    recorded below the life-loss wrapper), and the return is the raw, unclipped score.

    Args:
        info: the ``info`` dict returned by the vector env's ``step``.

    Returns:
        ``[(env_index, raw_return, length_in_agent_steps), ...]`` sorted by env index;
        empty if no episode ended.
    """
    found: dict[int, tuple[int, float, int]] = {}
    _episodes_from(info, found)
    final_info = info.get("final_info")
    if isinstance(final_info, dict):
        _episodes_from(final_info, found)
    return [found[i] for i in sorted(found)]
