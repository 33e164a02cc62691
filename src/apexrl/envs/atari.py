"""DeepMind-style Atari preprocessing on top of Gymnasium's wrappers.

The protocol is the one of Mnih et al. (2015), "Human-level control through deep
reinforcement learning", Nature 518, used unchanged by Ape-X (Horgan et al., 2018):

* 4 emulator frames per agent step (action repeat), the observation being the pixel-wise
  maximum of the last two of them (removes flicker);
* up to 30 no-op actions at the start of each game (random start states);
* 84x84 grayscale frames, the last 4 stacked along the first axis -> ``(4, 84, 84)`` uint8;
* during training only: rewards clipped to [-1, 1] and the loss of a life treated as the
  end of an episode (the game itself only restarts at game over);
* episodes capped at 108,000 emulator frames (30 minutes of play at 60 Hz; 27,000 agent
  steps), the cap being a *truncation*, not a termination.

Machado et al. (2018), "Revisiting the Arcade Learning Environment", JAIR 61, recommend
sticky actions (``repeat_action_probability=0.25``, the default of ALE ``v5`` ids) and no
life-loss signal instead; apexrl defaults to the DQN/Ape-X protocol
(``repeat_action_probability=0.0``) so that scores compare with those papers, and lets the
caller pass ``repeat_action_probability=0.25`` for the Machado protocol.

Everything Gymnasium provides is used as is (:class:`~gymnasium.wrappers.AtariPreprocessing`,
:class:`~gymnasium.wrappers.RecordEpisodeStatistics`, :class:`~gymnasium.wrappers.ClipReward`,
:class:`~gymnasium.wrappers.FrameStackObservation`); only :class:`EpisodicLifeEnv` is new,
because ``AtariPreprocessing(terminal_on_life_loss=True)`` ends the *game* on a life loss,
whereas DQN ends only the *learning episode* and plays on.
"""

from __future__ import annotations

import copy
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs
from gymnasium.wrappers import (
    AtariPreprocessing,
    ClipReward,
    FrameStackObservation,
    RecordEpisodeStatistics,
)

__all__ = [
    "DQN_FRAME_SKIP",
    "DQN_FRAME_STACK",
    "DQN_MAX_EPISODE_FRAMES",
    "DQN_NOOP_MAX",
    "DQN_REPEAT_ACTION_PROBABILITY",
    "DQN_SCREEN_SIZE",
    "EpisodicLifeEnv",
    "wrap_atari",
    "wrap_deepmind",
]

#: Max number of no-op actions (emulator frames, frameskip=1) at the start of a game.
DQN_NOOP_MAX = 30
#: Emulator frames per agent step (action repeat); the last two are max-pooled.
DQN_FRAME_SKIP = 4
#: Side of the square grayscale frame, in pixels.
DQN_SCREEN_SIZE = 84
#: Number of frames stacked into one observation.
DQN_FRAME_STACK = 4
#: Episode cap in emulator frames (= 27,000 agent steps with frame skip 4).
DQN_MAX_EPISODE_FRAMES = 108_000
#: DQN/Ape-X protocol: no sticky actions (ALE v5's own default is 0.25, Machado et al. 2018).
DQN_REPEAT_ACTION_PROBABILITY = 0.0


