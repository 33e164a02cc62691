"""Environment frames per second of one apexrl actor process on ALE/Pong-v5, against its ceiling.

Three contenders, each in its own process started with ``spawn`` and one torch thread, stepping
``envs_per_actor`` environments of the ``atari`` preset (DeepMind preprocessing) for a fixed
number of steps after a warm-up:

* **actor**: ``apexrl.runtime.actor.Actor(atari() with num_actors=1, "apex-dqn", info, 0, params)``;
  ``actor.step()`` in a loop, every message put on a bounded ``multiprocessing`` queue that this
  (parent) process drains, so building, pickling and sending messages are included. This
  process publishes a learner network to the ``SharedParams`` ten times a second, so the
  actor's pulls (every 400 frames) copy new parameters.
* **ceiling**: the same vector env (``make_vector_env``, same number of envs, same kwargs) stepped
  with the same network's batched forward pass (argmax actions) and nothing else.
* **env only**: the same vector env with random actions.

Frames = agent steps x 4 (frame skip). Repetitions alternate between the three. The peer of the
RESULT line is the ceiling: ratio = actor / ceiling (higher is better, at most ~1).

    python benchmarks/actor_throughput.py [--quick] [--profile]
"""

from __future__ import annotations

import dataclasses
import os
import queue as queue_lib
import sys
import threading
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

NAME = "actor_throughput"
ENV_ID = "ALE/Pong-v5"
PUBLISH_EVERY_S = 0.1
FRAMES_PER_STEP = 4


def make_config(env_id: str = ENV_ID):
    from apexrl.agents.dqn.apex_dqn import atari

    config = atari()
    return dataclasses.replace(config, run=dataclasses.replace(config.run, env_id=env_id, num_actors=1))


def _child(kind: str, config, info, params, out, results, steps: int, warmup: int, seed: int) -> None:
    """One contender's loop (runs in a spawned process)."""
    import torch

    torch.set_num_threads(1)
    try:
        if kind == "actor":
            from apexrl.runtime.actor import Actor

            actor = Actor(config, "apex-dqn", info, 0, params)
            num_envs = actor.num_envs
            sent = {"messages": 0, "transitions": 0, "frames": 0}

            def step() -> None:
                m = actor.step()
                if m is not None:
                    out.put(m)
                    sent["messages"] += 1
                    sent["transitions"] += len(m.priorities)
                    sent["frames"] += len(getattr(m.items, "frames", ()))

            for _ in range(warmup):
                step()
            version0 = actor.param_version
            sent = {"messages": 0, "transitions": 0, "frames": 0}
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            dt = time.perf_counter() - t0
            extra = {**sent, "param_versions_pulled": actor.param_version - version0}
            actor.close()
        else:
            from apexrl.envs import make_vector_env
            from apexrl.nets import build_q_network
            from apexrl.runtime.actor import env_kwargs_for

            num_envs = config.actor.envs_per_actor
            envs = make_vector_env(config.run.env_id, num_envs, seed, training=True, context="ceiling",
                                   **env_kwargs_for(config, info))
            rng = np.random.default_rng(seed)
            num_actions = int(info.num_actions)
            obs, _ = envs.reset(seed=seed)
            if kind == "ceiling":
                lcfg = config.learner
                net = build_q_network(info.kind, info.obs_shape, num_actions, lcfg.hidden_sizes, lcfg.dueling)
                net.eval()
                params.pull(net)

                def act(o: np.ndarray) -> np.ndarray:
                    with torch.inference_mode():
                        return net(torch.from_numpy(o)).argmax(dim=1).numpy()
            else:

                def act(o: np.ndarray) -> np.ndarray:
                    return rng.integers(0, num_actions, size=num_envs)

            for _ in range(warmup):
                obs = envs.step(act(obs))[0]
            t0 = time.perf_counter()
            for _ in range(steps):
                obs = envs.step(act(obs))[0]
            dt = time.perf_counter() - t0
            extra = {}
            envs.close()
        results.put({"kind": kind, "ok": True, "seconds": dt, "agent_steps": steps * num_envs,
                     "num_envs": num_envs, **extra})
    except Exception as exc:  # reported to the parent
        import traceback

        results.put({"kind": kind, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()})


def run_once(ctx, kind: str, config, info, params, steps: int, warmup: int, seed: int) -> dict[str, Any]:
    out = ctx.Queue(maxsize=config.actor.queue_size)
    results = ctx.Queue()
    proc = ctx.Process(target=_child, args=(kind, config, info, params, out, results, steps, warmup, seed),
                       name=f"bench-{kind}", daemon=True)
    drained = {"messages": 0}
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set() or not out.empty():
            try:
                out.get(timeout=0.05)
                drained["messages"] += 1
            except queue_lib.Empty:
                continue

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    proc.start()
    result = None
    while result is None:
        try:
            result = results.get(timeout=1.0)
        except queue_lib.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"{kind} process died with exit code {proc.exitcode}") from None
    proc.join(timeout=30)
    stop.set()
    drainer.join(timeout=10)
    if not result["ok"]:
        raise RuntimeError(f"{kind} failed: {result['error']}\n{result['traceback']}")
    result["frames_per_s"] = result["agent_steps"] * FRAMES_PER_STEP / result["seconds"]
    result["messages_drained"] = drained["messages"]
    return result


