"""DeepMind Atari preprocessing: real ALE games plus a fake game with lives."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium.wrappers import (
    AtariPreprocessing,
    ClipReward,
    FrameStackObservation,
    RecordEpisodeStatistics,
)

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # pytest's default "prepend" import mode already put it there
    sys.path.insert(0, _HERE)
from fake_envs import LivesEnv  # noqa: E402

from apexrl.envs import EpisodicLifeEnv, make_env, wrap_deepmind  # noqa: E402


def wrapper_chain(env) -> list[str]:
    names = []
    while True:
        names.append(type(env).__name__)
        if not hasattr(env, "env"):
            return names
        env = env.env


# --- real ALE ------------------------------------------------------------------------------


def test_pong_observations_are_stacked_84x84_uint8():
    env = make_env("ALE/Pong-v5", seed=0)
    assert env.observation_space.shape == (4, 84, 84)
    assert env.observation_space.dtype == np.uint8
    obs, _ = env.reset()
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    # padding_type="reset": the first frame fills the whole stack.
    for k in range(1, 4):
        np.testing.assert_array_equal(obs[k], obs[0])
    assert obs.max() > 0  # a real picture, not zero padding
    prev = obs
    for _ in range(30):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        np.testing.assert_array_equal(obs[:3], prev[1:])  # rolling stack, newest last
        prev = obs
    assert not (terminated or truncated)
    env.close()


def test_pong_uses_dqn_protocol_settings():
    env = make_env("ALE/Pong-v5", seed=0)
    ale = env.unwrapped.ale
    assert ale.getFloat("repeat_action_probability") == 0.0  # v5's own default is 0.25
    assert ale.getInt("max_num_frames_per_episode") == 108_000
    assert env.unwrapped._frameskip == 1
    pre = env
    while not isinstance(pre, AtariPreprocessing):
        pre = pre.env
    assert (pre.noop_max, pre.frame_skip, pre.screen_size, pre.grayscale_obs) == (30, 4, (84, 84), True)
    env.close()
    sticky = make_env("ALE/Pong-v5", repeat_action_probability=0.25)
    assert sticky.unwrapped.ale.getFloat("repeat_action_probability") == 0.25
    sticky.close()


def test_episode_cap_is_truncation_in_emulator_frames():
    env = make_env("ALE/Pong-v5", seed=1, max_num_frames_per_episode=400)
    _, info = env.reset()
    start_frame = info["episode_frame_number"]  # no-op start frames count against the cap
    assert 1 <= start_frame <= 30
    steps = 0
    while True:
        _, _, terminated, truncated, info = env.step(0)
        steps += 1
        if terminated or truncated:
            break
    assert truncated and not terminated
    assert info["episode_frame_number"] == 400
    assert steps == -(-(400 - start_frame) // 4)  # 4 emulator frames per agent step
    assert info["episode"]["l"] == steps
    env.close()


def test_training_and_evaluation_wrapper_stacks():
    train = wrapper_chain(make_env("ALE/Pong-v5", training=True))
    evaluation = wrapper_chain(make_env("ALE/Pong-v5", training=False))
    order = ["FrameStackObservation", "ClipReward", "EpisodicLifeEnv", "RecordEpisodeStatistics", "AtariPreprocessing"]
    assert [n for n in train if n in order] == order
    assert [n for n in evaluation if n in order] == [
        "FrameStackObservation",
        "RecordEpisodeStatistics",
        "AtariPreprocessing",
    ]
    assert train[0] == evaluation[0] == "ValidatedEnv"


def test_frameskip_kwarg_is_rejected():
    with pytest.raises(ValueError, match="frame_skip"):
        make_env("ALE/Pong-v5", frameskip=4)


def test_breakout_life_loss_ends_training_episode_but_not_the_game():
    """Same seed and actions: the training env replays the evaluation env's game."""
    actions = np.random.default_rng(0).integers(0, 4, size=5000)
    evaluation = make_env("ALE/Breakout-v5", seed=3, training=False)
    evaluation.reset()
    raw_return, eval_steps = 0.0, 0
    for a in actions:
        _, reward, terminated, truncated, info = evaluation.step(int(a))
        raw_return += reward
        eval_steps += 1
        if terminated or truncated:
            break
    assert terminated and info["lives"] == 0
    assert info["episode"]["r"] == raw_return and info["episode"]["l"] == eval_steps

    train = make_env("ALE/Breakout-v5", seed=3, training=True)
    train.reset()
    ends, clipped_return, steps = 0, 0.0, 0
    for a in actions:
        _, reward, terminated, truncated, info = train.step(int(a))
        assert -1.0 <= reward <= 1.0
        clipped_return += reward
        steps += 1
        if terminated or truncated:
            ends += 1
            if "episode" in info:
                break
            assert info["lives"] > 0
            frame_before = train.unwrapped.ale.getEpisodeFrameNumber()
            train.reset()  # life lost: the game goes on
            assert train.unwrapped.ale.getEpisodeFrameNumber() == frame_before
    assert ends == 5  # 4 life losses + game over (Breakout has 5 lives)
    assert steps == eval_steps
    assert info["episode"]["r"] == raw_return  # raw score, not the clipped one
    assert info["episode"]["l"] == eval_steps
    assert clipped_return <= raw_return
    train.close()
    evaluation.close()


