"""Videos of a trained agent: ``apexrl video``.

The agent plays on an evaluation environment (``apexrl.make_env(env_id, training=False)``: full
games, raw rewards) made with ``render_mode="rgb_array"``, so the frames are the environment's own
pictures: the full-colour 210×160 ALE screen for Atari (one picture per agent step, i.e. every 4th
emulator frame, not the 84×84 grayscale stack the network sees), MinAtar's 10×10 grid in its own
colour palette scaled up 16 times, the Gymnasium renderer for classic control. One frame is recorded
per agent step, before the step's action, so a video has exactly as many frames as the episode has
steps. Videos are H.264 MP4 written by imageio's ffmpeg plugin (imageio-ffmpeg ships the ffmpeg
binary).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from apexrl.viz import require

MINATAR_SCALE = 16
"""Pixels per MinAtar cell in videos and figures."""


@dataclass
class Episode:
    """One played episode.

    Attributes:
        observations: what the network saw before each step, ``[T, *obs_shape]`` (env dtype).
        actions: ``[T]`` int64 (``[T, d]`` float32 for a continuous agent). rewards: ``[T]`` float64
            (raw game rewards).
        frames: the rendered pictures before each step, ``[T, H, W, 3]`` uint8 (empty when not rendered).
        q_values: the network's output at each step ``[T, A]`` float32 (``[T, 0]`` when the episode
            was played by an agent's ``greedy_actions``, which gives no Q-values).
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    q_values: np.ndarray
    frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 1, 3), np.uint8))

    @property
    def length(self) -> int:
        """Agent steps."""
        return int(len(self.actions))

    @property
    def episode_return(self) -> float:
        """Sum of the raw rewards."""
        return float(self.rewards.sum())


def rgb_frame(env: Any) -> np.ndarray:
    """The current picture of ``env`` (made with ``render_mode="rgb_array"``) as ``[H, W, 3]`` uint8
    with even height and width (H.264 needs them): MinAtar's float grid is scaled to 0–255 and
    enlarged :data:`MINATAR_SCALE` times; odd sizes are padded by one black row or column.

    Raises:
        ValueError: the env renders nothing (made without ``render_mode="rgb_array"``).
    """
    frame = env.render()
    if frame is None:
        raise ValueError("the environment rendered no picture: make it with render_mode='rgb_array'")
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = (np.clip(frame, 0.0, 1.0) * 255).round().astype(np.uint8)
    if frame.shape[0] <= 32 and frame.shape[1] <= 32:  # a MinAtar grid
        frame = frame.repeat(MINATAR_SCALE, axis=0).repeat(MINATAR_SCALE, axis=1)
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)))
    return np.ascontiguousarray(frame[..., :3])


def play(network: nn.Module, env: Any, *, epsilon: float, seed: int, max_steps: int, render: bool = True,
         rng: np.random.Generator | None = None,
         q_function: Callable[[torch.Tensor], torch.Tensor] | None = None, agent: Any = None) -> Episode:
    """Play one episode with the ε-greedy policy of ``network`` (eval mode, no gradients).

    Args:
        env: an env from ``apexrl.make_env(..., render_mode="rgb_array")`` when ``render``.
        epsilon: probability of a uniformly random action. seed: seeds ``env.reset``.
        max_steps: the episode is cut after this many agent steps.
        agent: a continuous agent (:class:`apexrl.agents.base.Agent`, ``action_kind
            "continuous"``): its ``greedy_actions`` act instead of the Q-values (none recorded).

    Returns: the :class:`Episode`.
    """
    rng = rng or np.random.default_rng(seed)
    network.eval()
    if agent is not None and agent.action_kind != "discrete":
        def choose(obs: np.ndarray) -> tuple[Any, np.ndarray]:
            action = agent.greedy_actions(network, obs[None], env.action_space, 0.0, rng)[0]
            return action, np.zeros(0, np.float32)
    else:
        q_function = q_function or network
        num_actions = int(env.action_space.n)

        def choose(obs: np.ndarray) -> tuple[Any, np.ndarray]:
            with torch.inference_mode():
                q = q_function(torch.from_numpy(obs[None]))[0].float().numpy()
            return (int(rng.integers(num_actions)) if rng.random() < epsilon else int(q.argmax())), q
    obs, _ = env.reset(seed=seed)
    observations, actions, rewards, qs, frames = [], [], [], [], []
    for _ in range(max_steps):
        if render:
            frames.append(rgb_frame(env))
        action, q = choose(np.asarray(obs))
        observations.append(np.asarray(obs))
        actions.append(action)
        qs.append(q)
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(float(reward))
        if terminated or truncated:
            break
    frames_arr = np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8)
    action_arr = np.stack(actions) if isinstance(actions[0], np.ndarray) else np.asarray(actions, np.int64)
    return Episode(np.stack(observations), action_arr, np.asarray(rewards, np.float64),
                   np.stack(qs).astype(np.float32), frames_arr)


