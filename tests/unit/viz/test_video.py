"""apexrl video: MP4 files of whole episodes from a run's network."""

import json
import os

import numpy as np

from apexrl.cli import parse
from apexrl.viz.video import count_frames, rgb_frame

from .conftest import write_network_run


def test_a_videos_frame_count_equals_the_episodes_length(tmp_path, capsys):
    run = write_network_run(tmp_path, "breakout")
    out = tmp_path / "videos"
    assert parse(["video", run, "--episodes", "2", "--out", str(out), "--epsilon", "0.5"]).run() == 0
    captured = capsys.readouterr()
    assert "recording the final network" in captured.err
    result = json.loads(captured.out)
    assert len(result["videos"]) == 2
    for k, video in enumerate(result["videos"]):
        assert os.path.basename(video["path"]) == f"episode-{k}-return_{video['episode_return']:g}.mp4"
        assert video["length"] > 1
        assert count_frames(video["path"]) == video["length"]


def test_cut_episodes_and_classic_control_frames(tmp_path, capsys):
    run = write_network_run(tmp_path, "cartpole", env_id="CartPole-v1", preset="cartpole")
    assert parse(["video", run, "--max-steps", "7", "--out", str(tmp_path / "v")]).run() == 0
    (video,) = json.loads(capsys.readouterr().out)["videos"]
    assert video["length"] <= 7 and count_frames(video["path"]) == video["length"]


def test_minatar_frames_are_enlarged_colour_pictures():
    from apexrl.envs import make_env

    env = make_env("MinAtar/Breakout-v1", seed=0, training=False, render_mode="rgb_array")
    env.reset(seed=0)
    frame = rgb_frame(env)
    assert frame.shape == (160, 160, 3) and frame.dtype == np.uint8 and frame.max() > 0
    env.close()


def test_atari_videos_are_the_full_colour_screen(tmp_path, capsys):
    import imageio.v2 as iio

    run = write_network_run(tmp_path, "pong", env_id="ALE/Pong-v5", preset="atari")
    assert parse(["video", run, "--max-steps", "12", "--out", str(tmp_path / "v")]).run() == 0
    (video,) = json.loads(capsys.readouterr().out)["videos"]
    assert video["length"] == 12 and video["fps"] == 15.0  # 60 Hz / frame skip 4
    frames = [f for f in iio.get_reader(video["path"], format="ffmpeg")]  # list() asks len(): inf
    assert len(frames) == 12
    assert frames[0].shape == (210, 160, 3)  # the ALE screen, not the 84x84 input
    assert np.abs(frames[0][..., 0].astype(int) - frames[0][..., 2]).max() > 30  # colour, not gray
