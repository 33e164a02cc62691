"""Prioritized replay cycle throughput: apexrl vs cpprb.

One cycle = add 50 transitions with priorities, sample 512 with importance weights, update 512
priorities (Ape-X: actors add B = 50 with their initial priorities, the learner samples a batch
and writes back |δ|). Both buffers have capacity 2**20, α = 0.6, β = 0.4, 4-float observations
(obs, action, reward, next_obs, done/discount), and are prefilled with 200K items with random
priorities. Repetitions alternate between the two libraries; single process, single thread.

    python benchmarks/per.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as H  # noqa: E402

NAME = "per"
CAPACITY = 2**20
PREFILL = 200_000
ADD = 50
BATCH = 512
ALPHA, BETA = 0.6, 0.4
POOL = 64  # distinct pre-generated inputs, cycled (data generation stays outside the timed loop)


def make_inputs(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    return {
        "obs": [rng.standard_normal((ADD, 4), dtype=np.float32) for _ in range(POOL)],
        "next_obs": [rng.standard_normal((ADD, 4), dtype=np.float32) for _ in range(POOL)],
        "action": [rng.integers(0, 2, ADD) for _ in range(POOL)],
        "reward": [rng.standard_normal(ADD, dtype=np.float32) for _ in range(POOL)],
        "done": [(rng.random(ADD) < 0.02) for _ in range(POOL)],
        "add_prio": [rng.exponential(1.0, ADD).astype(np.float32) for _ in range(POOL)],
        "new_prio": [rng.exponential(1.0, BATCH).astype(np.float32) for _ in range(POOL)],
    }


class ApexrlPER:
    name = "apexrl"

    def __init__(self, seed: int) -> None:
        from apexrl.replay import ArrayStorage, PrioritizedReplay
        from apexrl.types import Transitions

        self._T = Transitions
        self.replay = PrioritizedReplay(ArrayStorage(CAPACITY, (4,), np.float32), priority_exponent=ALPHA,
                                        importance_sampling_exponent=BETA, seed=seed)

    def add(self, obs, action, reward, done, next_obs, prio) -> None:
        discount = np.where(done, 0.0, 0.99).astype(np.float32)
        self.replay.add(self._T(obs=obs, action=action, reward=reward, discount=discount, next_obs=next_obs), prio)

    def cycle(self, inp: dict[str, list[np.ndarray]], i: int) -> None:
        j = i % POOL
        self.add(inp["obs"][j], inp["action"][j], inp["reward"][j], inp["done"][j], inp["next_obs"][j],
                 inp["add_prio"][j])
        s = self.replay.sample(BATCH)
        w = s.weights  # importance weights, [512] float32
        assert w.shape == (BATCH,)
        self.replay.update_priorities(s.keys, inp["new_prio"][j])

    def __len__(self) -> int:
        return len(self.replay)


class CpprbPER:
    name = "cpprb"

    def __init__(self, seed: int) -> None:
        import cpprb

        np.random.seed(seed)  # cpprb samples with NumPy's global RNG
        self.rb = cpprb.PrioritizedReplayBuffer(
            CAPACITY,
            {"obs": {"shape": 4}, "act": {}, "rew": {}, "next_obs": {"shape": 4}, "done": {}},
            alpha=ALPHA,
        )

    def add(self, obs, action, reward, done, next_obs, prio) -> None:
        self.rb.add(obs=obs, act=action, rew=reward, next_obs=next_obs, done=done, priorities=prio)

    def cycle(self, inp: dict[str, list[np.ndarray]], i: int) -> None:
        j = i % POOL
        self.add(inp["obs"][j], inp["action"][j], inp["reward"][j], inp["done"][j], inp["next_obs"][j],
                 inp["add_prio"][j])
        s = self.rb.sample(BATCH, beta=BETA)
        w = s["weights"]
        assert w.shape == (BATCH,)
        self.rb.update_priorities(s["indexes"], inp["new_prio"][j])

    def __len__(self) -> int:
        return int(self.rb.get_stored_size())


def prefill(buf, rng: np.random.Generator) -> float:
    t0 = time.perf_counter()
    chunk = 10_000
    for _ in range(PREFILL // chunk):
        buf.add(rng.standard_normal((chunk, 4), dtype=np.float32), rng.integers(0, 2, chunk),
                rng.standard_normal(chunk, dtype=np.float32), rng.random(chunk) < 0.02,
                rng.standard_normal((chunk, 4), dtype=np.float32), rng.exponential(1.0, chunk).astype(np.float32))
    return time.perf_counter() - t0


def main() -> None:
    args = H.parse_args(__doc__.split("\n\n")[0])
    t_start = time.perf_counter()
    import torch  # only to pin the thread count; neither buffer uses torch

    torch.set_num_threads(1)
    from cpprb import PrioritizedReplayBuffer  # noqa: F401  (fail early if missing)

    quick = args.quick
    reps = 3 if quick else 9
    cycles = 300 if quick else 3_000
    warmup = 50 if quick else 200

    rng = np.random.default_rng(0)
    inputs = make_inputs(rng)
    bufs = {"apexrl": ApexrlPER(seed=1), "cpprb": CpprbPER(seed=1)}
    prefill_s = {}
    for name, buf in bufs.items():
        prefill_s[name] = prefill(buf, np.random.default_rng(2))
        assert len(buf) == PREFILL, (name, len(buf))
    counters = {name: 0 for name in bufs}
    for name, buf in bufs.items():  # JIT compilation, caches
        for _ in range(warmup):
            buf.cycle(inputs, counters[name])
            counters[name] += 1

    def measure(name: str):
        def run() -> float:
            buf = bufs[name]
            i0 = counters[name]
            t0 = time.perf_counter()
            for i in range(i0, i0 + cycles):
                buf.cycle(inputs, i)
            dt = time.perf_counter() - t0
            counters[name] = i0 + cycles
            return cycles / dt

        return run

    samples = H.interleaved({name: measure(name) for name in bufs}, reps)
    stats = {name: H.spread(v) for name, v in samples.items()}
    a, c = stats["apexrl"]["median"], stats["cpprb"]["median"]
    r = H.ratio(a, c)
    sizes = {name: len(buf) for name, buf in bufs.items()}

    H.print_table(
        f"PER cycle (add {ADD} + sample {BATCH} with IS weights + update {BATCH}), capacity 2**20, "
        f"prefill {PREFILL}, {reps} reps x {cycles} cycles",
        ["library", "cycles/s (median)", "min", "max", "µs/cycle", "size after"],
        [[n, s["median"], s["min"], s["max"], 1e6 / s["median"], sizes[n]] for n, s in stats.items()]
        + [["apexrl / cpprb", r, "", "", "", ""]],
    )
    H.finish(
        NAME,
        {"apexrl": a, "peer": c, "ratio": r, "unit": "cycles_per_s", "ratio_definition": "apexrl / cpprb",
         "better": "higher", "target": ">= 2.0"},
        figures={
            "cycles_per_s": stats,
            "samples_cycles_per_s": samples,
            "prefill_s": prefill_s,
            "size_after": sizes,
        },
        peer="cpprb",
        peer_version=H.package_version("cpprb"),
        quick=quick,
        threads={"torch_num_threads": 1, "mode": "single process, single thread (neither buffer is multithreaded)"},
        settings={"capacity": CAPACITY, "prefill": PREFILL, "add": ADD, "batch": BATCH, "alpha": ALPHA,
                  "beta": BETA, "obs_shape": [4], "obs_dtype": "float32", "reps": reps,
                  "cycles_per_rep": cycles, "warmup_cycles": warmup,
                  "apexrl": "PrioritizedReplay(ArrayStorage(2**20, (4,), np.float32), 0.6, 0.4)",
                  "cpprb": "PrioritizedReplayBuffer(2**20, obs(4,) act rew next_obs done, alpha=0.6); "
                           "sample(512, beta=0.4)"},
        notes=["Inputs (transitions, priorities) are pre-generated and cycled; the timed loop is the "
               "library calls only.",
               "Repetitions alternate between the libraries (rotating order); figures are medians."],
        duration_s=time.perf_counter() - t_start,
    )


if __name__ == "__main__":
    main()
