"""Data containers that flow between actors, replay and learner.

All containers are :class:`typing.NamedTuple` of NumPy arrays (batch-major). ``B`` is the
number of items in the container, ``obs_shape`` the environment's observation shape and
``action_shape`` its action shape (``()`` for ``Discrete``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Transitions(NamedTuple):
    """A batch of n-step transitions ``(s_t, a_t, R_t^(n), γ^k or 0, s_{t+k})``.

    Fields:
        obs: ``[B, *obs_shape]``, the observation's dtype (``float32`` for vectors, ``uint8``
            for pixels, ``bool``/``uint8`` for MinAtar): the state ``s_t`` the action was taken in.
        action: the action ``a_t``: ``[B]`` ``int64`` indices for a ``Discrete`` action space,
            or ``[B, *action_shape]`` ``float32`` for a ``Box`` one (e.g. ``[B, 1]`` for
            Pendulum-v1, ``[B, 6]`` for HalfCheetah-v5), as the actor's policy handed it to
            the adder.
        reward: ``[B]`` ``float32``: the truncated n-step return
            ``R_t^(n) = r_{t+1} + γ r_{t+2} + … + γ^{k-1} r_{t+k}`` with ``k <= n`` steps.
        discount: ``[B]`` ``float32``: ``γ^k`` multiplying the bootstrap value, or ``0`` when the
            episode terminated inside the window (a time-limit truncation keeps ``γ^k``).
        next_obs: ``[B, *obs_shape]``, same dtype as ``obs``: the bootstrap state ``s_{t+k}``.
    """

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    discount: np.ndarray
    next_obs: np.ndarray


class FrameTransitions(NamedTuple):
    """Frame-deduplicated n-step transitions for stacked pixel observations (Atari).

    An actor sends each 84×84 frame once; transitions refer to frames by
    ``(stream, step)``: ``stream`` identifies one environment instance of one actor and
    ``step`` counts that stream's frames (``int64``, monotonic, never reused). A stack of
    ``S`` frames for step ``j`` is frames ``j-S+1 … j`` of the same episode; frames before
    the episode's first frame are replaced by the first frame (Gymnasium's
    ``FrameStackObservation(padding_type="reset")``).

    Fields (``F`` new frames, ``B`` transitions):
        frames: ``[F, H, W]`` ``uint8``: the new frames, in step order within each stream.
        frame_stream: ``[F]`` ``int64``: stream id of each frame.
        frame_step: ``[F]`` ``int64``: step id of each frame within its stream.
        frame_first: ``[F]`` ``bool``: True for an episode's first (reset) frame.
        stream: ``[B]`` ``int64``: stream of each transition.
        obs_step: ``[B]`` ``int64``: step id of the newest frame of ``s_t``.
        next_step: ``[B]`` ``int64``: step id of the newest frame of ``s_{t+k}``.
        action, reward, discount: as in :class:`Transitions`.
    """

    frames: np.ndarray
    frame_stream: np.ndarray
    frame_step: np.ndarray
    frame_first: np.ndarray
    stream: np.ndarray
    obs_step: np.ndarray
    next_step: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    discount: np.ndarray


class SampledBatch(NamedTuple):
    """What :meth:`apexrl.replay.PrioritizedReplay.sample` returns.

    Fields:
        keys: ``[B]`` ``int64``: replay keys, passed back to ``update_priorities``.
        data: :class:`Transitions` with ``B`` items (stacks rebuilt for pixel storage).
        weights: ``[B]`` ``float32``: importance-sampling weights ``(N·P(i))^-β``
            divided by their maximum over the batch, in ``(0, 1]``.
        leaves: ``[B]`` ``float64`` sampling masses ``p_i^α`` of the items (for combining
            samples of several replay shards), or ``None``.
    """

    keys: np.ndarray
    data: Transitions
    weights: np.ndarray
    leaves: np.ndarray | None = None
