"""Learner updates per second with the Nature CNN at batch 32 and 512: apexrl vs Stable-Baselines3 DQN.

* apexrl: ``DQNLearner(atari().learner with batch_size=B)`` (dueling Nature CNN, n-step double-Q,
  centered RMSProp); one update = ``replay.sample(B)`` from a filled
  ``PrioritizedReplay(FrameStorage)`` (stacks rebuilt from frames), ``learner.update(sample)``,
  ``replay.update_priorities(keys, |δ|)``.
* SB3: ``DQN("CnnPolicy")`` (NatureCNN, features_dim 512) on the same observation space
  (4, 84, 84) uint8 and 6 actions, its ``ReplayBuffer`` filled with as many transitions;
  ``model.train(gradient_steps=K, batch_size=B)`` (uniform sampling, target forward, Huber,
  Adam).

Both replays hold random frames (the content does not change the cost). Both use all cores:
``torch.set_num_threads(2)`` on this 2-core machine. Repetitions alternate between the two and
a float32 ``torch.mm`` of two 2048x2048 matrices, whose FLOP/s is the denominator of apexrl's
achieved-FLOP fraction (FLOPs counted analytically for convolutions and linear layers: forward
on 2B observations (online network on s and s', double Q) + forward on B (target network) +
backward ~ 2x the online forward).

    python benchmarks/learner_throughput.py [--quick]
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

NAME = "learner_throughput"
ENV_ID = "ALE/Pong-v5"
OBS_SHAPE = (4, 84, 84)
NUM_ACTIONS = 6
MM_N = 2048
THREADS = 2


# ----------------------------------------------------------------------------- FLOPs
def forward_flops_per_obs(net, obs_shape=OBS_SHAPE) -> int:
    """Multiply-add FLOPs (2 per MAC) of one observation through every Conv2d / Linear layer."""
    import torch
    from torch import nn

    total = [0]

    def hook(module, inputs, output) -> None:
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total[0] += 2 * output.numel() * k
        elif isinstance(module, nn.Linear):
            total[0] += 2 * output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            net(torch.zeros((1, *obs_shape), dtype=torch.uint8))
    finally:
        for h in handles:
            h.remove()
    return int(total[0])


def mm_flops_per_s(n: int = MM_N, repeats: int = 4) -> float:
    import torch

    a = torch.randn(n, n)
    b = torch.randn(n, n)
    c = torch.empty(n, n)
    torch.mm(a, b, out=c)
    t0 = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b, out=c)
    return 2.0 * n**3 * repeats / (time.perf_counter() - t0)


# ----------------------------------------------------------------------------- contenders
def fill_apexrl_replay(capacity: int, seed: int):
    """``PrioritizedReplay(FrameStorage(capacity))`` filled through ``NStepAdder`` (n = 3, 4 streams,
    random frames, random Q-values for initial priorities, rare episode ends)."""
    from apexrl.replay import FrameStorage, NStepAdder, PrioritizedReplay

    rng = np.random.default_rng(seed)
    num_envs = 4
    pool = rng.integers(0, 256, size=(64, *OBS_SHAPE[1:]), dtype=np.uint8)
    replay = PrioritizedReplay(FrameStorage(capacity, frame_shape=OBS_SHAPE[1:], stack_size=OBS_SHAPE[0]),
                               seed=seed)
    adder = NStepAdder(num_envs, n_step=3, gamma=0.99, frame_stack=True)

    def stacks() -> np.ndarray:
        return pool[rng.integers(0, len(pool), size=(num_envs, OBS_SHAPE[0]))]

    obs = stacks()
    added = 0
    while added < capacity:
        next_obs = stacks()
        terminated = rng.random(num_envs) < 0.002
        items, prio = adder.add(obs, rng.integers(0, NUM_ACTIONS, num_envs), rng.normal(size=num_envs),
                                next_obs, terminated, np.zeros(num_envs, bool),
                                q_taken=rng.normal(size=num_envs), next_value=rng.normal(size=num_envs))
        replay.add(items, prio)
        added += len(items.action)
        obs = next_obs
    return replay


class ApexrlLearner:
    def __init__(self, batch: int, replay, info) -> None:
        from apexrl.agents.dqn.apex_dqn import atari
        from apexrl.agents.dqn.learner import DQNLearner

        cfg = dataclasses.replace(atari().learner, batch_size=batch)
        self.config = cfg
        self.batch = batch
        self.replay = replay
        self.learner = DQNLearner(cfg, info, seed=0)

    def updates(self, k: int) -> None:
        for _ in range(k):
            sample = self.replay.sample(self.batch)
            priorities, _ = self.learner.update(sample)
            self.replay.update_priorities(sample.keys, priorities)


def shape_only_env():
    """A Gymnasium env with the Atari spaces, never stepped (SB3 needs one to build the model)."""
    import gymnasium as gym
    from gymnasium import spaces

    class ShapeOnlyEnv(gym.Env):
        observation_space = spaces.Box(0, 255, OBS_SHAPE, np.uint8)
        action_space = spaces.Discrete(NUM_ACTIONS)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(OBS_SHAPE, np.uint8), {}

        def step(self, action):
            return np.zeros(OBS_SHAPE, np.uint8), 0.0, False, False, {}

    return ShapeOnlyEnv()


def make_sb3(capacity: int, seed: int):
    from stable_baselines3 import DQN
    from stable_baselines3.common.logger import configure

    model = DQN("CnnPolicy", shape_only_env(), buffer_size=capacity, learning_starts=0, device="cpu", seed=seed,
                verbose=0)
    model.set_logger(configure(None, []))
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, size=(32, *OBS_SHAPE), dtype=np.uint8)
    buf = model.replay_buffer
    for i in range(capacity):
        buf.add(pool[i % 32][None], pool[(i + 1) % 32][None], np.array([rng.integers(0, NUM_ACTIONS)]),
                np.array([rng.normal()], dtype=np.float32), np.array([rng.random() < 0.002]),
                [{"TimeLimit.truncated": False}])
    assert buf.size() == capacity
    return model


# ----------------------------------------------------------------------------- main
def main() -> None:
    args = H.parse_args(__doc__.split("\n\n")[0], extra=lambda p: p.add_argument(
        "--threads", type=int, default=THREADS,
        help=f"torch threads for both libraries and torch.mm (default {THREADS}: all cores of the reference "
             "machine); results with another value are written under the same name, the JSON records it"))
    t_start = time.perf_counter()
    threads = args.threads
    import stable_baselines3
    import torch

    from apexrl.envs import env_info

    torch.set_num_threads(threads)
    quick = args.quick
    fill = 5_000 if quick else 20_000
    reps = 2 if quick else 5
    plan = {32: 10 if quick else 100, 512: 2 if quick else 8}  # batch -> updates per repetition
    info = env_info(ENV_ID)
    assert tuple(info.obs_shape) == OBS_SHAPE and info.num_actions == NUM_ACTIONS, info

    t0 = time.perf_counter()
    replay = fill_apexrl_replay(fill, seed=0)
    fill_s = {"apexrl": time.perf_counter() - t0}
    t0 = time.perf_counter()
    sb3 = make_sb3(fill, seed=0)
    fill_s["sb3"] = time.perf_counter() - t0

    per_batch: dict[int, dict[str, Any]] = {}
    mm_samples: list[float] = []
    for batch, k in plan.items():
        apex = ApexrlLearner(batch, replay, info)
        apex.updates(2)  # warm-up (allocator, caches)
        sb3.train(gradient_steps=2, batch_size=batch)

        def apexrl_run() -> float:
            t = time.perf_counter()
            apex.updates(k)
            return k / (time.perf_counter() - t)

        def sb3_run() -> float:
            t = time.perf_counter()
            sb3.train(gradient_steps=k, batch_size=batch)
            return k / (time.perf_counter() - t)

        def mm_run() -> float:
            v = mm_flops_per_s()
            mm_samples.append(v)
            return v

        samples = H.interleaved({"apexrl": apexrl_run, "sb3": sb3_run, "mm": mm_run}, reps)
        per_batch[batch] = {"samples": samples,
                            "updates_per_s": {k2: H.spread(samples[k2]) for k2 in ("apexrl", "sb3")},
                            "updates_per_rep": k}
        print(f"  batch {batch}: apexrl {H.fmt(per_batch[batch]['updates_per_s']['apexrl']['median'])} updates/s, "
              f"SB3 {H.fmt(per_batch[batch]['updates_per_s']['sb3']['median'])} updates/s", flush=True)

    mm = H.spread(mm_samples)
    f_apex = forward_flops_per_obs(apex.learner.online)
    f_sb3 = forward_flops_per_obs(sb3.q_net)

    def apex_update_flops(b: int) -> float:  # fwd online B (s) + B (s', no grad) + fwd target B + backward ~ 2 x B
        return f_apex * (b + b + b + 2 * b)

    def sb3_update_flops(b: int) -> float:  # fwd target B + fwd online B + backward ~ 2 x fwd online B
        return f_sb3 * (b + b + 2 * b)

    rows = []
    figures: dict[str, Any] = {"forward_flops_per_obs": {"apexrl": f_apex, "sb3": f_sb3},
                               "mm_flops_per_s": mm, "fill_s": fill_s, "replay_size": len(replay)}
    for batch, d in per_batch.items():
        a = d["updates_per_s"]["apexrl"]["median"]
        s = d["updates_per_s"]["sb3"]["median"]
        fa = a * apex_update_flops(batch)
        fs = s * sb3_update_flops(batch)
        d.update({"ratio_apexrl_over_sb3": H.ratio(a, s), "apexrl_flops_per_update": apex_update_flops(batch),
                  "sb3_flops_per_update": sb3_update_flops(batch), "apexrl_achieved_flops_per_s": fa,
                  "sb3_achieved_flops_per_s": fs, "apexrl_flop_fraction_of_mm": H.ratio(fa, mm["median"]),
                  "sb3_flop_fraction_of_mm": H.ratio(fs, mm["median"]),
                  "apexrl_transitions_per_s": a * batch, "sb3_transitions_per_s": s * batch})
        figures[f"batch_{batch}"] = d
        rows.append([f"batch {batch}", a, s, d["ratio_apexrl_over_sb3"], fa / 1e9, fs / 1e9,
                     d["apexrl_flop_fraction_of_mm"]])
    H.print_table(
        f"Learner updates/s, Nature CNN, {threads} torch threads, replay {fill} transitions; "
        f"torch.mm {MM_N}^2 fp32: {H.fmt(mm['median'] / 1e9)} GFLOP/s",
        ["", "apexrl upd/s", "SB3 upd/s", "apexrl/SB3", "apexrl GFLOP/s", "SB3 GFLOP/s", "apexrl / mm"],
        rows,
    )
    r32 = figures["batch_32"]
    H.finish(
        NAME,
        {"apexrl": r32["updates_per_s"]["apexrl"]["median"], "peer": r32["updates_per_s"]["sb3"]["median"],
         "ratio": r32["ratio_apexrl_over_sb3"], "unit": "updates_per_s",
         "ratio_definition": "apexrl updates/s / SB3 DQN updates/s at batch 32", "better": "higher",
         "target": "ratio >= 1.0 at batch 32; apexrl FLOP fraction of torch.mm >= 0.5 at batch 512",
         "ratio_batch_512": figures["batch_512"]["ratio_apexrl_over_sb3"],
         "apexrl_flop_fraction_batch_512": figures["batch_512"]["apexrl_flop_fraction_of_mm"]},
        figures=figures,
        peer="stable-baselines3",
        peer_version=stable_baselines3.__version__,
        quick=quick,
        threads={"torch_num_threads": threads, "mode": "one process; the same thread count for both libraries "
                 "and torch.mm (default 2 = all cores)", "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")},
        settings={"obs_shape": list(OBS_SHAPE), "num_actions": NUM_ACTIONS, "replay_transitions": fill,
                  "reps": reps, "updates_per_rep": {str(b): k for b, k in plan.items()},
                  "mm_size": MM_N, "apexrl_preset": "atari (learner config; batch_size replaced)",
                  "apexrl_replay": "PrioritizedReplay(FrameStorage) filled through NStepAdder(4 streams, n=3)",
                  "sb3": "DQN('CnnPolicy', buffer_size=fill, learning_starts=0); ReplayBuffer filled with add()"},
        notes=["apexrl's update computes more than SB3's: double Q runs the online network on s' as well "
               "(5B vs 4B observation-forwards per update, FLOPs in figures), and it samples by priority and "
               "writes priorities back; SB3 samples uniformly.",
               "FLOP counts are analytic (2 per multiply-add, Conv2d and Linear only; backward counted as 2x "
               "forward as specified, although the first convolution needs no input gradient).",
               "The online forward on s' runs without autograd, so the backward covers only the B rows with a "
               "loss.",
               "Observations are random frames; the replay content does not change the cost."],
        duration_s=time.perf_counter() - t_start,
    )


if __name__ == "__main__":
    main()
