"""Seeds for every environment and exploration RNG of a run, derived in one place.

Every backend (``local``, ``mp``, ``ray``) and every agent gets its seeds from
:func:`derive_seeds`, keyed by ``(run seed, role, generation, actor, env)``:

* ``generation`` counts the starts of one actor position over the whole run:
  ``resumes · GENERATIONS_PER_RESUME + restarts in this session`` (:func:`first_generation`),
  so a restarted or resumed actor never replays the episodes of an earlier start, and a fresh
  run (resume 0, restart 0) is deterministic;
* every environment gets its **own** seed in ``[0, 2**32)``, the range every environment
  family accepts (MinAtar seeds a legacy ``numpy.random.RandomState``, which refuses anything
  larger; Gymnasium and ALE hash the seed with ``SeedSequence``);
* the actor's exploration RNG is a ``numpy.random.Generator`` on a
  ``numpy.random.SeedSequence`` whose ``spawn_key`` is ``(role, generation, actor)``.

Why the env seeds are not raw ``SeedSequence`` output: 32-bit values drawn at random collide
by the birthday bound (about 30 equal pairs among the 512,000 seeds of 1,000 resumes × 64
actors × 8 envs). Instead the env with *dense index* ``k = (d · num_actors + actor)
· num_envs + env`` gets ``P(k)``, where ``d = resumes · DENSE_RESTARTS + restarts`` for the
first :data:`DENSE_RESTARTS` starts of an actor in a session (later restarts of a flaky actor,
which may go on for as long as the run lasts, get hashed seeds: see below), where ``P`` is a bijection of ``[0, 2**32)`` (an add-key,
xorshift-multiply mixer, as in MurmurHash3's finaliser) keyed by
``SeedSequence(run_seed, spawn_key=(role,))``. Distinct indices therefore give distinct
seeds, guaranteed, as long as ``k < 2**32`` (e.g. 16,000 resumes of 256 actors × 1 env) and
``num_actors``/``num_envs`` stay the same over the run; an index beyond ``2**32`` falls back
to a ``SeedSequence`` hash (still a valid seed; collisions then have probability ``2**-32``
per pair).

Replay stream ids (:func:`stream_offset`) are keyed the same way but packed into an ``int64``
with fixed field widths, so they stay distinct even when ``--actors`` or ``--envs-per-actor``
change on a resume.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["DENSE_RESTARTS", "GENERATIONS_PER_RESUME", "MAX_ACTORS", "MAX_ENVS_PER_ACTOR", "ROLES", "ActorSeeds", "derive_seeds",
           "first_generation", "stream_offset"]

GENERATIONS_PER_RESUME = 2**24
"""Generations reserved per session: an actor may be restarted 16.7 million times in one session
(then the run stops and a resume continues; :class:`apexrl.runtime.actor.ActorRestarts`), and a
run may be resumed 2,047 times (stream ids need ``generation < 2**35``)."""

DENSE_RESTARTS = 1024
"""Starts of an actor per session whose env seeds come from the collision-free dense index."""

MAX_ACTORS = 2**16
"""Actor indices a stream id can hold."""

MAX_ENVS_PER_ACTOR = 2**12
"""Environments per actor a stream id can hold."""

ROLES = {"actor": 0, "eval": 1}
"""Independent seed families: training actors and evaluation."""

_MASK = (1 << 32) - 1
_MAX_GENERATION = 2**63 // (MAX_ACTORS * MAX_ENVS_PER_ACTOR)  # 2**35: stream ids fit an int64


@dataclass(frozen=True)
class ActorSeeds:
    """The seeds of one actor start.

    ``env_seeds``: one ``int`` in ``[0, 2**32)`` per environment (env ``i`` gets
    ``env_seeds[i]``); ``spawn_key``: the ``(role, generation, actor)`` key of the exploration
    RNG's ``SeedSequence`` under ``run_seed``."""

    env_seeds: tuple[int, ...]
    run_seed: int
    spawn_key: tuple[int, int, int]

    @property
    def sequence(self) -> np.random.SeedSequence:
        """``numpy.random.SeedSequence(run_seed, spawn_key=spawn_key)``."""
        return np.random.SeedSequence(self.run_seed, spawn_key=self.spawn_key)

    def rng(self) -> np.random.Generator:
        """A fresh ``numpy.random.Generator`` (PCG64) on :attr:`sequence`."""
        return np.random.default_rng(self.sequence)


@functools.lru_cache(maxsize=64)
def _key(run_seed: int, role: int) -> tuple[int, ...]:
    """Four 32-bit words keying the env-seed bijection of one run seed and role."""
    return tuple(int(w) for w in np.random.SeedSequence(run_seed, spawn_key=(role,)).generate_state(4, np.uint32))


