"""Continuous control, apexrl against Stable-Baselines3 in one run: Pendulum-v1 wall time to a greedy
mean of -200, learner updates/s of SAC, and (with --halfcheetah) HalfCheetah-v5 returns.

1. **Pendulum-v1, wall time to a 20-episode greedy mean >= -200** (median over seeds):
   * apexrl ``sac`` and ``d4pg`` with ``--preset pendulum``, evaluated every
     ``EVAL_EVERY`` frames on 20 episodes (``--stop-eval-return -200`` ends the run there); the
     time is the ``wall_s`` tag of the first evaluation reaching -200 (taken when its parameters
     were published). With the ``local`` backend (``sac``) earlier evaluations run in the
     learner's process and their time is inside apexrl's figure; with ``mp`` (``d4pg``) they run in
     the evaluator process.
   * SB3 ``SAC`` and ``TD3`` with the rl-baselines3-zoo Pendulum-v1 hyperparameters, trained in
     chunks of ``EVAL_EVERY`` steps; after each chunk 20 deterministic episodes on a separate env,
     whose time is *not* counted. A run that never reaches -200 counts as its whole budget
     (``inf`` in the JSON).
2. **Learner updates/s at batch 256, 256x256 networks**: apexrl ``sac`` (``replay.sample`` from a
   filled replay + ``learner.update``) against SB3 ``SAC.train(gradient_steps=K, batch_size=256)``
   (its own replay sampling inside), both on random Pendulum-shaped transitions, repetitions
   interleaved, the same torch thread count.
3. ``--halfcheetah``: HalfCheetah-v5 (``mujoco`` extra), return after 300K env steps and the wall
   time, 2 seeds each, apexrl ``sac``, ``td3``, ``d4pg``, ``apex-dpg`` (``--preset mujoco``) against
   SB3 ``SAC`` (CleanRL-like settings). Hours on a small machine; off by default.

The RESULT line is part 1's median time of apexrl ``sac`` over SB3 ``SAC`` (lower is better);
the other ratios are in the JSON and the printed tables.

    python benchmarks/continuous_control.py [--quick] [--seeds 5] [--halfcheetah]
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

NAME = "continuous_control"
THRESHOLD = -200.0
EVAL_EPISODES = 20
EVAL_EVERY = 1_000
BUDGET = 30_000  # env steps of every Pendulum run (the zoo trains 20K)


# ----------------------------------------------------------------------------- part 1: apexrl
def apexrl_time_to_threshold(algo: str, seed: int, budget: int, out_dir: str) -> dict[str, Any]:
    """Train ``algo`` on Pendulum-v1 until a 20-episode greedy evaluation reaches -200."""
    from apexrl.agents import get_agent
    from apexrl.runtime.run import train

    base = get_agent(algo).presets["pendulum"]()
    run = dataclasses.replace(base.run, seed=seed, total_env_frames=budget, eval_interval_frames=EVAL_EVERY,
                              eval_episodes=EVAL_EPISODES, final_eval_episodes=EVAL_EPISODES,
                              stop_eval_return=THRESHOLD, progress=False, tensorboard=False,
                              checkpoint_every_min=0.0, run_dir=os.path.join(out_dir, f"{algo}-s{seed}"))
    t0 = time.perf_counter()
    summary = train(dataclasses.replace(base, run=run), algo)
    hit = [e for e in summary["eval_history"] if e["eval_return"] >= THRESHOLD]
    return {"seed": seed, "time_s": hit[0]["wall_s"] if hit else math.inf,
            "frames": hit[0]["env_frames"] if hit else None, "final_eval_return": summary["final_eval_return"],
            "process_s": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- part 1: SB3
def sb3_model(algo: str, seed: int, env: Any) -> Any:
    """SB3 ``SAC`` / ``TD3`` with the rl-baselines3-zoo Pendulum-v1 hyperparameters."""
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    if algo == "SAC":  # zoo sac.yml: n_timesteps 20000, learning_rate 1e-3; SB3 defaults otherwise
        return SAC("MlpPolicy", env, learning_rate=1e-3, seed=seed, verbose=0, device="cpu")
    # zoo td3.yml: gamma 0.98, buffer 200000, learning_starts 10000, normal noise 0.1, net_arch [400, 300]
    d = env.action_space.shape[0]
    return TD3("MlpPolicy", env, learning_rate=1e-3, gamma=0.98, buffer_size=200_000, learning_starts=10_000,
               action_noise=NormalActionNoise(np.zeros(d), 0.1 * np.ones(d)), train_freq=1, gradient_steps=1,
               policy_kwargs={"net_arch": [400, 300]}, seed=seed, verbose=0, device="cpu")


def sb3_time_to_threshold(algo: str, seed: int, budget: int) -> dict[str, Any]:
    """Train SB3 ``algo`` in chunks until a 20-episode deterministic evaluation reaches -200."""
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy

    env, eval_env = gym.make("Pendulum-v1"), gym.make("Pendulum-v1")
    model = sb3_model(algo, seed, env)
    trained_s, steps, last = 0.0, 0, None
    while steps < budget:
        t = time.perf_counter()
        model.learn(EVAL_EVERY, reset_num_timesteps=False)
        trained_s += time.perf_counter() - t
        steps += EVAL_EVERY
        eval_env.reset(seed=seed + 10_000 + steps)
        last, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        if last >= THRESHOLD:
            return {"seed": seed, "time_s": trained_s, "frames": steps, "final_eval_return": float(last)}
    return {"seed": seed, "time_s": math.inf, "frames": None, "final_eval_return": float(last)}


# ----------------------------------------------------------------------------- part 2: updates/s
def update_rates(batch: int, updates: int, reps: int) -> dict[str, list[float]]:
    """Interleaved updates/s of apexrl's SAC learner and SB3's ``SAC.train``."""
    import gymnasium as gym
    import torch

    from apexrl.agents import get_agent
    from apexrl.envs import env_info
    from apexrl.replay.build import build_replay
    from apexrl.types import Transitions

    rng = np.random.default_rng(0)
    fill = 20_000
    agent = get_agent("sac")
    config = agent.presets["pendulum"]()
    config = dataclasses.replace(config, learner=dataclasses.replace(config.learner, batch_size=batch,
                                                                     hidden_sizes=(256, 256)))
    info = env_info("Pendulum-v1")
    replay = build_replay(dataclasses.replace(config.replay, replay_capacity=fill), info, seed=0)
    obs = rng.standard_normal((fill, 3)).astype(np.float32)
    replay.add(Transitions(obs=obs, action=rng.uniform(-1, 1, (fill, 1)).astype(np.float32),
                           reward=rng.standard_normal(fill).astype(np.float32),
                           discount=np.full(fill, 0.99, np.float32), next_obs=np.roll(obs, -1, axis=0)))
    learner = agent.build_learner(config, info, 0, torch.device("cpu"))
    env = gym.make("Pendulum-v1")
    sb3 = sb3_model("SAC", 0, env)
    sb3.learning_starts = 0
    for i in range(fill):  # the same number of random transitions in SB3's replay
        sb3.replay_buffer.add(obs[i:i + 1], obs[(i + 1) % fill][None], rng.uniform(-1, 1, (1, 1)),
                              np.array([rng.standard_normal()]), np.array([False]), [{}])
    sb3._setup_learn(1, reset_num_timesteps=True)

    def apexrl_run() -> float:
        t = time.perf_counter()
        for _ in range(updates):
            sample = replay.sample(batch)
            priorities, _ = learner.update(sample)
            replay.update_priorities(sample.keys, priorities)
        return updates / (time.perf_counter() - t)

    def sb3_run() -> float:
        t = time.perf_counter()
        sb3.train(gradient_steps=updates, batch_size=batch)
        return updates / (time.perf_counter() - t)

    apexrl_run(), sb3_run()  # warm-up
    return H.interleaved({"apexrl": apexrl_run, "sb3": sb3_run}, reps)


# ----------------------------------------------------------------------------- part 3: HalfCheetah
def halfcheetah(seeds: list[int], steps: int, out_dir: str) -> dict[str, Any]:
    """Return after ``steps`` env steps and wall time per algorithm and seed on HalfCheetah-v5."""
    import gymnasium as gym
    from stable_baselines3 import SAC
    from stable_baselines3.common.evaluation import evaluate_policy

    from apexrl.agents import get_agent
    from apexrl.runtime.run import train

    out: dict[str, Any] = {}
    for algo in ("sac", "td3", "d4pg", "apex-dpg"):
        base = get_agent(algo).presets["mujoco"]()
        for seed in seeds:
            run = dataclasses.replace(base.run, env_id="HalfCheetah-v5", seed=seed, total_env_frames=steps,
                                      progress=False, tensorboard=False,
                                      run_dir=os.path.join(out_dir, f"hc-{algo}-s{seed}"))
            s = train(dataclasses.replace(base, run=run), algo)
            out.setdefault(algo, []).append({"seed": seed, "final_eval_return": s["final_eval_return"],
                                             "wall_s": s["wall_s"]})
    for seed in seeds:  # CleanRL-like SAC: 5K random steps, policy lr 3e-4, q lr 1e-3
        env, eval_env = gym.make("HalfCheetah-v5"), gym.make("HalfCheetah-v5")
        model = SAC("MlpPolicy", env, learning_rate=3e-4, learning_starts=5_000, seed=seed, verbose=0, device="cpu")
        t = time.perf_counter()
        model.learn(steps)
        wall = time.perf_counter() - t
        mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
        out.setdefault("sb3-SAC", []).append({"seed": seed, "final_eval_return": float(mean), "wall_s": wall})
    return out


def _median(rows: list[dict[str, Any]]) -> float:
    return float(np.median([r["time_s"] for r in rows]))


def main() -> None:
    args = H.parse_args(__doc__.split("\n\n")[0], extra=lambda p: (
        p.add_argument("--seeds", type=int, default=5),
        p.add_argument("--halfcheetah", action="store_true", help="also run part 3 (hours)")))
    t_start = time.perf_counter()
    import stable_baselines3
    import torch

    torch.set_num_threads(1)
    seeds = list(range(1 if args.quick else args.seeds))
    budget = 4_000 if args.quick else BUDGET
    figures: dict[str, Any] = {"pendulum": {}, "settings": {"threshold": THRESHOLD, "eval_episodes": EVAL_EPISODES,
                                                             "eval_every": EVAL_EVERY, "budget": budget}}
    with tempfile.TemporaryDirectory() as out_dir:
        for seed in seeds:  # interleave the libraries seed by seed
            for algo in ("sac", "d4pg"):
                r = apexrl_time_to_threshold(algo, seed, budget, out_dir)
                figures["pendulum"].setdefault(f"apexrl-{algo}", []).append(r)
                print(f"  apexrl {algo} seed {seed}: {H.fmt(r['time_s'])} s to {THRESHOLD:g}", flush=True)
            torch.set_num_threads(1)
            for algo in ("SAC", "TD3"):
                r = sb3_time_to_threshold(algo, seed, budget)
                figures["pendulum"].setdefault(f"sb3-{algo}", []).append(r)
                print(f"  SB3 {algo} seed {seed}: {H.fmt(r['time_s'])} s to {THRESHOLD:g}", flush=True)
        torch.set_num_threads(os.cpu_count() or 1)
        rates = update_rates(256, 10 if args.quick else 100, 2 if args.quick else 5)
        figures["updates_per_s_batch_256"] = {k: H.spread(v) for k, v in rates.items()}
        if args.halfcheetah:
            figures["halfcheetah_300k"] = halfcheetah([0, 1], 300_000, out_dir)
    medians = {k: _median(v) for k, v in figures["pendulum"].items()}
    figures["pendulum_median_time_s"] = medians
    ups = {k: figures["updates_per_s_batch_256"][k]["median"] for k in ("apexrl", "sb3")}
    ratios = {"sac_over_sb3_sac": H.ratio(medians["apexrl-sac"], medians["sb3-SAC"]),
              "d4pg_over_sb3_td3": H.ratio(medians["apexrl-d4pg"], medians["sb3-TD3"]),
              "sac_over_sb3_td3": H.ratio(medians["apexrl-sac"], medians["sb3-TD3"]),
              "d4pg_over_sb3_sac": H.ratio(medians["apexrl-d4pg"], medians["sb3-SAC"]),
              "updates_per_s_sac_over_sb3_sac": H.ratio(ups["apexrl"], ups["sb3"])}
    figures["ratios"] = ratios
    H.print_table(f"Pendulum-v1: median wall time (s) to a {EVAL_EPISODES}-episode greedy mean >= {THRESHOLD:g}",
                  ["run", "median s", "reached"],
                  [[k, medians[k], f"{sum(math.isfinite(r['time_s']) for r in v)}/{len(v)}"]
                   for k, v in figures["pendulum"].items()])
    H.print_table("Ratios (apexrl / SB3)", ["", "ratio"], [[k, v] for k, v in ratios.items()])
    H.finish(NAME, {"apexrl": medians["apexrl-sac"], "peer": medians["sb3-SAC"], "ratio": ratios["sac_over_sb3_sac"],
                    "unit": "s_to_minus_200", "better": "lower",
                    "ratio_definition": "median wall s to a 20-episode greedy mean >= -200 on Pendulum-v1, apexrl "
                                        "sac / SB3 SAC",
                    "target": "apexrl sac and d4pg / SB3 SAC and TD3 <= 0.5; SAC updates/s ratio >= 1.5",
                    **ratios},
             figures=figures, peer="stable-baselines3", peer_version=stable_baselines3.__version__, quick=args.quick,
             threads={"pendulum_runs": "apexrl: the CLI's choice (learner threads = cores left by actors); SB3: 1",
                      "updates_per_s": torch.get_num_threads()},
             settings={"seeds": seeds, "budget_env_steps": budget, "apexrl_presets": "pendulum",
                       "sb3": "rl-baselines3-zoo Pendulum-v1 (SAC: lr 1e-3; TD3: lr 1e-3, gamma 0.98, buffer 200K, "
                              "learning_starts 10K, normal noise 0.1, net_arch [400, 300])"},
             notes=["SB3's evaluation time is excluded from its clock; apexrl's local-backend evaluations are inside "
                    "its wall time (conservative for apexrl).",
                    "A run that does not reach -200 within the budget counts as inf; the median can then be inf."],
             duration_s=time.perf_counter() - t_start)


if __name__ == "__main__":
    main()
