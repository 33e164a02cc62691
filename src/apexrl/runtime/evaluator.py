"""Greedy evaluation on separate environment instances: full games, raw rewards.

An evaluator is an actor that never writes to replay: it acts with its agent's evaluation policy
(:attr:`apexrl.agents.base.Agent.greedy_actions`: ε-greedy with a small ε (Ape-X: 0.001) for the
DQN family, the deterministic action for continuous agents), on environments made with
``training=False`` (no reward clipping, no end-of-life terminal).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from torch import nn

from apexrl.agents import Agent, get_agent
from apexrl.envs import completed_episodes, make_vector_env
from apexrl.runtime.seeding import derive_seeds

log = logging.getLogger("apexrl")


def evaluate(agent: Agent | str, network: nn.Module, env_id: str, episodes: int, *, epsilon: float = 0.001,
             seed: int = 0, max_episode_steps: int = 27_000, max_parallel: int = 16,
             **env_kwargs: Any) -> list[float]:
    """Run ``episodes`` evaluation episodes and return their raw returns.

    Episodes run ``max_parallel`` at a time in a vector env with one batched forward pass per
    step; each sub-env counts only episodes it starts while more are needed, so short episodes
    are not favoured. An episode reaching ``max_episode_steps`` agent steps is cut and its
    return so far is counted.

    Args:
        agent: the agent (or its name) whose ``greedy_actions`` act.
        network: the agent's acting network (a Q network ``obs [B, *obs_shape] -> q [B, A]`` for
            the DQN family).
        env_id: Gymnasium id.
        seed: ``>= 0``; env ``i`` of batch ``b`` (``max_parallel`` episodes each) gets
            ``derive_seeds(seed, b, 0, n, role="eval").env_seeds[i]``, a value in ``[0, 2**32)``
            (:func:`apexrl.runtime.seeding.derive_seeds`), and the ε-greedy RNG is that
            function's sequence of batch 0.

    Returns: list of ``episodes`` floats (raw, unclipped episode returns).
    """
    if episodes <= 0:
        raise ValueError(f"episodes must be > 0, got {episodes}")
    record = get_agent(agent) if isinstance(agent, str) else agent
    was_training = network.training
    network.eval()  # noisy layers evaluate with their mean weights
    try:
        return _evaluate(record, network, env_id, episodes, epsilon, seed, max_episode_steps, max_parallel,
                         env_kwargs)
    finally:
        network.train(was_training)


def periodic_evaluation(agent: Agent | str, network: nn.Module, run: Any, index: int,
                        env_kwargs: dict[str, Any], tag: dict[str, Any] | None = None) -> list[float]:
    """The ``index``-th evaluation during training: ``run.eval_episodes`` episodes with the run's
    evaluation ε and episode cap, environments seeded apart from training and from earlier
    evaluations. ``run`` is a :class:`apexrl.config.RunConfig`.

    Every ``run.video_every_evals``-th evaluation (indices ``K-1, 2K-1, …``) also writes a video of
    one more greedy episode (:func:`evaluation_video`); a failure there is logged and does not
    fail the evaluation. ``tag`` (``env_frames``, ``learner_steps``) names the video."""
    returns = evaluate(agent, network, run.env_id, run.eval_episodes, epsilon=run.eval_epsilon,
                       seed=_eval_seed(run, index), max_episode_steps=run.eval_max_episode_steps, **env_kwargs)
    k = run.video_every_evals
    if k > 0 and (index + 1) % k == 0 and run.run_dir:
        try:
            evaluation_video(agent, network, run, index, env_kwargs, tag or {})
        except Exception as exc:  # noqa: BLE001 -- a video is a by-product; training goes on
            log.warning("evaluation video %d not written: %s: %s", index, type(exc).__name__, exc)
    return returns


def evaluation_video(agent: Agent | str, network: nn.Module, run: Any, index: int, env_kwargs: dict[str, Any],
                     tag: dict[str, Any]) -> str:
    """Play one greedy episode (the evaluation ε and episode cap, env seed ``run.seed + 100_000 +
    1_000 * index``, the first seed of that evaluation) rendered in full colour, and write it as
    ``RUN_DIR/videos/eval-<index>-frames_<env_frames>-return_<R>.mp4`` (one video frame per agent
    step; :func:`apexrl.viz.video.record_videos`). Returns the path.

    Raises:
        apexrl.viz.MissingVizDependency: imageio / imageio-ffmpeg are not installed.
    """
    import os

    from apexrl.viz.video import record_videos

    record = get_agent(agent) if isinstance(agent, str) else agent
    out = os.path.join(run.run_dir, "videos")
    os.makedirs(out, exist_ok=True)
    was_training = network.training
    network.eval()
    try:
        (video,) = record_videos(network, run.env_id, 1, out, epsilon=run.eval_epsilon,
                                 seed=_eval_seed(run, index), max_steps=run.eval_max_episode_steps,
                                 env_kwargs=env_kwargs, agent=record)
    finally:
        network.train(was_training)
    frames = int(tag.get("env_frames", 0))
    path = os.path.join(out, f"eval-{index:04d}-frames_{frames}-return_{video['episode_return']:g}.mp4")
    os.replace(video["path"], path)
    return path


def _eval_seed(run: Any, index: int) -> int:
    """The env seed of the ``index``-th periodic evaluation: apart from training and earlier ones."""
    return run.seed + 100_000 + 1_000 * index


def _evaluate(agent: Agent, network: nn.Module, env_id: str, episodes: int, epsilon: float, seed: int, max_episode_steps: int,
              max_parallel: int, env_kwargs: dict[str, Any]) -> list[float]:
    returns: list[float] = []
    rng = derive_seeds(seed, 0, 0, 1, role="eval").rng()
    remaining = episodes
    batch_index = 0
    while remaining > 0:
        n = min(max_parallel, remaining)
        seeds = list(derive_seeds(seed, batch_index, 0, n, role="eval").env_seeds)
        returns += _evaluate_batch(agent, network, env_id, n, epsilon, seeds, max_episode_steps, rng, env_kwargs)
        remaining -= n
        batch_index += 1
    return returns


def _evaluate_batch(agent: Agent, network: nn.Module, env_id: str, n: int, epsilon: float, seed: list[int], max_steps: int,
                    rng: np.random.Generator, env_kwargs: dict[str, Any]) -> list[float]:
    envs = make_vector_env(env_id, n, seed, training=False, context="evaluator", **env_kwargs)
    # a stateful (recurrent) evaluation policy, one per batch of envs, or the agent's stateless one
    greedy = agent.build_greedy(network, n) if agent.build_greedy is not None else None
    try:
        obs, _ = envs.reset(seed=seed)
        running = np.ones(n, dtype=bool)
        partial = np.zeros(n, dtype=np.float64)
        steps = 0
        result: dict[int, float] = {}
        space = envs.single_action_space
        while running.any():
            actions = (agent.greedy_actions(network, obs, space, epsilon, rng) if greedy is None
                       else greedy.act(obs, epsilon, rng))
            obs, reward, terminated, truncated, info = envs.step(actions)
            if greedy is not None:
                greedy.observe(np.asarray(reward, dtype=np.float32), terminated, truncated)
            partial += np.asarray(reward, dtype=np.float64)
            steps += 1
            for i, ret, _ in completed_episodes(info):
                if running[i]:
                    result[i] = float(ret)
                    running[i] = False
            if steps >= max_steps:
                for i in np.flatnonzero(running):
                    result[int(i)] = float(partial[i])
                running[:] = False
        return [result[i] for i in range(n)]
    finally:
        envs.close()
