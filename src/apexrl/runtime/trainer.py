"""The Ape-X training loop, one for every agent: replay and learner in this process, actors wherever
the backend puts them (Horgan et al. 2018, Algorithms 1 and 2).

The loop knows no algorithm and no backend: it receives an :class:`apexrl.agents.base.Agent`
(networks, actor policy, learner) and a backend object (:mod:`apexrl.backends`: replay,
parameters, experience source, evaluator). :func:`apexrl.runtime.run.train` picks both by name.

Each iteration: take actor messages into the prioritized replay (unless the rate limiter says
the learner is behind), run learner steps on prioritized samples (unless it is ahead), store
the new priorities, publish parameters, ask for evaluations, log. The run directory receives
``config.json``, ``metrics.csv``, TensorBoard events, ``model.safetensors`` and
``summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import resource
import signal
import threading
import time
from collections import deque
from typing import Any

import numpy as np
import torch

from apexrl.agents import Agent, agents_for
from apexrl.config import to_dict
from apexrl.envs import check_env_id, require_action_space
from apexrl.logging import MetricsLogger, cut_metrics_to_checkpoint
from apexrl.runtime.actor import env_kwargs_for, frames_per_step
from apexrl.runtime.checkpoint import CheckpointWriter, load_latest, write_run_files
from apexrl.runtime.device import resolve_device
from apexrl.runtime.evaluator import evaluate
from apexrl.runtime.header import announce_run
from apexrl.runtime.seeding import first_generation

log = logging.getLogger("apexrl")


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


class LearnerError(RuntimeError):
    """The learner produced non-finite losses or gradients ``max_consecutive_nonfinite`` times in
    a row; the run stopped without writing a checkpoint (the last good one is untouched)."""


def _versions() -> dict[str, str]:
    import platform

    import gymnasium

    from apexrl import __version__

    return {"apexrl": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "gymnasium": gymnasium.__version__, "python": platform.python_version()}


def train(config: Any, agent: Agent, backend: Any, resume: str | None = None, *,
          stop_requests: list[int] | None = None, progress_hook: Any = None) -> dict[str, Any]:
    """Train ``agent`` on ``backend``, write the run directory and return the summary (also in
    ``summary.json``).

    Checkpoints (:mod:`apexrl.runtime.checkpoint`) are written every ``checkpoint_every_min``
    minutes, at the end, and on SIGTERM / SIGINT; a signal stops training after the checkpoint
    and returns a summary with ``interrupted`` set (no final evaluation, no ``summary.json``).

    Args:
        config: the run's configuration (an instance of ``agent.config_class``).
        agent: the algorithm (:class:`apexrl.agents.base.Agent`); its name is recorded in the
            run directory and checkpoints.
        backend: where actors, replay and evaluator run (:func:`apexrl.backends.make_backend`).
        resume: a run directory to continue from its newest complete checkpoint: counters,
            networks, optimizer state, replay contents and priorities, RNG states, evaluation
            history; ``metrics.csv`` is appended to. ``config`` is the configuration to continue
            with (the CLI starts from the run's saved one).
        stop_requests: a list other threads append signal numbers to; training stops (with a
            checkpoint) as soon as it is non-empty, as on SIGTERM. Signal handlers are installed
            only when called from the main thread.
        progress_hook: called with the progress dict (``env_frames``, ``env_frames_per_s``, …)
            whenever the progress bar would be refreshed.

    Raises:
        apexrl.viz.MissingVizDependency: ``--video-every-evals`` without the viz extra.
        ValueError: unknown env id (with Gymnasium's suggestions), an action space the agent
            cannot act in, an occupied run directory, a replay larger than the available memory,
            a ``--device`` that is not there, a checkpoint that does not fit ``config`` or was
            written by another algorithm.
        apexrl.runtime.checkpoint.CheckpointError: ``resume`` has no usable checkpoint;
            ``max_checkpoint_failures`` checkpoint writes failed in a row; or ``model.safetensors`` /
            ``summary.json`` could not be written (the message says what was saved).
        apexrl.runtime.actor.ActorError: an actor is in a crash loop (see
            :class:`~apexrl.runtime.actor.ActorRestarts`).
        LearnerError: too many consecutive non-finite updates.
    """
    algo = agent.name
    session_start = time.monotonic()
    run, rcfg, lcfg = config.run, config.replay, config.learner
    check_env_id(run.env_id)
    if run.video_every_evals > 0:  # before anything is made: the evaluator would fail at its K-th evaluation
        from apexrl.viz import require

        require("imageio_ffmpeg", "--video-every-evals")
    info = require_action_space(run.env_id, algo, agent.action_kind,
                                {kind: agents_for(kind) for kind in ("discrete", "continuous")})
    device = resolve_device(lcfg.device)
    checkpoint = None
    if resume is not None:
        checkpoint = load_latest(resume)
        if checkpoint.state.get("algo") != algo:
            raise ValueError(f"--resume {resume!r} holds a {checkpoint.state.get('algo')!r} run, not {algo!r}")
        run_dir = resume
        config = dataclasses.replace(config, run=dataclasses.replace(run, run_dir=resume))
    else:
        run_dir = run.run_dir or default_run_dir(algo, run.env_id, run.seed)
        prepare_run_dir(run_dir)
        config = dataclasses.replace(config, run=dataclasses.replace(run, run_dir=run_dir))  # evaluators write here
    ckpts = CheckpointWriter(run_dir, run.keep_checkpoints, run.max_checkpoint_failures)  # cleans debris
    replay = backend.replay(config, info, agent)  # fails fast when it would not fit in memory (where it is placed)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({"algo": algo, "config": to_dict(config)}, f, indent=2)

    num_actor_procs = backend.actor_processes(config)
    # one core per actor process and one for the evaluator; more learner threads than free cores
    # make torch's spinning OpenMP workers collapse (10x slower updates) when the others are busy
    threads = run.learner_threads or max(1, (os.cpu_count() or 1) - num_actor_procs - 1)
    torch.set_num_threads(threads)
    announce_run(config, algo, run_dir, f"{device} ({threads} torch thread{'s' if threads > 1 else ''})")
    learner = agent.build_learner(config, info, run.seed, device)
    acting = learner.acting_network()
    # evaluation acts on the host: a CPU mirror of the acting network when the learner is on a GPU
    on_host = acting if device.type == "cpu" else agent.build_network(config, info)
    fps = frames_per_step(info.kind)
    # a bounded replay (the on-policy rollout queue) says when it is full: no messages are taken
    # then, so actors block on their bounded outboxes; replays without the hook always have room
    replay_has_room = getattr(replay, "may_insert", None) or (lambda: True)
    limiter = RateLimiter(rcfg.samples_per_insert, rcfg.samples_per_insert_tolerance, lcfg.batch_size)
    c = {"env_steps": 0, "learner_steps": 0, "episodes": 0, "next_eval": run.eval_interval_frames,
         "train_wall_s": 0.0, "actor_restarts": 0, "resumes": 0, "inserted": 0}
    recent_returns: deque[float] = deque(maxlen=20)  # episode_return = mean of the last 20 episodes
    eval_history: list[dict[str, float]] = []
    if checkpoint is not None:
        state = checkpoint.state
        learner.load_state_dict(checkpoint.tensors, state["learner"])
        if state.get("replay") is not None:
            replay.load_state_dict(checkpoint.arrays, state["replay"])
        torch.set_rng_state(checkpoint.tensors["rng.torch"])
        c.update({"inserted": len(replay)}, **state["counters"])
        c["resumes"] += 1
        limiter.inserted, limiter.sampled = state["limiter"]["inserted"], state["limiter"]["sampled"]
        recent_returns.extend(state["recent_returns"])
        eval_history = list(state["eval_history"])
    start = session_start - c["train_wall_s"]  # wall_s continues where the checkpoint left off
    env_steps, learner_steps, episodes, inserted = c["env_steps"], c["learner_steps"], c["episodes"], c["inserted"]
    restarts_before = c["actor_restarts"]
    next_eval = c["next_eval"] if run.eval_interval_frames > 0 else None

    params = backend.params(acting)
    params.publish(acting)
    env_kwargs = env_kwargs_for(config, info)
    generation = first_generation(c["resumes"])  # resumed actors get new seeds and new replay streams
    source = backend.source(config, algo, info, params, generation, env_steps * fps)
    evaluator = backend.evaluator(config, algo, info, params, on_host, env_kwargs)
    if checkpoint is not None:  # rows a killed run logged after its checkpoint go to a side file
        cut_metrics_to_checkpoint(run_dir, env_steps * fps, learner_steps)
    logger = MetricsLogger(run_dir, tensorboard=run.tensorboard, append=checkpoint is not None,
                           progress_total=run.total_env_frames if run.progress else None,
                           log_interval_s=run.log_interval_s)

    def save(now: float) -> str | None:
        """Checkpoint the consistent state at the end of a loop iteration; not during a streak of
        non-finite updates, so the last good checkpoints are never rotated out by doubtful ones."""
        if learner.consecutive_skipped > 0:
            return None
        tensors, learner_meta = learner.state_dict()
        tensors["rng.torch"] = torch.get_rng_state()
        arrays, replay_meta = replay.state_dict() if run.checkpoint_replay else ({}, None)
        counters = {"env_steps": env_steps, "learner_steps": learner_steps, "episodes": episodes, "inserted": inserted,
                    "next_eval": next_eval or 0, "train_wall_s": now - start,
                    "actor_restarts": restarts_before + source.restarts.total, "resumes": c["resumes"]}
        state = {"format": 1, "algo": algo, "config": to_dict(config), "versions": _versions(),
                 "counters": counters, "limiter": {"inserted": limiter.inserted, "sampled": limiter.sampled},
                 "recent_returns": list(recent_returns), "eval_history": eval_history,
                 "learner": learner_meta, "replay": replay_meta}
        try:  # a failed write (disk full, for example) is logged and counted, up to a bound
            return ckpts.save(learner_steps, tensors, arrays, state)
        except ValueError as exc:  # NaN parameters: keep the previous checkpoint
            log.warning("checkpoint skipped: %s", exc)
        return None

    signals: list[int] = stop_requests if stop_requests is not None else []
    old_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            old_handlers[sig] = signal.signal(sig, lambda signum, frame: signals.append(signum))

    pending_eval: float | None = None
    last_metrics: dict[str, float] = {}
    last_log = last_progress = last_checkpoint = time.monotonic()
    last_log_frames, last_log_steps = env_steps * fps, learner_steps
    stopped_early = False
    checkpoint_path = None
    checkpoint_s = run.checkpoint_every_min * 60.0
    try:
        source.start()
        while env_steps * fps < run.total_env_frames and not stopped_early and not signals:
            if run.max_wall_s is not None and time.monotonic() - session_start >= run.max_wall_s:
                break
            learning = inserted >= rcfg.learning_starts
            may_learn = learning and limiter.learner_may_sample() and replay.can_sample(lcfg.batch_size)
            may_insert = (not learning or limiter.actors_may_insert()) and replay_has_room()
            messages = source.poll(max_messages=64 if may_insert else 0, timeout=0.0 if may_learn else 0.05)
            for m in messages:
                if m.items is not None:  # a receipt's items are already in a replay shard
                    replay.add(m.items, m.priorities)
                count = m.num_transitions
                env_steps += m.env_steps
                if learning:
                    limiter.inserted += count
                elif inserted + count >= rcfg.learning_starts:
                    limiter.inserted += inserted + count - max(inserted, rcfg.learning_starts)
                inserted += count
                for ret, _length in m.episodes:
                    episodes += 1
                    recent_returns.append(ret)
            frac = min(1.0, env_steps * fps / run.total_env_frames)
            if may_learn:
                learner.set_progress(frac)
                if rcfg.importance_sampling_exponent_final is not None and rcfg.prioritized:
                    replay.importance_sampling_exponent = rcfg.importance_sampling_exponent + frac * (
                        rcfg.importance_sampling_exponent_final - rcfg.importance_sampling_exponent)
                for _ in range(lcfg.updates_per_step):
                    sample = replay.sample(lcfg.batch_size)
                    priorities, last_metrics = learner.update(sample)
                    replay.update_priorities(sample.keys, priorities)
                    learner_steps += 1
                    limiter.sampled += lcfg.batch_size
                    if learner.consecutive_skipped >= lcfg.max_consecutive_nonfinite:
                        raise LearnerError(
                            f"{learner.consecutive_skipped} consecutive learner steps had a NaN or infinite loss "
                            f"or gradient (--max-consecutive-nonfinite {lcfg.max_consecutive_nonfinite}) at "
                            f"learner step {learner_steps}; no checkpoint was written after the last good one "
                            "(try a lower --learning-rate or --max-grad-norm)")
                    if learner_steps % lcfg.publish_period == 0:
                        params.publish(acting)
            env_frames = env_steps * fps
            if next_eval is not None and env_frames >= next_eval:
                params.publish(acting)  # the evaluator reads the newest parameters
                if on_host is not acting:
                    on_host.load_state_dict(acting.state_dict())
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
            if now - last_log >= run.log_interval_s and env_frames > last_log_frames:  # no row without experience
                row = _row(env_frames, env_steps, learner_steps, now - start, recent_returns, pending_eval,
                           (env_frames - last_log_frames) / (now - last_log),
                           (learner_steps - last_log_steps) / (now - last_log), len(replay), episodes,
                           last_metrics, restarts_before + source.restarts.total, len(ckpts.errors))
                scalars = _scalars(row, last_metrics)
                scalars.update({f"runtime/checkpoint_{k}": v for k, v in ckpts.last_stats.items()})
                logger.log(row, scalars)
                pending_eval = None
                last_log, last_log_frames, last_log_steps = now, env_frames, learner_steps
                last_progress = now
                if progress_hook is not None:
                    progress_hook(row)
            elif now - last_progress >= 0.5:
                snapshot = {"env_frames": env_frames, "env_frames_per_s": (env_frames - last_log_frames) / max(
                    now - last_log, 1e-9), "learner_steps_per_s": (learner_steps - last_log_steps) / max(
                    now - last_log, 1e-9), "episode_return": _mean(recent_returns),
                    "eval_return": eval_history[-1]["eval_return"] if eval_history else None}
                logger.progress(snapshot)
                if progress_hook is not None:
                    progress_hook(snapshot)
                last_progress = now
            if checkpoint_s > 0 and now - last_checkpoint >= checkpoint_s and learner.consecutive_skipped == 0:
                checkpoint_path = save(now) or checkpoint_path
                last_checkpoint = time.monotonic()
        checkpoint_path = save(time.monotonic()) or checkpoint_path  # the end, a signal, a wall-time stop
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        source.stop()
        evaluator.stop()
    placement = backend.placement_summary()

    actor_restarts = restarts_before + source.restarts.total
    train_wall = time.monotonic() - start
    env_frames = env_steps * fps
    if signals:
        logger.close()
        name = signal.Signals(signals[0]).name
        return {"algo": algo, "env_id": run.env_id, "run_dir": run_dir, "interrupted": name,
                "signal": int(signals[0]), "checkpoint": checkpoint_path, "env_frames": env_frames,
                "checkpoint_error": ckpts.errors[-1] if ckpts.consecutive else None,
                "learner_steps": learner_steps, "wall_s": train_wall, "actor_restarts": actor_restarts, **placement}
    if on_host is not acting:
        on_host.load_state_dict(acting.state_dict())
    final_returns = evaluate(agent, on_host, run.env_id, run.final_eval_episodes, epsilon=run.eval_epsilon,
                             seed=run.seed + 900_000, max_episode_steps=run.eval_max_episode_steps, **env_kwargs)
    final_eval = float(np.mean(final_returns))
    eval_history.append({"env_frames": env_frames, "learner_steps": learner_steps,
                         "wall_s": round(train_wall, 3), "eval_return": final_eval})
    wall = time.monotonic() - start
    session_train_s = max(train_wall - c["train_wall_s"], 1e-9)
    row = _row(env_frames, env_steps, learner_steps, wall, recent_returns, final_eval,
               (env_frames - c["env_steps"] * fps) / session_train_s, (learner_steps - c["learner_steps"])
               / session_train_s, len(replay), episodes, last_metrics, actor_restarts, len(ckpts.errors))
    logger.log(row, _scalars(row, last_metrics))
    logger.close()
    finite = all(bool(torch.isfinite(p).all()) for p in acting.parameters())
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
        "env_frames_per_s": (env_frames - c["env_steps"] * fps) / session_train_s,
        "learner_steps_per_s": (learner_steps - c["learner_steps"]) / session_train_s,
        "replay_size": len(replay),
        "replay_bytes": int(replay.nbytes),
        "max_rss_bytes": _max_rss_bytes(),
        "num_actors": max(1, num_actor_procs),
        "backend": backend.name,
        "device": str(device),
        "stopped_early": stopped_early,
        "actor_restarts": actor_restarts,
        "actor_restarts_per_actor": list(source.restarts.counts),
        "skipped_updates": learner.skipped_updates,
        "resumes": c["resumes"],
        "checkpoint": checkpoint_path,
        "checkpoint_errors": ckpts.errors,
        "last_checkpoint_stats": ckpts.last_stats,
        "run_dir": run_dir,
    }
    summary.update(placement)
    network_state = {k: v.detach().cpu() for k, v in acting.state_dict().items()} if finite else None
    write_run_files(run_dir, network_state, summary, algo)  # CheckpointError
    return summary


def _max_rss_bytes() -> dict[str, int]:
    """Peak resident memory of this process (learner + replay) and of the largest child (actor)."""
    return {"learner": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "largest_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}


def _mean(values: Any) -> float | None:
    return float(np.mean(values)) if values else None


def _row(env_frames: int, env_steps: int, learner_steps: int, wall: float, recent: Any,
         eval_return: float | None, fps: float, lps: float, replay_size: int, episodes: int,
         metrics: dict[str, float], actor_restarts: int = 0, checkpoint_errors: int = 0) -> dict[str, Any]:
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
        "learning_rate": metrics.get("learner/learning_rate"),
        "actor_restarts": actor_restarts,
        "checkpoint_errors": checkpoint_errors,
    }


def _scalars(row: dict[str, Any], metrics: dict[str, float]) -> dict[str, float]:
    out = {f"learner/{k}": v for k, v in metrics.items() if not k.startswith("learner/")}
    out.update(metrics)
    for key, name in (("episode_return", "actor/episode_return"), ("eval_return", "eval/return"),
                      ("env_frames_per_s", "actor/env_frames_per_s"),
                      ("learner_steps_per_s", "learner/steps_per_s"), ("replay_size", "replay/size"),
                      ("learning_rate", "learner/learning_rate"), ("actor_restarts", "actor/restarts"),
                      ("checkpoint_errors", "runtime/checkpoint_errors")):
        if row.get(key) is not None:
            out[name] = row[key]
    return out
