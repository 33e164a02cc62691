"""The Ape-X training loop on one machine: replay and learner in this process, actors wherever
the backend puts them (Horgan et al. 2018, Algorithms 1 and 2).

Each iteration: take actor messages into the prioritized replay (unless the rate limiter says
the learner is behind), run learner steps on prioritized samples (unless it is ahead), store
the new priorities, publish parameters, ask for evaluations, log. The run directory receives
``config.json``, ``metrics.csv``, TensorBoard events, ``model.safetensors`` and
``summary.json``.
"""

from __future__ import annotations

import json
from collections import deque
import multiprocessing as mp
import os
import re
import resource
import time
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from apexrl.backends import LocalEvaluator, LocalSource, ProcessEvaluator, ProcessSource
from apexrl.config import ApexDQNConfig, ReplayConfig, to_dict
from apexrl.envs import EnvSpecInfo, check_env_id, env_info, require_discrete
from apexrl.logging import MetricsLogger
from apexrl.replay import ArrayStorage, FrameStorage, PrioritizedReplay
from apexrl.runtime.actor import env_kwargs_for, frames_per_step
from apexrl.runtime.evaluator import evaluate
from apexrl.runtime.learner import DQNLearner
from apexrl.runtime.params import SharedParams


def default_run_dir(algo: str, env_id: str, seed: int) -> str:
    """``runs/<algo>-<env>-s<seed>-<YYYYmmdd-HHMMSS>``."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", env_id).strip("-")
    return os.path.join("runs", f"{algo}-{slug}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}")


def prepare_run_dir(path: str) -> None:
    """Create the run directory; refuse one that already holds a run (nothing is overwritten).

    Raises:
        ValueError: ``path`` exists and already contains ``metrics.csv`` or ``summary.json``.
    """
    for name in ("metrics.csv", "summary.json"):
        if os.path.exists(os.path.join(path, name)):
            raise ValueError(f"--run-dir {path!r} already holds a run ({name}); choose another directory")
    os.makedirs(path, exist_ok=True)


def build_replay(config: ReplayConfig, info: EnvSpecInfo, seed: int | None = None) -> PrioritizedReplay:
    """The replay a :class:`~apexrl.config.ReplayConfig` describes: frame-deduplicated storage for
    Atari, array storage otherwise; ``prioritized=False`` is the same sampler with α = 0 (equal
    mass, uniform sampling) and β = 0 (unit importance weights)."""
    if info.kind == "atari":
        storage: Any = FrameStorage(config.replay_capacity, frame_shape=tuple(info.obs_shape[1:]),
                                    stack_size=int(info.obs_shape[0]))
    else:
        storage = ArrayStorage(config.replay_capacity, tuple(info.obs_shape), info.obs_dtype)
    return PrioritizedReplay(storage, priority_exponent=config.priority_exponent if config.prioritized else 0.0,
                             importance_sampling_exponent=config.importance_sampling_exponent
                             if config.prioritized else 0.0,
                             priority_epsilon=config.priority_epsilon, seed=seed)


class RateLimiter:
    """Keeps learner samples per inserted transition near ``samples_per_insert``
    (as Reverb's ``SampleToInsertRatio``); ``samples_per_insert = 0`` disables it.

    Counts start once the replay holds ``learning_starts`` transitions.
    """

    def __init__(self, samples_per_insert: float, tolerance: float, batch_size: int) -> None:
        self.spi = samples_per_insert
        self.tolerance = tolerance
        self.batch_size = batch_size
        self.inserted = 0
        self.sampled = 0

    def learner_may_sample(self) -> bool:
        if self.spi <= 0:
            return True
        return self.sampled + self.batch_size <= self.spi * self.inserted * (1 + self.tolerance) + self.batch_size

    def actors_may_insert(self) -> bool:
        if self.spi <= 0:
            return True
        return self.sampled >= self.spi * self.inserted * (1 - self.tolerance) - self.batch_size


def train(config: ApexDQNConfig, algo: str = "apex-dqn") -> dict[str, Any]:
    """Train, write the run directory and return the summary (also in ``summary.json``).

    Raises:
        ValueError: unknown env id (with Gymnasium's suggestions), a non-discrete action space,
            an occupied run directory.
        apexrl.runtime.actor.ActorError: an actor failed (for example a NaN observation).
    """
    start = time.monotonic()
    run, rcfg, lcfg = config.run, config.replay, config.learner
    check_env_id(run.env_id)
    require_discrete(run.env_id, algo)
    info = env_info(run.env_id)
    run_dir = run.run_dir or default_run_dir(algo, run.env_id, run.seed)
    prepare_run_dir(run_dir)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({"algo": algo, "config": to_dict(config)}, f, indent=2)

    backend = run.backend
    num_actor_procs = run.num_actors if backend == "mp" else 0
    # one core per actor process and one for the evaluator; more learner threads than free cores
    # make torch's spinning OpenMP workers collapse (10x slower updates) when the others are busy
    threads = run.learner_threads or max(1, (os.cpu_count() or 1) - num_actor_procs - 1)
    torch.set_num_threads(threads)
    learner = DQNLearner(lcfg, info, seed=run.seed)
    replay = build_replay(rcfg, info, seed=run.seed)
    ctx = mp.get_context("spawn")
    params = SharedParams(learner.online, ctx)
    params.publish(learner.online)
    env_kwargs = env_kwargs_for(config, info)
    if backend == "mp":
        source: Any = ProcessSource(config, info, params, ctx)
        evaluator: Any = ProcessEvaluator(config, info, params, ctx, env_kwargs)
    else:
        source = LocalSource(config, info, params)
        evaluator = LocalEvaluator(config, learner.online, env_kwargs)
    logger = MetricsLogger(run_dir, tensorboard=run.tensorboard,
                           progress_total=run.total_env_frames if run.progress else None)

    fps = frames_per_step(info.kind)
    limiter = RateLimiter(rcfg.samples_per_insert, rcfg.samples_per_insert_tolerance, lcfg.batch_size)
    env_steps = learner_steps = episodes = 0
    recent_returns: deque[float] = deque(maxlen=20)  # episode_return = mean of the last 20 episodes
    eval_history: list[dict[str, float]] = []
    pending_eval: float | None = None
    last_metrics: dict[str, float] = {}
    next_eval = run.eval_interval_frames if run.eval_interval_frames > 0 else None
    last_log = last_progress = time.monotonic()
    last_log_frames = last_log_steps = 0
    lr = lcfg.learning_rate
    stopped_early = False
    try:
        source.start()
        while env_steps * fps < run.total_env_frames and not stopped_early:
            if run.max_wall_s is not None and time.monotonic() - start >= run.max_wall_s:
                break
            learning = len(replay) >= rcfg.learning_starts
            may_learn = learning and limiter.learner_may_sample()
            may_insert = not learning or limiter.actors_may_insert()
            messages = source.poll(max_messages=64 if may_insert else 0, timeout=0.0 if may_learn else 0.05)
            for m in messages:
                n_before = len(replay)
                replay.add(m.items, m.priorities)
                env_steps += m.env_steps
                if learning:
                    limiter.inserted += len(m.priorities)
                elif len(replay) >= rcfg.learning_starts:
                    limiter.inserted += len(replay) - max(n_before, rcfg.learning_starts)
                for ret, _length in m.episodes:
                    episodes += 1
                    recent_returns.append(ret)
            frac = min(1.0, env_steps * fps / run.total_env_frames)
            if may_learn:
                if lcfg.learning_rate_final is not None:
                    lr = lcfg.learning_rate + frac * (lcfg.learning_rate_final - lcfg.learning_rate)
                    learner.set_learning_rate(lr)
                if rcfg.importance_sampling_exponent_final is not None and rcfg.prioritized:
                    replay.importance_sampling_exponent = rcfg.importance_sampling_exponent + frac * (
                        rcfg.importance_sampling_exponent_final - rcfg.importance_sampling_exponent)
                for _ in range(lcfg.updates_per_step):
                    sample = replay.sample(lcfg.batch_size)
                    priorities, last_metrics = learner.update(sample)
                    replay.update_priorities(sample.keys, priorities)
                    learner_steps += 1
                    limiter.sampled += lcfg.batch_size
                    if learner_steps % lcfg.publish_period == 0:
                        params.publish(learner.online)
            env_frames = env_steps * fps
            if next_eval is not None and env_frames >= next_eval:
                params.publish(learner.online)  # the evaluator reads the newest parameters
                if evaluator.request({"env_frames": env_frames, "learner_steps": learner_steps,
                                      "wall_s": round(time.monotonic() - start, 3)}):
                    next_eval = env_frames + run.eval_interval_frames
            for tag, returns in evaluator.poll():
                mean = float(np.mean(returns))
                eval_history.append({**tag, "eval_return": mean})
                pending_eval = mean
                if run.stop_eval_return is not None and mean >= run.stop_eval_return:
                    stopped_early = True
            now = time.monotonic()
            if now - last_log >= run.log_interval_s:
                row = _row(env_frames, env_steps, learner_steps, now - start, recent_returns, pending_eval,
                           (env_frames - last_log_frames) / (now - last_log),
                           (learner_steps - last_log_steps) / (now - last_log), len(replay), episodes,
                           last_metrics, lr)
                logger.log(row, _scalars(row, last_metrics))
                pending_eval = None
                last_log, last_log_frames, last_log_steps = now, env_frames, learner_steps
                last_progress = now
            elif now - last_progress >= 0.5:
                logger.progress({"env_frames": env_frames, "env_frames_per_s": (env_frames - last_log_frames) / max(
                    now - last_log, 1e-9), "learner_steps_per_s": (learner_steps - last_log_steps) / max(
                    now - last_log, 1e-9), "episode_return": _mean(recent_returns),
                    "eval_return": eval_history[-1]["eval_return"] if eval_history else None})
                last_progress = now
    finally:
        source.stop()
        evaluator.stop()

    train_wall = time.monotonic() - start
    env_frames = env_steps * fps
    final_returns = evaluate(learner.online, run.env_id, run.final_eval_episodes, epsilon=run.eval_epsilon,
                             seed=run.seed + 900_000, max_episode_steps=run.eval_max_episode_steps, **env_kwargs)
    final_eval = float(np.mean(final_returns))
    eval_history.append({"env_frames": env_frames, "learner_steps": learner_steps,
                         "wall_s": round(train_wall, 3), "eval_return": final_eval})
    wall = time.monotonic() - start
    row = _row(env_frames, env_steps, learner_steps, wall, recent_returns, final_eval,
               env_frames / max(train_wall, 1e-9), learner_steps / max(train_wall, 1e-9), len(replay), episodes,
               last_metrics, lr)
    logger.log(row, _scalars(row, last_metrics))
    logger.close()
    save_file({k: v.detach().contiguous() for k, v in learner.online.state_dict().items()},
              os.path.join(run_dir, "model.safetensors"))
    summary = {
        "algo": algo,
        "env_id": run.env_id,
        "seed": run.seed,
        "final_eval_return": final_eval,
        "final_eval_returns": final_returns,
        "best_eval_return": max(e["eval_return"] for e in eval_history),
        "eval_history": eval_history,
        "env_frames": env_frames,
        "env_steps": env_steps,
        "learner_steps": learner_steps,
        "episodes": episodes,
        "wall_s": wall,
        "train_wall_s": train_wall,
        "env_frames_per_s": env_frames / max(train_wall, 1e-9),
        "learner_steps_per_s": learner_steps / max(train_wall, 1e-9),
        "replay_size": len(replay),
        "replay_bytes": int(replay.nbytes),
        "max_rss_bytes": _max_rss_bytes(),
        "num_actors": run.num_actors if backend == "mp" else 1,
        "backend": backend,
        "stopped_early": stopped_early,
        "run_dir": run_dir,
    }
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _max_rss_bytes() -> dict[str, int]:
    """Peak resident memory of this process (learner + replay) and of the largest child (actor)."""
    return {"learner": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "largest_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}


def _mean(values: Any) -> float | None:
    return float(np.mean(values)) if values else None


def _row(env_frames: int, env_steps: int, learner_steps: int, wall: float, recent: Any,
         eval_return: float | None, fps: float, lps: float, replay_size: int, episodes: int,
         metrics: dict[str, float], lr: float) -> dict[str, Any]:
    return {
        "env_frames": env_frames,
        "env_steps": env_steps,
        "learner_steps": learner_steps,
        "wall_s": round(wall, 3),
        "episode_return": _mean(recent),
        "eval_return": eval_return,
        "env_frames_per_s": fps,
        "learner_steps_per_s": lps,
        "replay_size": replay_size,
        "episodes": episodes,
        "loss": metrics.get("learner/loss"),
        "td_abs_mean": metrics.get("learner/td_abs_mean"),
        "q_mean": metrics.get("learner/q_mean"),
        "learning_rate": lr,
    }


def _scalars(row: dict[str, Any], metrics: dict[str, float]) -> dict[str, float]:
    out = {f"learner/{k}": v for k, v in metrics.items() if not k.startswith("learner/")}
    out.update(metrics)
    for key, name in (("episode_return", "actor/episode_return"), ("eval_return", "eval/return"),
                      ("env_frames_per_s", "actor/env_frames_per_s"),
                      ("learner_steps_per_s", "learner/steps_per_s"), ("replay_size", "replay/size"),
                      ("learning_rate", "learner/learning_rate")):
        if row.get(key) is not None:
            out[name] = row[key]
    return out
