"""Making environments for actors and evaluators.

One entry point, :func:`make_env`, turns any Gymnasium id into an env with the
preprocessing its family needs (Atari: Mnih et al. 2015; MinAtar: Young & Tian 2019;
anything else: float32 observations), episode statistics on raw rewards and run-time
validation (:class:`~apexrl.envs.checks.ValidatedEnv`). :func:`make_vector_env` batches
several of them; :func:`final_observations` and :func:`completed_episodes` read the
batched ``info`` of Gymnasium's same-step autoreset.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec, load_env_creator
from gymnasium.utils import RecordConstructorArgs
from gymnasium.wrappers import RecordEpisodeStatistics, TransformObservation

from apexrl.envs.atari import (
    DQN_FRAME_SKIP,
    DQN_FRAME_STACK,
    DQN_MAX_EPISODE_FRAMES,
    DQN_NOOP_MAX,
    DQN_REPEAT_ACTION_PROBABILITY,
    DQN_SCREEN_SIZE,
    wrap_atari,
)
from apexrl.envs.checks import ValidatedEnv
from apexrl.envs.minatar_wrappers import MinAtarSeeding, minatar_channels_first
from apexrl.envs.spaces import compact_observations, unsupported_space_message

__all__ = [
    "EnvKind",
    "EnvSpecInfo",
    "check_env_id",
    "completed_episodes",
    "env_info",
    "env_kind",
    "final_observations",
    "make_env",
    "make_vector_env",
    "register_env_families",
    "require_discrete",
]

EnvKind = Literal["atari", "minatar", "vector"]

_MINATAR_PROBE_ID = "MinAtar/Breakout-v1"


def register_env_families() -> None:
    """Register the ALE (``ALE/*``) and MinAtar (``MinAtar/*``) ids with Gymnasium.

    Idempotent and cheap after the first call. Importing ``ale_py`` registers the ALE ids;
    ``minatar.gym.register_envs()`` is called only if the MinAtar ids are missing (calling
    it twice would make Gymnasium warn about overriding ids).
    """
    import ale_py

    gym.register_envs(ale_py)
    if _MINATAR_PROBE_ID not in gym.registry:
        import minatar.gym

        minatar.gym.register_envs()


def _split_module(env_id: str) -> tuple[str | None, str]:
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a str; got {type(env_id).__name__} {env_id!r}")
    if env_id.count(":") > 1:
        raise ValueError(
            f"Invalid environment id {env_id!r}: expected 'EnvId' or 'module:EnvId' "
            "with at most one ':'"
        )
    if ":" in env_id:
        module, name = env_id.split(":")
        if not module or not name:
            raise ValueError(
                f"Invalid environment id {env_id!r}: expected 'module:EnvId' with both "
                "parts non-empty"
            )
        return module, name
    return None, env_id


def _import_env_module(module: str, env_id: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - any import failure is reported the same way
        raise ValueError(
            f"Cannot import module {module!r} named in environment id {env_id!r} "
            f"(the 'module:EnvId' form imports the module so that it registers EnvId): "
            f"{type(e).__name__}: {e}"
        ) from e


def _close_ids(name: str, n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, list(gym.registry), n=n, cutoff=0.6)


def _resolve_spec(env_id: str) -> EnvSpec:
    """Register families, import the module of a ``module:EnvId`` id and find its spec."""
    register_env_families()
    module, name = _split_module(env_id)
    if module is not None:
        _import_env_module(module, env_id)
    try:
        return gym.spec(name)
    except gym.error.Error as e:
        message = str(e)
        close = [c for c in _close_ids(name) if c != name]
        if close:
            listed = ", ".join(f"`{c}`" for c in close)
            if "Did you mean" in message:
                message += f" Close registered ids: {listed}."
            else:
                message += f" Did you mean: {listed}?"
        raise ValueError(
            f"Unknown environment id {env_id!r}: {message} "
            "(`gymnasium.pprint_registry()` lists all registered ids.)"
        ) from e


def _kind_of_spec(spec: EnvSpec) -> EnvKind:
    entry = spec.entry_point
    if callable(entry):
        entry = f"{getattr(entry, '__module__', '')}:{getattr(entry, '__qualname__', '')}"
    entry = entry or ""
    if spec.namespace == "ALE" or entry.startswith("ale_py"):
        return "atari"
    if spec.namespace == "MinAtar" or entry.startswith("minatar"):
        return "minatar"
    return "vector"


def check_env_id(env_id: str) -> None:
    """Fail fast, before any process starts, if ``env_id`` cannot be made.

    Registers the ALE and MinAtar ids first, imports ``module`` for a ``module:EnvId`` id,
    looks the id up in Gymnasium's registry and loads its entry point (which catches a
    missing optional dependency such as Box2D). Nothing is instantiated.

    Args:
        env_id: a Gymnasium id (``"CartPole-v1"``, ``"ALE/Pong-v5"``,
            ``"MinAtar/Breakout-v1"``) or ``"module:EnvId"``.

    Raises:
        ValueError: for an unknown or deprecated id, with Gymnasium's own explanation
            (including its "Did you mean: ...?" suggestion of close names) plus the
            closest registered full ids; for a module that cannot be imported, naming the
            module; for an entry point that cannot be loaded, naming it.
        TypeError: if ``env_id`` is not a string.
    """
    spec = _resolve_spec(env_id)
    if isinstance(spec.entry_point, str):
        try:
            load_env_creator(spec.entry_point)
        except Exception as e:  # noqa: BLE001
            raise ValueError(
                f"Environment id {env_id!r} is registered but its entry point "
                f"{spec.entry_point!r} cannot be loaded: {type(e).__name__}: {e}"
            ) from e
    elif spec.entry_point is None:
        raise ValueError(f"Environment id {env_id!r} is registered without an entry point")


def env_kind(env_id: str) -> EnvKind:
    """The preprocessing family of ``env_id``.

    Returns:
        ``"atari"`` for ALE ids (namespace ``ALE`` or entry point in ``ale_py``),
        ``"minatar"`` for MinAtar ids, ``"vector"`` for everything else.

    Raises:
        ValueError: for an unknown id (see :func:`check_env_id`).
    """
    return _kind_of_spec(_resolve_spec(env_id))


class _SeedOnFirstReset(gym.Wrapper, RecordConstructorArgs):
    """Use ``seed`` for the first ``reset`` that is not given one; seed the action space."""

    def __init__(self, env: gym.Env, seed: int | None) -> None:
        RecordConstructorArgs.__init__(self, seed=seed)
        gym.Wrapper.__init__(self, env)
        self._seed = seed
        self._first = True
        if seed is not None:
            env.action_space.seed(seed)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if self._first:
            self._first = False
            if seed is None:
                seed = self._seed
        return self.env.reset(seed=seed, options=options)


def _as_float32(obs: Any) -> np.ndarray:
    """The observation as a ``float32`` array (module-level, so ``env.spec`` pickles)."""
    return np.asarray(obs, dtype=np.float32)


def _to_float32(env: gym.Env, env_id: str) -> gym.Env:
    space = env.observation_space
    if isinstance(space, spaces.Box):
        if space.dtype == np.float32 or space.dtype == np.uint8:
            return env
        # Not DtypeObservation: it builds the float32 Box from float64 bounds, which makes
        # Gymnasium warn "precision lowered" on every env creation.
        box = spaces.Box(
            low=space.low.astype(np.float32),
            high=space.high.astype(np.float32),
            shape=space.shape,
            dtype=np.float32,
        )
        return TransformObservation(env, _as_float32, box)
    if isinstance(space, (spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)):
        return compact_observations(env)  # the network one-hot encodes (apexrl.nets.encoders)
    raise ValueError(unsupported_space_message(env_id, space))


def make_env(
    env_id: str,
    seed: int | None = None,
    *,
    training: bool = True,
    context: str = "",
    **kwargs: Any,
) -> gym.Env:
    """Make one preprocessed, validated environment.

    Every env is built as ``gymnasium.make(env_id, disable_env_checker=True, **kwargs)``
    (apexrl's :class:`~apexrl.envs.checks.ValidatedEnv` replaces Gymnasium's one-shot
    passive checker), checked right there ("base env" layer), then family-specific
    wrappers, then checked again as the agent sees it ("wrapped env" layer). Every wrapper
    records its constructor arguments (:class:`gymnasium.utils.RecordConstructorArgs`), so
    ``gymnasium.make(env.spec)``, also from a pickled spec, rebuilds the same wrapper stack
    with the same ``seed``. Gymnasium's :func:`gymnasium.utils.env_checker.check_env`
    passes on the result for each family below (tested on ``CartPole-v1``,
    ``MinAtar/Breakout-v1`` and ``ALE/Pong-v5``; an ``Anything else`` env passes only if
    the env itself does).

    ``ALE/*`` ids (and other ``ale_py`` ids), Mnih et al. (2015) DQN protocol:

    * made with ``frameskip=1``, ``repeat_action_probability`` (default ``0.0``, the
      DQN/Ape-X protocol; ALE ``v5``'s own default is ``0.25`` sticky actions, the
      Machado et al. 2018 protocol) and ``max_num_frames_per_episode=108_000``: ALE
      reports reaching the cap as ``truncated=True`` (not ``terminated``), i.e. at most
      27,000 agent steps per game, no-op start frames included;
    * ``AtariPreprocessing`` (up to 30 no-op emulator frames at reset, 4 emulator frames
      per agent step max-pooled over the last two, 84x84 grayscale);
    * ``RecordEpisodeStatistics``: ``info["episode"] = {"r": raw game score, "l": game
      length in agent steps, "t": seconds}`` at true game over / truncation;
    * only if ``training``: :class:`~apexrl.envs.atari.EpisodicLifeEnv` (a life loss
      returns ``terminated=True``; the game restarts only at game over) and
      ``ClipReward(-1, 1)``. Evaluation never clips rewards nor ends on a life loss;
    * ``FrameStackObservation(4, padding_type="reset")``: observations ``(4, 84, 84)``
      ``uint8``, the first frame of an episode repeated.

    Atari-only keyword arguments (removed from ``kwargs`` before ``gymnasium.make``):
    ``repeat_action_probability=0.0``, ``noop_max=30``, ``frame_skip=4`` (emulator frames
    per agent step), ``screen_size=84``, ``frame_stack=4``. ``max_num_frames_per_episode``
    (emulator frames, default 108,000) is passed to ALE. Passing ALE's ``frameskip`` is an
    error (skipping is done by ``AtariPreprocessing``).

    ``MinAtar/*`` ids (Young & Tian 2019): MinAtar's own defaults (sticky actions with
    probability 0.1, difficulty ramping; pass ``sticky_action_prob=...`` etc. to change
    them); observations ``(10, 10, k)`` bool become channel-first ``(k, 10, 10)`` ``uint8``
    in {0, 1}; no frame stacking (the channels already encode motion trails); no episode cap
    other than the game's own (pass ``max_episode_steps`` to add a ``TimeLimit``).
    ``reset(seed=s)`` seeds the game as MinAtar does (``numpy.random.RandomState(s)``) and
    also ``env.unwrapped.np_random``, which MinAtar itself leaves unseeded (see
    :class:`~apexrl.envs.minatar_wrappers.MinAtarSeeding`).

    Anything else (classic control, ``module:EnvId`` ids, ...): as Gymnasium makes it
    (including its registered ``TimeLimit``; ``max_episode_steps=...`` overrides it), with
    ``Box`` observations cast to ``float32`` unless they already are ``float32`` or are
    ``uint8`` (pixels stay compact); ``Discrete``/``MultiDiscrete`` observations stay integer
    indices in the smallest dtype that holds them and ``MultiBinary`` stays ``int8``
    (:mod:`apexrl.envs.spaces`; the network one-hot encodes them, :mod:`apexrl.nets.encoders`).

    Args:
        env_id: a Gymnasium id, or ``"module:EnvId"`` (the module is imported first and is
            expected to register ``EnvId``).
        seed: if not None, the env seeds itself with it on its first ``reset()`` that is
            not given an explicit seed (so ``env.reset()`` is reproducible), and
            ``env.action_space`` is seeded with it. Later resets continue the same RNG.
        training: training protocol (True) or evaluation protocol (False); only changes
            Atari envs (life loss and reward clipping).
        context: who runs the env (e.g. ``"actor 3"``), quoted in :class:`EnvError` messages.
        **kwargs: passed to ``gymnasium.make`` (e.g. ``max_episode_steps``, ALE's
            ``full_action_space``, MinAtar's ``sticky_action_prob``), except the
            Atari-only ones above.

    Returns:
        A ``gymnasium.Env``. ``info["episode"]`` (from ``RecordEpisodeStatistics``) holds
        the raw return and length in agent steps at the end of each (Atari: whole-game)
        episode.

    Raises:
        ValueError: unknown id or unimportable module (see :func:`check_env_id`), ALE
            ``frameskip`` passed, or an unsupported observation space (``Tuple``, ``Dict``,
            ``Text``, ``Graph``, ...; the message names ``gymnasium.wrappers.FlattenObservation``).
        apexrl.envs.EnvError: later, from ``reset``/``step``, if the env returns NaN/inf,
            an observation off its declared shape/dtype, or a malformed tuple.
    """
    spec = _resolve_spec(env_id)
    kind = _kind_of_spec(spec)
    kwargs.setdefault("disable_env_checker", True)

    if kind == "atari":
        if "frameskip" in kwargs:
            raise ValueError(
                f"make_env({env_id!r}): do not pass ALE's `frameskip`; ALE ids are made with "
                "frameskip=1 and AtariPreprocessing repeats each action `frame_skip` "
                f"emulator frames (default {DQN_FRAME_SKIP}). Pass frame_skip=... instead."
            )
        atari_args = {
            "noop_max": kwargs.pop("noop_max", DQN_NOOP_MAX),
            "frame_skip": kwargs.pop("frame_skip", DQN_FRAME_SKIP),
            "screen_size": kwargs.pop("screen_size", DQN_SCREEN_SIZE),
            "frame_stack": kwargs.pop("frame_stack", DQN_FRAME_STACK),
        }
        kwargs.setdefault("repeat_action_probability", DQN_REPEAT_ACTION_PROBABILITY)
        kwargs.setdefault("max_num_frames_per_episode", DQN_MAX_EPISODE_FRAMES)
        env = gym.make(env_id, frameskip=1, **kwargs)
        env = ValidatedEnv(
            env, env_id, context, layer="base env", step_unit="emulator frames"
        )
        env = wrap_atari(env, training=training, **atari_args)
    else:
        env = gym.make(env_id, **kwargs)
        if kind == "minatar":
            env = MinAtarSeeding(env)
        env = ValidatedEnv(env, env_id, context, layer="base env", step_unit="env steps")
        if kind == "minatar":
            env = minatar_channels_first(env, env_id)
        else:
            env = _to_float32(env, env_id)
        env = RecordEpisodeStatistics(env)

    env = _SeedOnFirstReset(env, seed)
    return ValidatedEnv(env, env_id, context, layer="wrapped env", step_unit="agent steps")


def make_vector_env(
    env_id: str,
    num_envs: int,
    seed: int | Sequence[int] | None,
    *,
    training: bool = True,
    context: str = "",
    **kwargs: Any,
) -> gym.vector.VectorEnv:
    """``num_envs`` copies of :func:`make_env` stepped in lockstep in this process.

    A :class:`gymnasium.vector.SyncVectorEnv` with ``AutoresetMode.SAME_STEP``: when
    sub-env ``i`` ends an episode at a step, it is reset within that same step, the
    returned observation row ``i`` is the first observation of the next episode, and the
    true last observation is in ``info["final_obs"][i]`` (see :func:`final_observations`);
    the step's own info, with ``RecordEpisodeStatistics``' ``"episode"``, is in
    ``info["final_info"]`` (see :func:`completed_episodes`).

    Args:
        env_id: see :func:`make_env`.
        num_envs: number of sub-envs, >= 1.
        seed: sub-env ``i`` is made with seed ``seed + i``, or ``seed[i]`` when a sequence of
            ``num_envs`` seeds is given (as :func:`apexrl.runtime.seeding.derive_seeds` makes);
            None: unseeded.
        training: see :func:`make_env`.
        context: quoted in errors as ``"<context>, sub-env i"``.
        **kwargs: see :func:`make_env`.

    Returns:
        The vector env; observations ``[num_envs, *obs_shape]``.

    Raises:
        ValueError: ``num_envs < 1``, or as :func:`make_env` (raised here, not lazily).
    """
    if int(num_envs) < 1:
        raise ValueError(f"make_vector_env({env_id!r}): num_envs must be >= 1; got {num_envs}")
    check_env_id(env_id)
    if seed is not None and not isinstance(seed, (int, np.integer)) and len(seed) != int(num_envs):
        raise ValueError(f"make_vector_env({env_id!r}): {len(seed)} seeds for num_envs={num_envs}")

    def factory(i: int):
        sub_context = f"{context}, sub-env {i}" if context else f"sub-env {i}"
        sub_seed = None if seed is None else int(seed) + i if isinstance(seed, (int, np.integer)) else int(seed[i])

        def thunk() -> gym.Env:
            return make_env(env_id, sub_seed, training=training, context=sub_context, **kwargs)

        return thunk

    return gym.vector.SyncVectorEnv(
        [factory(i) for i in range(int(num_envs))],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


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


@dataclass(frozen=True)
class EnvSpecInfo:
    """What the runtime needs to know about an env before starting actors.

    Attributes:
        env_id: the id the env was made from.
        obs_shape: shape of one observation, e.g. ``(4, 84, 84)`` for Atari,
            ``(k, 10, 10)`` for MinAtar, ``(4,)`` for CartPole.
        obs_dtype: dtype of observations (``uint8`` for Atari and MinAtar, ``float32`` for
            ``Box`` vector observations, ``int64`` for ``Discrete`` (FrozenLake, Taxi), the smallest
            integer dtype holding the indices for ``MultiDiscrete``, ``int8``
            for ``MultiBinary``).
        action_space: the env's Gymnasium action space.
        num_actions: ``action_space.n`` if it is ``Discrete``, else None.
        kind: ``"atari"``, ``"minatar"`` or ``"vector"``.
        frame_stack: number of frames stacked along axis 0 of the observation (4 for
            Atari); 0 when the env does not stack frames.
        observation_space: the observation space as the agent sees it (after apexrl's
            wrappers); the network's input encoder is built from it
            (:func:`apexrl.nets.encoders.build_encoder`). ``Discrete(n)`` has ``obs_shape ()``.
    """

    env_id: str
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    action_space: gym.Space
    num_actions: int | None
    kind: EnvKind
    frame_stack: int
    observation_space: gym.Space | None = None


def env_info(env_id: str, **make_kwargs: Any) -> EnvSpecInfo:
    """Make one env with :func:`make_env` (not reset), read its spaces and close it.

    Args:
        env_id: see :func:`make_env`.
        **make_kwargs: passed to :func:`make_env` (``training``, ``frame_stack``, ...).

    Returns:
        An :class:`EnvSpecInfo`.

    Raises:
        ValueError: as :func:`make_env`.
    """
    kind = env_kind(env_id)
    env = make_env(env_id, **make_kwargs)
    try:
        obs_space = env.observation_space
        action_space = env.action_space
        shape = tuple(int(d) for d in (obs_space.shape or ()))
        dtype = np.dtype(obs_space.dtype)
    finally:
        env.close()
    return EnvSpecInfo(
        env_id=env_id,
        obs_shape=shape,
        obs_dtype=dtype,
        action_space=action_space,
        num_actions=int(action_space.n) if isinstance(action_space, spaces.Discrete) else None,
        kind=kind,
        frame_stack=int(make_kwargs.get("frame_stack", DQN_FRAME_STACK)) if kind == "atari" else 0,
        observation_space=obs_space,
    )


def require_discrete(env_id: str, algorithm: str, **make_kwargs: Any) -> None:
    """Fail fast if ``algorithm`` (a value-based method) cannot run on ``env_id``.

    Args:
        env_id: see :func:`make_env`.
        algorithm: the algorithm's name as the user typed it, e.g. ``"apex-dqn"``.
        **make_kwargs: passed to :func:`make_env`.

    Raises:
        ValueError: if the env's action space is not ``gymnasium.spaces.Discrete``,
            naming the algorithm, the env and its action space; or as :func:`make_env`.
    """
    space = env_info(env_id, **make_kwargs).action_space
    if isinstance(space, spaces.Discrete):
        return
    message = f"`{algorithm}` needs a discrete action space but {env_id} has {space}"
    if isinstance(space, spaces.Box):
        message += (
            "; continuous actions are for DDPG/TD3/SAC/Ape-X DPG/D4PG, "
            "which apexrl does not provide yet"
        )
    else:
        message += " (apexrl's value-based algorithms need gymnasium.spaces.Discrete)"
    raise ValueError(message)