class EpisodicLifeEnv(gym.Wrapper, RecordConstructorArgs):
    """Signal ``terminated=True`` when a life is lost; restart the game only at game over.

    This is the ``EpisodicLifeEnv`` of OpenAI Baselines / Stable-Baselines3 (Mnih et al.
    2015 protocol): value bootstrapping stops at a life loss, which speeds up learning in
    games with lives, but the game is *not* restarted, so the agent still has to play all
    its lives. A life loss is ``0 < lives < previous lives`` (as in SB3; some games report 0
    lives only together with game over).

    ``reset()`` after a life loss does not touch the game: it returns the observation and
    info of the step on which the life was lost (as Dopamine does) and the next ``step``
    continues the same game. Unlike SB3 it does not spend a no-op step there, so no reward
    is hidden from the agent and a game over can never happen inside ``reset()`` (where its
    episode statistics would be lost). ``reset()`` restarts the game for real at game over
    (the wrapped env returned ``terminated``), after a truncation (the 108K-frame cap), on
    the first call, and whenever ``seed`` or ``options`` is given. Any other ``reset()``
    (after a life loss, after a step that ended nothing, or with no ``step`` since the last
    reset) leaves the game as it is and returns a copy of the current observation (that of
    the last ``step``, or of the last real reset) and its info without ``"episode"``; it
    never returns ``None``.

    Put :class:`~gymnasium.wrappers.RecordEpisodeStatistics` *below* this wrapper so that
    ``info["episode"]`` reports whole games (the score people report), not lives.

    The number of lives is read from ``info["lives"]`` (ALE puts it in every ``reset`` and
    ``step`` info) or else from ``env.unwrapped.ale.lives()``.

    Raises:
        ValueError: from ``reset``/``step`` if neither source of the lives count exists.
    """

    def __init__(self, env: gym.Env) -> None:
        RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self.lives = 0
        self.needs_real_reset = True
        self._last_obs: Any = None
        self._last_info: dict[str, Any] = {}

    def _read_lives(self, info: dict[str, Any]) -> int:
        if "lives" in info:
            return int(info["lives"])
        ale = getattr(self.env.unwrapped, "ale", None)
        if ale is None:
            raise ValueError(
                f"EpisodicLifeEnv needs the number of lives of {self.env.unwrapped!r}: "
                "expected info['lives'] or env.unwrapped.ale (as ALE envs provide); got neither"
            )
        return int(ale.lives())

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the game; ``terminated`` is also True on a life loss (see class docstring)."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.needs_real_reset = bool(terminated or truncated)
        lives = self._read_lives(info)
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        self._last_obs = obs
        self._last_info = info
        return obs, reward, terminated, truncated, info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Restart the game only if it is over (see class docstring); returns ``(obs, info)``."""
        if self.needs_real_reset or seed is not None or options is not None:
            obs, info = self.env.reset(seed=seed, options=options)
            self.lives = self._read_lives(info)
            self.needs_real_reset = False
            self._last_obs = obs
            self._last_info = info
            return obs, info
        # Copies: a caller may keep or modify what reset() returned.
        info = {k: copy.deepcopy(v) for k, v in self._last_info.items() if k != "episode"}
        return copy.deepcopy(self._last_obs), info


def wrap_deepmind(
    env: gym.Env, *, training: bool, frame_stack: int = DQN_FRAME_STACK
) -> gym.Env:
    """Apply the DQN wrappers that come after :class:`~gymnasium.wrappers.AtariPreprocessing`.

    Order (inner to outer): ``RecordEpisodeStatistics`` (``info["episode"]`` holds the raw,
    unclipped game score ``"r"`` and the game length ``"l"`` in agent steps, reported at
    true game over or truncation only), then when ``training``: :class:`EpisodicLifeEnv`
    and ``ClipReward(-1, 1)``; finally ``FrameStackObservation(frame_stack,
    padding_type="reset")``, which repeats the first frame of an episode to fill the stack.

    Args:
        env: an env whose observations are single frames ``(H, W)`` (any dtype).
        training: True for the training protocol (life loss ends the episode, rewards
            clipped to [-1, 1]); False for evaluation (raw rewards, whole games).
        frame_stack: frames per observation; observations become ``(frame_stack, H, W)``.

    Returns:
        The wrapped env.
    """
    env = RecordEpisodeStatistics(env)
    if training:
        env = EpisodicLifeEnv(env)
        env = ClipReward(env, -1.0, 1.0)
    return FrameStackObservation(env, frame_stack, padding_type="reset")


def wrap_atari(
    env: gym.Env,
    *,
    training: bool,
    noop_max: int = DQN_NOOP_MAX,
    frame_skip: int = DQN_FRAME_SKIP,
    screen_size: int = DQN_SCREEN_SIZE,
    frame_stack: int = DQN_FRAME_STACK,
) -> gym.Env:
    """DeepMind preprocessing of an ALE env made with ``frameskip=1``.

    ``AtariPreprocessing(noop_max, frame_skip, screen_size, grayscale_obs=True)`` (no-op
    starts of 1..``noop_max`` emulator frames, action repeat of ``frame_skip`` emulator
    frames with max-pooling of the last two, grayscale, area-resize to
    ``screen_size x screen_size``), then :func:`wrap_deepmind`.

    Args:
        env: an ALE env (``gymnasium.make("ALE/...", frameskip=1)``), possibly wrapped.
        training: see :func:`wrap_deepmind`.
        noop_max: maximum number of no-op emulator frames at reset (30 in DQN).
        frame_skip: emulator frames per agent step (4 in DQN).
        screen_size: output frame side in pixels (84 in DQN).
        frame_stack: frames per observation (4 in DQN).

    Returns:
        An env with ``uint8`` observations of shape ``(frame_stack, screen_size,
        screen_size)``; one ``step`` is ``frame_skip`` emulator frames.

    Raises:
        ValueError: from ``AtariPreprocessing`` if the env skips frames itself.
    """
    env = AtariPreprocessing(
        env,
        noop_max=noop_max,
        frame_skip=frame_skip,
        screen_size=screen_size,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        grayscale_newaxis=False,
        scale_obs=False,
    )
    return wrap_deepmind(env, training=training, frame_stack=frame_stack)
