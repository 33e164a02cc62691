"""Learner updates per second of every registered agent, per batch size, on every device present.

For each agent its ``--preset`` (``cartpole`` / ``atari`` for the DQN family, ``pendulum`` for
continuous agents; the learner config's ``batch_size`` replaced), a learner is built with
``agent.build_learner(config, info, seed=0, device)``; one update is ``learner.update(batch)``
on a synthetic :class:`apexrl.types.SampledBatch` of random observations and actions of the
env's shapes, held in host memory as the replay returns it (the host-to-device copy through
pinned memory is part of the update on CUDA). Repetitions alternate between devices.

There is no peer library here: the ratio is CUDA over CPU updates/s of the first agent at the
largest batch, or, without a CUDA device, the script says so and reports CPU alone (ratio 1).

    python benchmarks/learner_device.py [--quick] [--agents apex-dqn sac ...] [--batches 64 256]
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

NAME = "learner_device"
ENVS = {"cartpole": "CartPole-v1", "atari": "ALE/Pong-v5", "pendulum": "Pendulum-v1"}


def synthetic_batch(info: Any, batch: int, rng: np.random.Generator) -> Any:
    """A :class:`~apexrl.types.SampledBatch` of ``batch`` random transitions of ``info``'s shapes."""
    from apexrl.replay.build import action_layout
    from apexrl.types import SampledBatch, Transitions

    def obs() -> np.ndarray:
        shape = (batch, *info.obs_shape)
        if np.dtype(info.obs_dtype) == np.uint8:
            return rng.integers(0, 256, size=shape, dtype=np.uint8)
        return rng.standard_normal(shape).astype(info.obs_dtype)

    shape, dtype = action_layout(info)
    if shape:
        action = rng.uniform(-1, 1, size=(batch, *shape)).astype(dtype)
    else:
        action = rng.integers(0, info.num_actions, size=batch).astype(np.int64)
    data = Transitions(obs=obs(), action=action, reward=rng.standard_normal(batch).astype(np.float32),
                       discount=np.full(batch, 0.99 ** 3, np.float32), next_obs=obs())
    return SampledBatch(keys=np.arange(batch, dtype=np.int64), data=data, weights=np.ones(batch, np.float32))


def preset_for(agent: Any) -> tuple[str, Any]:
    """``(family, config)`` the agent is timed with."""
    for family in ("atari", "pendulum", "cartpole"):
        if family in agent.presets:
            return family, agent.presets[family]()
    raise ValueError(f"{agent.name} has none of the presets {list(ENVS)}")


def main() -> None:
    args = H.parse_args(__doc__.split("\n\n")[0], extra=lambda p: (
        p.add_argument("--agents", nargs="+", default=None, help="agents to time (default: one per learner kind)"),
        p.add_argument("--batches", nargs="+", type=int, default=[64, 256])))
    t_start = time.perf_counter()
    import torch

    from apexrl.agents import AGENTS
    from apexrl.envs import env_info

    default = [a for a in ("apex-dqn", "apex-rainbow", "sac", "td3", "d4pg", "apex-dpg") if a in AGENTS]
    names = args.agents or default
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if len(devices) == 1:
        print("no CUDA device on this machine: CPU figures only (run it where a GPU is to compare)", flush=True)
    torch.set_num_threads(os.cpu_count() or 1)
    reps, updates = (2, 3) if args.quick else (5, 20)
    rng = np.random.default_rng(0)
    figures: dict[str, Any] = {}
    rows = []
    for name in names:
        agent = AGENTS[name]
        family, base = preset_for(agent)
        info = env_info(base.run.env_id if family != "atari" else ENVS["atari"])
        for batch in args.batches:
            config = dataclasses.replace(base, learner=dataclasses.replace(base.learner, batch_size=batch))
            sample = synthetic_batch(info, batch, rng)
            learners = {d: agent.build_learner(config, info, 0, torch.device(d)) for d in devices}

            def timed(device: str) -> Any:
                def run() -> float:
                    learner = learners[device]
                    t = time.perf_counter()
                    for _ in range(updates):
                        learner.update(sample)
                    if device == "cuda":
                        torch.cuda.synchronize()
                    return updates / (time.perf_counter() - t)
                return run

            for d in devices:
                timed(d)()  # warm-up
            samples = H.interleaved({d: timed(d) for d in devices}, reps)
            key = f"{name}/batch_{batch}"
            figures[key] = {"family": family, "env_id": info.env_id,
                            "updates_per_s": {d: H.spread(samples[d]) for d in devices}}
            med = {d: figures[key]["updates_per_s"][d]["median"] for d in devices}
            rows.append([name, family, batch] + [med[d] for d in devices])
            print(f"  {key}: " + ", ".join(f"{d} {H.fmt(med[d])} updates/s" for d in devices), flush=True)
    H.print_table("Learner updates/s per device (synthetic batches in host memory)",
                  ["agent", "preset", "batch", *devices], rows)
    first = f"{names[0]}/batch_{max(args.batches)}"
    cpu = figures[first]["updates_per_s"]["cpu"]["median"]
    cuda = figures[first]["updates_per_s"]["cuda"]["median"] if "cuda" in devices else cpu
    H.finish(NAME, {"apexrl": cuda, "peer": cpu, "ratio": H.ratio(cuda, cpu), "unit": "updates_per_s",
                    "ratio_definition": f"{first}: CUDA updates/s / CPU updates/s (1 without a CUDA device)",
                    "better": "higher", "cuda_present": "cuda" in devices},
             figures=figures, peer="cpu (the same learner)", peer_version=None, quick=args.quick,
             threads={"torch_num_threads": torch.get_num_threads()},
             settings={"agents": names, "batches": args.batches, "reps": reps, "updates_per_rep": updates,
                       "devices": devices},
             notes=["No peer library: this compares devices. Batches are random and in host memory, as replay "
                    "returns them; on CUDA the pinned-memory copy is inside the timed update."],
             duration_s=time.perf_counter() - t_start)


if __name__ == "__main__":
    main()
