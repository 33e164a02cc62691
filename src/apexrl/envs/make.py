"""Making environments for actors and evaluators.

One entry point, :func:`make_env`, turns any Gymnasium id into an env with the
preprocessing its family needs (Atari: Mnih et al. 2015; MinAtar: Young & Tian 2019;
anything else: float32 observations), episode statistics on raw rewards and run-time
validation (:class:`~apexrl.envs.checks.ValidatedEnv`). :func:`make_vector_env` batches
several of them; :func:`final_observations` and :func:`completed_episodes`
(:mod:`apexrl.envs.episodes`) read the batched ``info`` of Gymnasium's same-step autoreset;
:func:`check_env_id` and :func:`env_kind` (:mod:`apexrl.envs.registry`) find ids;
:func:`env_info` and :func:`require_action_space` fail fast before any process starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import RecordConstructorArgs
from gymnasium.wrappers import FlattenObservation, RecordEpisodeStatistics, TransformObservation

from apexrl.envs.atari import (
    DQN_FRAME_SKIP,
    DQN_FRAME_STACK,
    DQN_MAX_EPISODE_FRAMES,
    DQN_NOOP_MAX,
    DQN_REPEAT_ACTION_PROBABILITY,
    DQN_SCREEN_SIZE,
    wrap_atari,
)
from apexrl.envs.actions import action_space_error, action_spec, float32_actions
from apexrl.envs.checks import ValidatedEnv
from apexrl.envs.control import is_dm_control_id, route_mujoco_warnings
from apexrl.envs.episodes import completed_episodes, final_observations
from apexrl.envs.minatar_wrappers import MinAtarSeeding, minatar_channels_first
from apexrl.envs.registry import (
    EnvKind,
    check_env_id,
    env_kind,
    is_mujoco_spec,
    register_env_families,
    resolve_spec,
    spec_kind,
)
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
    "require_action_space",
]


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
    ``Pendulum-v1``, ``MountainCarContinuous-v0`` and the MuJoCo ids (``HalfCheetah-v5``,
    ``Hopper-v5``, ``Walker2d-v5``, ``Ant-v5``; the ``mujoco`` extra) are of this family
    (MuJoCo's ``float64`` observations become ``float32``). ``dm_control/<domain>-<task>-v0``
    (the ``control`` extra, :mod:`apexrl.envs.control`): the ``Dict`` observation is flattened
    by ``FlattenObservation`` (keys in sorted order) and cast to ``float32``. Every floating
    ``Box`` action space is declared ``float32`` (:class:`~apexrl.envs.actions.Float32Actions`
    casts dm_control's ``float64`` back); the bounds are not rescaled. MuJoCo's warnings
    become Python ``RuntimeWarning`` (:func:`~apexrl.envs.control.route_mujoco_warnings`).

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
    spec = resolve_spec(env_id)
    kind = spec_kind(spec)
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
        if is_mujoco_spec(spec):
            route_mujoco_warnings()
        env = gym.make(env_id, **kwargs)
        if kind == "minatar":
            env = MinAtarSeeding(env)
        env = ValidatedEnv(env, env_id, context, layer="base env", step_unit="env steps")
        if kind == "minatar":
            env = minatar_channels_first(env, env_id)
        else:
            if is_dm_control_id(spec.id):
                env = FlattenObservation(env)
            env = _to_float32(env, env_id)
        env = float32_actions(env)
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
        action_shape: shape of one action: ``()`` for ``Discrete``, ``(d,)`` for a 1-d ``Box``
            (``(1,)`` for Pendulum-v1, ``(6,)`` for HalfCheetah-v5); what replay stores per item.
        action_dtype: ``int64`` for ``Discrete``, ``float32`` for ``Box`` (as
            :func:`make_env` declares it).
    """

    env_id: str
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    action_space: gym.Space
    num_actions: int | None
    kind: EnvKind
    frame_stack: int
    observation_space: gym.Space | None = None
    action_shape: tuple[int, ...] = ()
    action_dtype: np.dtype = np.dtype(np.int64)


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
        action_shape, action_dtype = action_spec(action_space)
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
        action_shape=action_shape,
        action_dtype=action_dtype,
    )


def require_action_space(
    env_id: str,
    algorithm: str,
    kind: str,
    fitting: Mapping[str, Sequence[str]],
    **make_kwargs: Any,
) -> EnvSpecInfo:
    """Fail at start if ``algorithm`` cannot act in ``env_id``'s action space.

    ``"discrete"`` algorithms (the DQN family) need ``gymnasium.spaces.Discrete``;
    ``"continuous"`` ones (DDPG, TD3, SAC, Ape-X DPG, D4PG) a 1-d ``Box`` (shape ``(d,)``)
    with finite bounds and a floating dtype, since their policies are squashed to the bounds.

    Args:
        env_id: see :func:`make_env`.
        algorithm: the algorithm's name as the user typed it, e.g. ``"apex-dqn"``.
        kind: ``"discrete"`` or ``"continuous"``: the action space ``algorithm`` needs.
        fitting: ``{"discrete": [names], "continuous": [names]}``, the registered algorithms of
            each kind (from the agent registry), named in the error as the ones that fit.
        **make_kwargs: passed to :func:`make_env`.

    Returns:
        The env's :class:`EnvSpecInfo` (so the caller need not make the env again).

    Raises:
        ValueError: the space does not fit, naming the algorithm, the env, its action space,
            what is wrong and the algorithms that fit it, e.g. ``"`apex-dqn` needs a Discrete
            action space but Pendulum-v1 has Box(-2.0, 2.0, (1,), float32); for Box actions
            use: ddpg, td3, sac, apex-dpg, d4pg"``; ``kind`` or ``fitting`` malformed; or as
            :func:`make_env`.
    """
    action_space_error(env_id, algorithm, kind, spaces.Discrete(1), fitting)  # validates kind, fitting
    info = env_info(env_id, **make_kwargs)
    message = action_space_error(env_id, algorithm, kind, info.action_space, fitting)
    if message is not None:
        raise ValueError(message)
    return info