def profile_actor(config, info, params, steps: int) -> None:
    """Profile ``actor.step()`` in this process (pyinstrument) and print where the time goes."""
    import torch

    from apexrl.runtime.actor import Actor

    try:
        from pyinstrument import Profiler
    except ImportError:
        print("--profile needs pyinstrument (pip install pyinstrument)")
        return
    torch.set_num_threads(1)
    actor = Actor(config, "apex-dqn", info, 0, params)
    for _ in range(50):
        actor.step()
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(steps):
        actor.step()
    profiler.stop()
    actor.close()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


def main() -> None:
    args = H.parse_args(__doc__.split("\n\n")[0],
                        extra=lambda p: p.add_argument("--profile", action="store_true",
                                                       help="also profile actor.step() in-process with pyinstrument"))
    t_start = time.perf_counter()
    import multiprocessing as mp

    import torch

    from apexrl.envs import env_info
    from apexrl.agents.dqn.learner import DQNLearner
    from apexrl.runtime.params import SharedParams

    torch.set_num_threads(1)
    quick = args.quick
    reps = 2 if quick else 5
    steps = 250 if quick else 3_000
    warmup = 30 if quick else 100

    config = make_config()
    info = env_info(ENV_ID)
    ctx = mp.get_context("spawn")
    learner = DQNLearner(config.learner, info, seed=0)
    params = SharedParams(learner.online, ctx)
    params.publish(learner.online)

    stop_publishing = threading.Event()
    published = {"count": 0}

    def publisher() -> None:  # a learner that publishes new parameters periodically
        with torch.no_grad():
            while not stop_publishing.wait(PUBLISH_EVERY_S):
                for p in learner.online.parameters():
                    p.mul_(1.0 - 1e-6)
                params.publish(learner.online)
                published["count"] += 1

    pub = threading.Thread(target=publisher, daemon=True)
    pub.start()
    records: dict[str, list[dict[str, Any]]] = {"actor": [], "ceiling": [], "env_only": []}

    def measure(kind: str):
        def run() -> float:
            r = run_once(ctx, kind, config, info, params, steps, warmup, seed=1_000 + len(records[kind]))
            records[kind].append(r)
            print(f"  {kind:8s} {H.fmt(r['frames_per_s'])} frames/s ({r['agent_steps']} agent steps in "
                  f"{H.fmt(r['seconds'])} s)", flush=True)
            return r["frames_per_s"]

        return run

    try:
        samples = H.interleaved({k: measure(k) for k in records}, reps)
        if args.profile:
            profile_actor(config, info, params, steps)
    finally:
        stop_publishing.set()
        pub.join(timeout=5)

    stats = {k: H.spread(v) for k, v in samples.items()}
    fa, fc, fe = stats["actor"]["median"], stats["ceiling"]["median"], stats["env_only"]["median"]
    r_ceiling = H.ratio(fa, fc)
    r_env = H.ratio(fa, fe)
    num_envs = config.actor.envs_per_actor
    H.print_table(
        f"{ENV_ID}, {num_envs} envs per actor, 1 torch thread, {reps} reps x {steps} steps "
        f"({steps * num_envs} agent steps)",
        ["contender", "frames/s (median)", "min", "max", "actor / this"],
        [["apexrl actor (sending)", fa, stats["actor"]["min"], stats["actor"]["max"], 1.0],
         ["ceiling: env + batched forward", fc, stats["ceiling"]["min"], stats["ceiling"]["max"], r_ceiling],
         ["env only, random actions", fe, stats["env_only"]["min"], stats["env_only"]["max"], r_env]],
    )
    actor_recs = records["actor"]
    H.finish(
        NAME,
        {"apexrl": fa, "peer": fc, "ratio": r_ceiling, "unit": "frames_per_s",
         "ratio_definition": "apexrl actor frames/s / ceiling (same vector env + batched forward, argmax) frames/s",
         "better": "higher", "target": ">= 0.85", "ratio_to_env_only": r_env},
        figures={
            "frames_per_s": stats,
            "samples_frames_per_s": samples,
            "ratio_actor_over_ceiling": r_ceiling,
            "ratio_actor_over_env_only": r_env,
            "ratio_ceiling_over_env_only": H.ratio(fc, fe),
            "actor_messages_per_rep": [r["messages"] for r in actor_recs],
            "actor_transitions_per_rep": [r["transitions"] for r in actor_recs],
            "actor_param_versions_pulled_per_rep": [r["param_versions_pulled"] for r in actor_recs],
            "messages_drained_per_rep": [r["messages_drained"] for r in actor_recs],
            "parameter_publications": published["count"],
            "runs": records,
        },
        peer="ceiling (same env + forward pass, no actor logic)",
        peer_version=f"torch {torch.__version__}",
        quick=quick,
        threads={"torch_num_threads": 1,
                 "mode": "each contender in its own spawned process with 1 torch thread; this process drains "
                         "the actor's queue and publishes parameters (other core)"},
        settings={"env_id": ENV_ID, "preset": "atari", "num_actors": 1, "envs_per_actor": num_envs,
                  "local_buffer_size": config.actor.local_buffer_size,
                  "param_update_period_frames": config.actor.param_update_period_frames,
                  "queue_size": config.actor.queue_size, "publish_every_s": PUBLISH_EVERY_S,
                  "reps": reps, "steps_per_rep": steps, "warmup_steps": warmup,
                  "frames_per_agent_step": FRAMES_PER_STEP, "start_method": "spawn"},
        notes=["Process start-up, env creation and warm-up are excluded from each timing.",
               "The actor's epsilon is 0.4 (one actor, Ape-X schedule); the ceiling always acts greedily, "
               "env-only uniformly at random (episode resets differ slightly)."],
        duration_s=time.perf_counter() - t_start,
    )


if __name__ == "__main__":
    main()