def frames_per_second(env: Any) -> float:
    """Playback rate in frames per second: real time for Atari (the 2600's 60 Hz divided by the
    emulator frames per agent step: 60 / 4 = 15), else the env's ``render_fps`` (CartPole 50), or 10
    when the env does not say (MinAtar)."""
    from gymnasium.wrappers import AtariPreprocessing

    fps = env.metadata.get("render_fps") or 10
    skip, inner = 1, env
    while inner is not None:
        if isinstance(inner, AtariPreprocessing):
            fps, skip = 60, int(inner.frame_skip)
        inner = getattr(inner, "env", None)
    return float(fps) / skip


def write_mp4(frames: np.ndarray, path: str, fps: float) -> str:
    """Write ``frames`` ``[T, H, W, 3]`` uint8 (even H, W) as an H.264 MP4 at ``fps`` frames per second.

    Raises:
        MissingVizDependency: imageio or imageio-ffmpeg is not installed.
        ValueError: no frames.
    """
    if len(frames) == 0:
        raise ValueError(f"no frames to write to {path}")
    iio = require("imageio.v2", "apexrl video")
    require("imageio_ffmpeg", "apexrl video")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    writer = iio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1, pixelformat="yuv420p",
                            ffmpeg_log_level="error")
    try:
        for frame in frames:
            writer.append_data(frame)
    finally:
        writer.close()
    return path


def count_frames(path: str) -> int:
    """Frames of a video file, decoded one by one (imageio's ffmpeg reader)."""
    iio = require("imageio.v2", "apexrl video")
    reader = iio.get_reader(path, format="ffmpeg")
    try:
        return sum(1 for _ in reader)
    finally:
        reader.close()


def record_videos(network: nn.Module, env_id: str, episodes: int, out_dir: str, *, epsilon: float, seed: int,
                  max_steps: int, env_kwargs: dict[str, Any], agent: Any = None) -> list[dict[str, Any]]:
    """Play ``episodes`` episodes (env seeds ``seed``, ``seed + 1``, …) and write each as
    ``OUT_DIR/episode-K-return_R.mp4`` (``episode-0-return_-7.mp4``). ``agent``: as for :func:`play`.

    Returns: per episode ``{"path", "episode_return", "length", "fps"}``.

    Raises:
        MissingVizDependency: imageio or imageio-ffmpeg is not installed.
    """
    from apexrl.envs import make_env

    require("imageio_ffmpeg", "apexrl video")
    # pygame (classic control's renderer) probes for a display otherwise and prints an error
    # about XDG_RUNTIME_DIR on a headless machine; rgb_array rendering needs none
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    results = []
    rng = np.random.default_rng(seed)
    for k in range(episodes):
        env = make_env(env_id, seed=seed + k, training=False, render_mode="rgb_array", **env_kwargs)
        try:
            episode = play(network, env, epsilon=epsilon, seed=seed + k, max_steps=max_steps, rng=rng, agent=agent)
            fps = frames_per_second(env)
        finally:
            env.close()
        path = os.path.join(out_dir, f"episode-{k}-return_{episode.episode_return:g}.mp4")
        write_mp4(episode.frames, path, fps)
        results.append({"path": path, "episode_return": episode.episode_return, "length": episode.length,
                        "fps": fps})
    return results
