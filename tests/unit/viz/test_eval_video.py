"""apexrl train --video-every-evals K: every K-th periodic evaluation writes an MP4 into RUN_DIR/videos."""

import dataclasses
import os
import re

import pytest

from apexrl.agents.dqn.apex_dqn import cartpole
from apexrl.cli import parse
from apexrl.config import RunConfig
from apexrl.runtime.run import train
from apexrl.viz.video import count_frames


def test_every_second_evaluation_writes_a_video_named_by_frames_and_return(tmp_path):
    base = cartpole()
    run = dataclasses.replace(base.run, backend="local", num_actors=1, total_env_frames=2000, progress=False,
                              tensorboard=False, eval_interval_frames=400, eval_episodes=1, final_eval_episodes=1,
                              eval_max_episode_steps=60, video_every_evals=2, run_dir=str(tmp_path / "run"),
                              learner_threads=1)
    config = dataclasses.replace(base, run=run, replay=dataclasses.replace(base.replay, learning_starts=200))
    summary = train(config, "dqn")
    evaluations = len(summary["eval_history"]) - 1  # the last entry is the final evaluation
    assert evaluations >= 4
    videos = sorted(os.listdir(tmp_path / "run" / "videos"))
    assert len(videos) == evaluations // 2  # evaluations 1, 3, ... (0-based)
    frames_at = {int(e["env_frames"]) for e in summary["eval_history"][:-1]}
    for k, name in enumerate(videos):
        m = re.fullmatch(r"eval-(\d{4})-frames_(\d+)-return_([0-9.]+)\.mp4", name)
        assert m, name
        assert int(m.group(1)) == 2 * k + 1 and int(m.group(2)) in frames_at
        # CartPole pays 1 per step: the video has one frame per step of its (capped) episode
        length = count_frames(str(tmp_path / "run" / "videos" / name))
        assert length == float(m.group(3)) and 1 <= length <= 60


def test_the_flag_is_parsed_and_checked():
    args = parse(["train", "dqn", "--env", "CartPole-v1", "--video-every-evals", "3"])
    assert args.args.config.run.video_every_evals == 3
    with pytest.raises(ValueError, match=r"invalid video_every_evals=-1 \(--video-every-evals\): must be >= 0"):
        RunConfig(video_every_evals=-1)
    with pytest.raises(ValueError, match=r"invalid video_every_evals=2 \(--video-every-evals\): needs periodic "
                                         r"evaluations \(--eval-interval-frames > 0\)"):
        RunConfig(video_every_evals=2, eval_interval_frames=0)
