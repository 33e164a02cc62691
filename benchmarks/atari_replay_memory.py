"""Atari replay memory per stored transition and batch-32 sampling speed: apexrl vs Stable-Baselines3.

Real ``ALE/Pong-v5`` frames (DeepMind preprocessing through ``apexrl.envs.make_vector_env``:
observations (4, 84, 84) uint8), random actions, fed in one pass to three buffers of the same
capacity:

* apexrl: ``PrioritizedReplay(FrameStorage(C))`` fed by ``NStepAdder(n_step=1, frame_stack=True)``
  in messages of 50 transitions (as an actor sends them);
* SB3 ``ReplayBuffer(C)`` (stores obs and next_obs, ``handle_timeout_termination=True``);
* SB3 ``ReplayBuffer(C, optimize_memory_usage=True, handle_timeout_termination=False)``.

Memory = the sum of ``.nbytes`` of every array the buffer allocated (apexrl: ``replay.nbytes``,
storage plus sum tree), divided by the number of transitions stored once the buffer is full.
Sampling = batches of 32 transitions with both stacked observations; repetitions alternate
between the three buffers. Single thread.

    python benchmarks/atari_replay_memory.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

NAME = "atari_replay_memory"
ENV_ID = "ALE/Pong-v5"
BATCH = 32
MESSAGE = 50  # transitions per apexrl message (Ape-X B = 50)


def array_bytes(obj) -> int:
    """Sum of ``.nbytes`` of every NumPy array attribute of ``obj`` (what SB3 allocated)."""
    return int(sum(v.nbytes for v in vars(obj).values() if isinstance(v, np.ndarray)))


def main() -> None:
    args = H.parse_args(__doc__.split("\n\n")[0])
    t_start = time.perf_counter()
    import stable_baselines3
    import torch
    from stable_baselines3.common.buffers import ReplayBuffer

    from apexrl.envs import final_observations, make_vector_env
    from apexrl.replay import FrameStorage, NStepAdder, PrioritizedReplay, concat_items
    from apexrl.types import FrameTransitions

    torch.set_num_threads(1)
    quick = args.quick
    n = 10_000 if quick else 100_000
    reps = 3 if quick else 7
    batches = 200 if quick else 2_000
    seed = 0

    envs = make_vector_env(ENV_ID, 1, seed)
    obs_space = envs.single_observation_space
    act_space = envs.single_action_space
    assert obs_space.shape == (4, 84, 84) and obs_space.dtype == np.uint8, obs_space
    with_timeouts = ReplayBuffer(n, obs_space, act_space, device="cpu", n_envs=1)
    optimized = ReplayBuffer(n, obs_space, act_space, device="cpu", n_envs=1, optimize_memory_usage=True,
                             handle_timeout_termination=False)
    replay = PrioritizedReplay(FrameStorage(n, frame_shape=(84, 84), stack_size=4), seed=seed)
    adder = NStepAdder(1, n_step=1, gamma=0.99, frame_stack=True)

    rng = np.random.default_rng(seed)
    obs, _ = envs.reset(seed=seed)
    pending: list = []
    pending_count = 0
    add_s = {"apexrl": 0.0, "sb3": 0.0, "sb3_optimized": 0.0}
    env_s = 0.0
    episodes = 0

    def flush() -> None:
        nonlocal pending, pending_count
        t0 = time.perf_counter()
        replay.add(concat_items(pending))  # priorities None: max priority, as in SB3 everything is equal
        add_s["apexrl"] += time.perf_counter() - t0
        pending, pending_count = [], 0

    for _step in range(n):
        action = rng.integers(0, act_space.n, size=1)
        t0 = time.perf_counter()
        next_obs, reward, terminated, truncated, info = envs.step(action)
        env_s += time.perf_counter() - t0
        done = terminated | truncated
        true_next = final_observations(next_obs, info, done) if done.any() else next_obs
        episodes += int(done.sum())

        t0 = time.perf_counter()
        items, _ = adder.add(obs, action, reward, true_next, terminated, truncated)
        if len(items.action) or (isinstance(items, FrameTransitions) and len(items.frames)):
            pending.append(items)
            pending_count += len(items.action)
        add_s["apexrl"] += time.perf_counter() - t0
        if pending_count >= MESSAGE:
            flush()

        t0 = time.perf_counter()
        with_timeouts.add(obs, true_next, action, reward, done, [{"TimeLimit.truncated": bool(truncated[0])}])
        add_s["sb3"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        optimized.add(obs, true_next, action, reward, done, [{}])
        add_s["sb3_optimized"] += time.perf_counter() - t0
        obs = next_obs
    if pending:
        flush()
    envs.close()

    stored = {"apexrl": len(replay), "sb3": with_timeouts.size(), "sb3_optimized": optimized.size()}
    assert stored["apexrl"] == n and stored["sb3"] == n and stored["sb3_optimized"] == n, stored
    storage = replay.storage
    total_bytes = {"apexrl": int(replay.nbytes), "sb3": array_bytes(with_timeouts),
                   "sb3_optimized": array_bytes(optimized)}
    per_transition = {k: total_bytes[k] / stored[k] for k in total_bytes}
    apexrl_storage_only = int(storage.nbytes) / stored["apexrl"]

    # ---- the same transitions come back: apexrl's rebuilt stacks equal SB3's stored arrays
    check_idx = np.sort(np.random.default_rng(1).choice(n, size=min(n, 2_000), replace=False))
    got = storage.read(check_idx)
    stacks_match = bool(np.array_equal(got.obs, with_timeouts.observations[check_idx, 0])
                        and np.array_equal(got.next_obs, with_timeouts.next_observations[check_idx, 0])
                        and np.array_equal(got.action, with_timeouts.actions[check_idx, 0, 0]))

    # ---- sampling throughput, interleaved
    for _ in range(20):  # warm-up
        replay.sample(BATCH)
        with_timeouts.sample(BATCH)
        optimized.sample(BATCH)

    def apexrl_sample() -> float:
        t0 = time.perf_counter()
        for _ in range(batches):
            s = replay.sample(BATCH)
        dt = time.perf_counter() - t0
        assert s.data.obs.shape == (BATCH, 4, 84, 84) and s.data.next_obs.shape == (BATCH, 4, 84, 84)
        return batches / dt

    def sb3_sampler(buf):
        def run() -> float:
            t0 = time.perf_counter()
            for _ in range(batches):
                s = buf.sample(BATCH)
            dt = time.perf_counter() - t0
            assert tuple(s.observations.shape) == (BATCH, 4, 84, 84)
            return batches / dt

        return run

    samples = H.interleaved({"apexrl": apexrl_sample, "sb3": sb3_sampler(with_timeouts),
                             "sb3_optimized": sb3_sampler(optimized)}, reps)
    sample_stats = {k: H.spread(v) for k, v in samples.items()}
    bps = {k: s["median"] for k, s in sample_stats.items()}

    mem_ratio = H.ratio(per_transition["sb3_optimized"], per_transition["apexrl"])
    mem_ratio_plain = H.ratio(per_transition["sb3"], per_transition["apexrl"])
    sample_ratio = H.ratio(bps["apexrl"], bps["sb3_optimized"])
    sample_ratio_plain = H.ratio(bps["apexrl"], bps["sb3"])

    label = {"apexrl": "apexrl FrameStorage+PER", "sb3": "SB3 ReplayBuffer",
             "sb3_optimized": "SB3 ReplayBuffer optimize_memory_usage"}
    H.print_table(
        f"{ENV_ID} replay: {n} transitions stored (capacity {n}); sampling batch {BATCH}, {reps} reps x {batches}",
        ["buffer", "bytes/transition", "MiB total", "batches/s", "transitions/s", "add µs/step"],
        [[label[k], per_transition[k], total_bytes[k] / 2**20, bps[k], bps[k] * BATCH, 1e6 * add_s[k] / n]
         for k in ("apexrl", "sb3", "sb3_optimized")]
        + [["SB3 optimized / apexrl (memory)", mem_ratio, "", "", "", ""],
           ["apexrl / SB3 optimized (sampling)", "", "", sample_ratio, "", ""]],
    )
    print(f"apexrl stacks rebuilt from frames equal SB3's stored observations: {stacks_match}")
    H.finish(
        NAME,
        {"apexrl": per_transition["apexrl"], "peer": per_transition["sb3_optimized"], "ratio": mem_ratio,
         "unit": "bytes_per_transition",
         "ratio_definition": "SB3 (optimize_memory_usage=True) bytes / apexrl bytes: how many times smaller apexrl is",
         "better": "higher ratio (fewer apexrl bytes)",
         "target": "apexrl <= 7,200 B at 100K; sampling ratio >= 1.0",
         "sampling_ratio": sample_ratio},
        figures={
            "bytes_per_transition": per_transition,
            "apexrl_storage_only_bytes_per_transition": apexrl_storage_only,
            "total_bytes": total_bytes,
            "stored": stored,
            "memory_ratio_sb3_optimized_over_apexrl": mem_ratio,
            "memory_ratio_sb3_over_apexrl": mem_ratio_plain,
            "sample_batches_per_s": sample_stats,
            "sample_transitions_per_s": {k: v * BATCH for k, v in bps.items()},
            "sampling_ratio_apexrl_over_sb3_optimized": sample_ratio,
            "sampling_ratio_apexrl_over_sb3": sample_ratio_plain,
            "samples_batches_per_s": samples,
            "add_us_per_step": {k: 1e6 * v / n for k, v in add_s.items()},
            "env_steps_per_s": n / env_s,
            "episodes": episodes,
            "frames_written_apexrl": storage.frames_written,
            "frame_capacity_apexrl": storage.frame_capacity,
            "stacks_match_sb3": stacks_match,
            "stacks_checked": int(check_idx.size),
        },
        peer="stable-baselines3",
        peer_version=stable_baselines3.__version__,
        quick=quick,
        threads={"torch_num_threads": 1, "mode": "single process, single thread"},
        settings={"env_id": ENV_ID, "transitions": n, "capacity": n, "batch": BATCH, "reps": reps,
                  "batches_per_rep": batches, "seed": seed, "actions": "uniform random",
                  "apexrl": "PrioritizedReplay(FrameStorage(C, (84, 84), 4)) fed by NStepAdder(1, n_step=1, "
                            "frame_stack=True), messages of 50",
                  "sb3": "ReplayBuffer(C) with handle_timeout_termination=True",
                  "sb3_optimized": "ReplayBuffer(C, optimize_memory_usage=True, handle_timeout_termination=False)"},
        notes=["Memory counts allocated arrays (.nbytes), not resident pages.",
               "apexrl figure includes the sum tree (2 * next_pow2(C) float64) and the frame ring margin "
               "(FrameStorage default frame_capacity = C + max(1024, C // 100)); with the quick C = 10K the "
               "margin is 10% so the quick figure is higher than the full one.",
               "Sampling: apexrl samples proportionally to priority (sum tree) and rebuilds both stacks from "
               "frames; SB3 samples uniformly and returns torch tensors; SB3 optimize_memory_usage stores "
               "next_obs in the next row (SB3's own caveat at episode ends)."],
        duration_s=time.perf_counter() - t_start,
    )


if __name__ == "__main__":
    main()