def _nonneg(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _permute32(index: int, key: tuple[int, ...]) -> int:
    """A bijection of ``[0, 2**32)`` keyed by four 32-bit words (every step is invertible mod 2**32:
    adding or xor-ing a constant, ``x ^= x >> k``, multiplying by an odd constant)."""
    x = (index + key[0]) & _MASK
    for mult, word in ((0x7FEB352D, key[1]), (0x846CA68B, key[2])):
        x ^= x >> 16
        x = (x * mult) & _MASK
        x ^= word
    x ^= x >> 15
    x = (x * 0x9E3779B1) & _MASK
    x ^= x >> 16
    return (x + key[3]) & _MASK


def derive_seeds(run_seed: int, generation: int, actor: int, num_envs: int, num_actors: int = 1,
                 role: str = "actor") -> ActorSeeds:
    """The environment seeds and exploration seed sequence of one actor start.

    Args:
        run_seed: the run's ``--seed`` (``>= 0``).
        generation: the actor's generation (:func:`first_generation` + restarts; ``>= 0``).
        actor: the actor's index in ``[0, num_actors)``.
        num_envs: environments of this actor (``>= 1``); env ``i`` gets ``env_seeds[i]``.
        num_actors: actors of the run (``>= 1``); makes the dense index of the module docstring.
        role: ``"actor"`` for training, ``"eval"`` for evaluation (independent seed families).

    Returns:
        :class:`ActorSeeds` with ``num_envs`` ints in ``[0, 2**32)``, distinct across
        generations, actors and envs of one run (see the module docstring for the bound).

    Raises:
        ValueError: a negative or non-integer argument, ``actor >= num_actors``, ``num_envs``
            or ``num_actors < 1``, an unknown ``role``.
    """
    run_seed, generation, actor = _nonneg("seed", run_seed), _nonneg("generation", generation), _nonneg("actor", actor)
    num_envs, num_actors = _nonneg("num_envs", num_envs), _nonneg("num_actors", num_actors)
    if num_envs < 1 or num_actors < 1 or actor >= num_actors:
        raise ValueError(f"need num_envs >= 1 and 0 <= actor < num_actors, got num_envs={num_envs}, "
                         f"actor={actor}, num_actors={num_actors}")
    if role not in ROLES:
        raise ValueError(f"unknown seed role {role!r}; one of {', '.join(ROLES)}")
    key = _key(run_seed, ROLES[role])
    resumes, restarts = divmod(generation, GENERATIONS_PER_RESUME)
    first = ((resumes * DENSE_RESTARTS + restarts) * num_actors + actor) * num_envs
    if restarts < DENSE_RESTARTS and first + num_envs <= 1 << 32:
        env_seeds = tuple(_permute32(k, key) for k in range(first, first + num_envs))
    else:  # beyond the dense range: hashed (valid, distinct with high probability)
        env_seeds = tuple(int(np.random.SeedSequence(run_seed, spawn_key=(ROLES[role], generation, actor, e))
                              .generate_state(1, np.uint32)[0]) for e in range(num_envs))
    return ActorSeeds(env_seeds=env_seeds, run_seed=run_seed, spawn_key=(ROLES[role], generation, actor))


def first_generation(resumes: int) -> int:
    """The first actor generation of a session after ``resumes`` resumes
    (``resumes · GENERATIONS_PER_RESUME``); restarts in the session add 1 each.

    Raises:
        ValueError: ``resumes < 0``.
    """
    return _nonneg("resumes", resumes) * GENERATIONS_PER_RESUME


def stream_offset(generation: int, actor: int, num_envs: int) -> int:
    """The replay stream id of env 0 of an actor start (env ``i`` is ``offset + i``):
    ``(generation · MAX_ACTORS + actor) · MAX_ENVS_PER_ACTOR``, an ``int64``.

    Streams of different generations or actors never share an id, whatever ``num_actors`` and
    ``num_envs`` were in earlier sessions.

    Raises:
        ValueError: ``actor >= MAX_ACTORS``, ``num_envs > MAX_ENVS_PER_ACTOR`` or
            ``generation >= 2**35`` (the id would not fit an ``int64``).
    """
    generation, actor, num_envs = _nonneg("generation", generation), _nonneg("actor", actor), _nonneg(
        "num_envs", num_envs)
    if actor >= MAX_ACTORS or num_envs > MAX_ENVS_PER_ACTOR or generation >= _MAX_GENERATION:
        raise ValueError(f"stream ids hold actor < {MAX_ACTORS}, num_envs <= {MAX_ENVS_PER_ACTOR} and "
                         f"generation < {_MAX_GENERATION}; got actor={actor}, num_envs={num_envs}, "
                         f"generation={generation}")
    return (generation * MAX_ACTORS + actor) * MAX_ENVS_PER_ACTOR