# --- fake game with lives ------------------------------------------------------------------

REWARDS = [3.0, -2.0, 0.5, 0.0, 0.0, 0.0]
LOSSES = (2, 4, 6)  # lives 3 -> 2 -> 1 -> 0 (game over at step 6)


def test_training_clips_rewards_and_ends_episodes_on_life_loss():
    game = LivesEnv(REWARDS, LOSSES, lives=3)
    env = wrap_deepmind(game, training=True)
    obs, _ = env.reset()
    assert obs.shape == (4, 84, 84) and not obs.any()
    assert game.real_resets == 1

    expected = [  # (reward seen by the agent, terminated)
        (1.0, False),
        (-1.0, True),  # life lost
        (0.5, False),
        (0.0, True),  # life lost
        (0.0, False),
        (0.0, True),  # game over
    ]
    for k, (reward, terminated) in enumerate(expected, start=1):
        obs, r, term, trunc, info = env.step(0)
        assert (r, term, trunc) == (reward, terminated, False), f"step {k}"
        assert obs[-1, 0, 0] == k
        if k < 6:
            assert "episode" not in info
        if term and k < 6:
            obs, reset_info = env.reset()
            assert game.real_resets == 1  # no real reset on a life loss
            assert "episode" not in reset_info
            assert reset_info["lives"] == game.lives
            assert (obs == k).all()  # the stack restarts from the current frame
    # RecordEpisodeStatistics sits below the life-loss wrapper: one whole game, raw return.
    assert info["episode"]["r"] == pytest.approx(1.5)
    assert info["episode"]["l"] == 6
    obs, _ = env.reset()
    assert game.real_resets == 2  # game over: the game restarts for real
    assert not obs.any()


def test_evaluation_keeps_raw_rewards_and_whole_games():
    game = LivesEnv(REWARDS, LOSSES, lives=3)
    env = wrap_deepmind(game, training=False)
    env.reset()
    seen = []
    for _ in range(6):
        _, r, term, trunc, info = env.step(0)
        seen.append((float(r), term))
    assert seen == [(3.0, False), (-2.0, False), (0.5, False), (0.0, False), (0.0, False), (0.0, True)]
    assert info["episode"]["r"] == pytest.approx(1.5)
    assert info["episode"]["l"] == 6


def test_frame_stack_repeats_first_observation_then_rolls():
    env = wrap_deepmind(LivesEnv([0.0] * 10, lives=1), training=True, frame_stack=4)
    obs, _ = env.reset()
    assert [int(f[0, 0]) for f in obs] == [0, 0, 0, 0]
    for expected in ([0, 0, 0, 1], [0, 0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 4]):
        obs, *_ = env.step(0)
        assert [int(f[0, 0]) for f in obs] == expected
    assert obs.dtype == np.uint8


