"""Exploration schedules over the actors of an Ape-X-style run (Horgan et al. 2018, §4.1;
Kapturowski et al. 2019 for one ε per environment instance).

Ape-X gives actor ``i`` of ``N`` the rate ε_i = ε^(1 + α·i/(N−1)) (ε = 0.4, α = 7, N = 360 in
the paper). apexrl's actors step several environments each; by default every *environment
instance* gets its own rate, ``i`` running over all ``M = N·E`` instances of the run (as R2D2 and
SEED RL do), so that two actors with four environments each still spread eight rates from 0.4
to 0.4⁸ instead of giving four environments 0.4 and four 0.4⁸.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def apex_epsilon(index: int, num_actors: int, epsilon: float = 0.4, alpha: float = 7.0) -> float:
    """Per-actor exploration rate ε_i = ε^(1 + α·i/(N−1)) (Horgan et al. 2018, §4.1).

    With one actor (N = 1) the actor gets ε itself.

    Raises:
        ValueError: ``index`` outside ``[0, num_actors)``.
    """
    if not 0 <= index < num_actors:
        raise ValueError(f"actor index {index} outside [0, {num_actors})")
    if num_actors == 1:
        return float(epsilon)
    return float(epsilon ** (1.0 + alpha * index / (num_actors - 1)))


def environment_epsilons(actor: int, num_actors: int, num_envs: int, epsilon: float = 0.4, alpha: float = 7.0,
                         per_env: bool = True) -> np.ndarray:
    """The rates ``[E]`` float64 of actor ``actor``'s ``E = num_envs`` environments.

    ``per_env``: environment ``e`` of actor ``a`` is instance ``i = a·E + e`` of ``M = N·E`` and gets
    ε^(1 + α·i/(M−1)) (:func:`apex_epsilon` over the instances). A run of one actor keeps one
    rate for all its environments (single-actor DQN's ε). ``per_env=False``: every environment
    of the actor gets the actor's rate (the Ape-X paper's per-actor wording).

    Raises:
        ValueError: ``actor`` outside ``[0, num_actors)`` or ``num_envs < 1``.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if not 0 <= actor < num_actors:
        raise ValueError(f"actor index {actor} outside [0, {num_actors})")
    if not per_env or num_actors == 1:
        return np.full(num_envs, apex_epsilon(actor, num_actors, epsilon, alpha))
    m = num_actors * num_envs
    return np.array([apex_epsilon(actor * num_envs + e, m, epsilon, alpha) for e in range(num_envs)])


class EpsilonSchedule:
    """The ε-greedy rates ``[E]`` float64 of one actor's environments over its frames: from
    ``epsilon_start`` down to each environment's final rate (:func:`environment_epsilons`) linearly
    over ``epsilon_decay_frames`` emulator frames (none: the final rates from the start).

    Args:
        config: the run's configuration; reads ``run.num_actors`` and the ``actor`` group's
            ``envs_per_actor``, ``epsilon``, ``epsilon_alpha``, ``epsilon_per_env``,
            ``epsilon_start``, ``epsilon_decay_frames`` (:class:`apexrl.config.EpsilonGreedyConfig`).
        index: the actor's index.
    """

    def __init__(self, config: Any, index: int) -> None:
        acfg = config.actor
        self.final = environment_epsilons(index, config.run.num_actors, acfg.envs_per_actor, acfg.epsilon,
                                          acfg.epsilon_alpha, acfg.epsilon_per_env)
        self.start = acfg.epsilon_start
        self.decay_frames = acfg.epsilon_decay_frames

    def at(self, frames: int) -> np.ndarray:
        """The rates ``[E]`` after ``frames`` emulator frames of this actor."""
        if self.decay_frames <= 0:
            return self.final
        left = max(0.0, 1.0 - frames / self.decay_frames)
        return self.final + (self.start - self.final) * left


def epsilon_greedy(q: np.ndarray, epsilon: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
    """Actions ``[E]`` int64: ``argmax_a q`` (``q`` ``[E, A]``), replaced by a uniform action in
    environment ``e`` with probability ``epsilon[e]`` (or one rate for all)."""
    actions = q.argmax(axis=1).astype(np.int64)
    if np.max(epsilon) > 0.0:
        explore = rng.random(len(actions)) < epsilon
        if explore.any():
            actions[explore] = rng.integers(0, q.shape[1], size=int(explore.sum()))
    return actions
