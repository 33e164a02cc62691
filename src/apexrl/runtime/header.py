"""What a run prints when it starts: a short header (also written to ``RUN_DIR/run.txt``) and a
warning when the actors need more CPU cores than there are.

The header names the algorithm, the environment, the backend, actors × environments per actor,
the frame budget, the learner's device, the run directory and the TensorBoard command, so that a
user whose output goes to a file knows at once what runs and where its results go.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO




def available_cores() -> int:
    """CPU cores this process may run on: ``len(os.sched_getaffinity(0))`` where the system has
    it (it honours ``taskset`` and container CPU sets), otherwise ``os.cpu_count()`` (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def header_fields(config: Any, algo: str, run_dir: str, device: str) -> list[tuple[str, str]]:
    """``(label, value)`` pairs of the header, in order: algorithm, env, backend, actors (× envs
    per actor), frames (the budget, emulator frames), device, run dir, tensorboard (command)."""
    run = config.run
    actors = run.num_actors if run.backend in ("mp", "ray") else 1
    where = {"mp": "processes", "ray": "Ray actors", "local": "in the learner's process"}[run.backend]
    backend = run.backend + (f" (cluster {run.ray_address})" if run.backend == "ray" and run.ray_address else "")
    return [
        ("algorithm", algo),
        ("env", run.env_id),
        ("backend", backend),
        ("actors", f"{actors} × {config.actor.envs_per_actor} envs ({where})"),
        ("frames", f"{run.total_env_frames:,}"),
        ("device", device),
        ("run dir", run_dir),
        ("tensorboard", f"tensorboard --logdir {run_dir}" if run.tensorboard else "off (--no-tensorboard)"),
    ]


def format_header(fields: list[tuple[str, str]]) -> str:
    """The header text: one ``label: value`` line per field, labels aligned."""
    width = max(len(label) for label, _ in fields)
    return "\n".join(f"{label + ':':<{width + 1}} {value}" for label, value in fields)


def oversubscription_warning(config: Any, cores: int) -> str | None:
    """A warning when there are more actor processes than ``cores``, else ``None``.

    Each actor keeps one core busy stepping its environments; the learner and the evaluator need
    cores too. The presets run as many actors as this machine's cores (2) with a replay ratio
    (``--samples-per-insert``) that makes the actors wait for the learner, and the evaluator runs
    only every ``--eval-interval-frames``; more actors than cores slow every process down (6 actors
    on 2 cores ended CartPole at 259 instead of 500). The ``local`` backend runs everything in one
    process and is never warned about; a Ray cluster (``--ray-address``) has its own cores.
    """
    run = config.run
    if run.backend == "local" or (run.backend == "ray" and run.ray_address):
        return None
    if run.num_actors <= cores:
        return None
    total = run.num_actors + 2
    return (f"{run.num_actors} actor processes + 1 learner + 1 evaluator = {total} processes on {cores} CPU "
            f"core{'s' if cores != 1 else ''}: the actors, the learner and the evaluator will slow each other "
            f"down; use --actors {cores} or fewer on this machine")


def announce_run(config: Any, algo: str, run_dir: str, device: str, *, cores: int | None = None,
                 stream: TextIO | None = None) -> str:
    """Print the header (and the oversubscription warning, if any) to ``stream`` (default: standard
    error, so it shows next to the progress lines whether or not standard output is redirected)
    and write the header to ``RUN_DIR/run.txt``. Returns the header text.

    Args:
        config: the run's configuration.
        algo: the algorithm's name.
        run_dir: the existing run directory.
        device: the learner's device, e.g. ``"cpu (1 torch thread)"``.
        cores: CPU cores to compare the actors with (default :func:`available_cores`).
        stream: where to print.
    """
    text = format_header(header_fields(config, algo, run_dir, device))
    out: Any = stream if stream is not None else sys.stderr
    print(text, file=out, flush=True)
    warning = oversubscription_warning(config, available_cores() if cores is None else cores)
    if warning is not None:
        print(f"warning: {warning}", file=out, flush=True)
    with open(os.path.join(run_dir, "run.txt"), "w") as f:
        f.write(text + "\n" + (f"warning: {warning}\n" if warning else ""))
    return text