def test_truncation_forces_a_real_reset():
    game = LivesEnv([0.0] * 10, lives=3)
    env = EpisodicLifeEnv(game)
    env.reset()
    env.step(0)
    env.needs_real_reset = False
    env.reset()
    assert game.real_resets == 1
    # A seed always resets for real.
    env.reset(seed=1)
    assert game.real_resets == 2


def test_wrap_deepmind_composition():
    env = wrap_deepmind(LivesEnv([0.0]), training=True)
    assert isinstance(env, FrameStackObservation)
    assert isinstance(env.env, ClipReward)
    assert isinstance(env.env.env, EpisodicLifeEnv)
    assert isinstance(env.env.env.env, RecordEpisodeStatistics)


def test_missing_lives_is_a_clear_error():
    from fake_envs import ScriptedEnv

    env = EpisodicLifeEnv(ScriptedEnv())
    with pytest.raises(ValueError, match=r"expected info\['lives'\] or env.unwrapped.ale"):
        env.reset()


# --- reset() always returns an observation ------------------------------------------------


def test_reset_with_no_step_since_the_last_returns_that_resets_observation():
    """After a real reset, a second reset() returns that reset's frame (not None, not stale)."""
    game = LivesEnv([0.0] * 10, (), lives=1)
    env = EpisodicLifeEnv(game)
    obs, _ = env.reset()
    again, info = env.reset()  # first ever reset, then one with no step between
    assert again is not None and (again == 0).all() and game.real_resets == 1
    assert again is not obs and info == {"lives": 1}
    for _ in range(3):
        env.step(0)
    env.needs_real_reset = True  # as after a game over
    obs, _ = env.reset()
    assert game.real_resets == 2 and (obs == 0).all()
    again, _ = env.reset()  # must not be the frame of step 3 from before the real reset
    assert game.real_resets == 2 and (again == 0).all()


def _breakout_train(**kwargs):
    return make_env("ALE/Breakout-v5", seed=4, training=True, **kwargs)


def _play_until(env, stop):
    """Step with random actions until ``stop(terminated, truncated, info)``; return info."""
    rng = np.random.default_rng(0)
    for _ in range(3000):
        _, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        if stop(terminated, truncated, info):
            return info
    raise AssertionError("episode did not end within 3000 agent steps")


def test_atari_reset_twice_in_a_row():
    env = _breakout_train()
    obs, _ = env.reset()
    frame = env.unwrapped.ale.getEpisodeFrameNumber()
    again, info = env.reset()  # with no step between: the current observation, same game
    assert again in env.observation_space and again.shape == (4, 84, 84)
    np.testing.assert_array_equal(again, obs)
    assert env.unwrapped.ale.getEpisodeFrameNumber() == frame and info["lives"] == 5
    env.step(1)
    env.close()


def test_atari_reset_after_truncation_restarts_the_game():
    env = _breakout_train(max_num_frames_per_episode=200)
    env.reset()
    info = _play_until(env, lambda term, trunc, info: trunc)
    assert info["episode_frame_number"] == 200 and "episode" in info
    obs, info = env.reset()
    assert obs in env.observation_space
    assert env.unwrapped.ale.getEpisodeFrameNumber() <= 30  # a new game: no-op starts only
    again, _ = env.reset()
    assert again in env.observation_space
    np.testing.assert_array_equal(again, obs)
    env.close()


def test_atari_reset_after_life_loss_continues_the_game():
    env = _breakout_train()
    env.reset()
    info = _play_until(env, lambda term, trunc, info: term)
    assert info["lives"] == 4 and "episode" not in info  # a life lost, not game over
    frame = env.unwrapped.ale.getEpisodeFrameNumber()
    obs, reset_info = env.reset()
    assert obs in env.observation_space
    for k in range(1, 4):  # the stack restarts from the frame of the life loss
        np.testing.assert_array_equal(obs[k], obs[0])
    assert env.unwrapped.ale.getEpisodeFrameNumber() == frame and reset_info["lives"] == 4
    again, _ = env.reset()
    assert again in env.observation_space
    np.testing.assert_array_equal(again, obs)
    env.close()
