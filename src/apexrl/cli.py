"""``apexrl`` command line.

    apexrl train ALGO [--preset NAME] [--env ID] [--actors N] [--frames F] [--seed S] [--run-dir DIR] [...]
    apexrl train ALGO --resume RUN_DIR [--frames F] [...]
    apexrl eval RUN_DIR [--episodes K] [--epsilon E] [--seed S]
    apexrl export RUN_DIR OUT.safetensors

Every hyperparameter of the algorithm's frozen config is a flag (``apexrl train ALGO --help``);
a preset sets the defaults, flags given on the command line override them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import tyro
from rich.console import Console

from apexrl.algos import ALGORITHMS

_err = Console(stderr=True, soft_wrap=True)


@dataclass(frozen=True)
class EvalArgs:
    """Evaluate a trained run's final network greedily on fresh environments."""

    run_dir: tyro.conf.Positional[str]
    """Run directory written by ``apexrl train``."""
    episodes: int = 10
    """Episodes to run."""
    epsilon: Annotated[float | None, tyro.conf.arg(help="ε of the evaluation policy (default: the run's).")] = None
    seed: int = 12345
    """Seed of the evaluation environments."""

    def __post_init__(self) -> None:
        if self.episodes <= 0:
            raise ValueError(f"invalid episodes={self.episodes!r} (--episodes): must be > 0")
        if self.epsilon is not None and not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"invalid epsilon={self.epsilon!r} (--epsilon): must be in [0, 1]")


def _fail(message: str) -> int:
    _err.print(f"[bold red]error:[/] {message}", highlight=False)
    return 2


def _without(argv: list[str], flag: str) -> list[str]:
    """``argv`` without ``flag VALUE`` / ``flag=VALUE``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            out.append(a)
    return out


def _given(argv: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in argv)


def cmd_train(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        names = ", ".join(ALGORITHMS)
        if argv and argv[0] in ("-h", "--help"):
            print(f"usage: apexrl train ALGO [--preset NAME] [flags]\n\nalgorithms: {names}")
            return 0
        return _fail(f"apexrl train needs an algorithm name first: one of {names}")
    algo, rest = argv[0], argv[1:]
    if algo not in ALGORITHMS:
        return _fail(f"unknown algorithm {algo!r}; available: {', '.join(ALGORITHMS)}")
    spec = ALGORITHMS[algo]
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default=None)
    pre.add_argument("--env", default=None)
    pre.add_argument("--resume", default=None)
    known, _ = pre.parse_known_args(rest)
    rest = _without(_without(rest, "--preset"), "--resume")
    if known.resume is not None:
        return _resume(spec, algo, known.resume, rest)
    default = spec.default()
    if known.preset is None and known.env is not None:  # a family's preset fits its envs best
        family = "atari" if known.env.startswith("ALE/") else "minatar" if known.env.startswith("MinAtar/") else None
        if family in spec.presets:
            known.preset = family
            _err.print(f"using --preset {family} for {known.env} (give --preset to choose another)")
    if known.preset is not None:
        if known.preset not in spec.presets:
            return _fail(f"unknown --preset {known.preset!r} for {algo}; available: {', '.join(spec.presets)}")
        default = spec.presets[known.preset]()
    if spec.single_actor and _given(rest, "--actors") and not _given(rest, "--backend"):
        default = dataclasses.replace(default, run=dataclasses.replace(default.run, backend="mp"))
    try:
        config = tyro.cli(spec.config_class, default=default, args=rest, prog=f"apexrl train {algo}",
                          description=spec.doc.strip().split("\n\n")[0]
                          + f"\n\nPresets (--preset NAME): {', '.join(spec.presets)}. Continue a stopped or "
                          "finished run with --resume RUN_DIR (its saved configuration is the default; "
                          "flags override it).")
    except ValueError as exc:
        return _fail(str(exc))
    if config.run.backend == "local" and config.run.num_actors > 1:
        if _given(rest, "--actors"):
            return _fail(f"--backend local runs one actor, but --actors {config.run.num_actors} was given; "
                         "use --backend mp for several actors")
        config = dataclasses.replace(config, run=dataclasses.replace(config.run, num_actors=1))
    return _run(spec, algo, config)


def _run(spec: Any, algo: str, config: Any, resume: str | None = None) -> int:
    try:
        summary = spec.train(config, resume=resume)
    except ValueError as exc:
        return _fail(str(exc))
    except RuntimeError as exc:
        _err.print(f"[bold red]training stopped:[/] {exc}", highlight=False)
        return 1
    if summary.get("interrupted"):
        where = summary["checkpoint"] or "no checkpoint (parameters were not finite)"
        if summary.get("checkpoint_error"):  # the save at the signal failed; an older one may exist
            where = (f"nothing ({summary['checkpoint_error']}); newest good checkpoint: "
                     f"{summary['checkpoint'] or 'none'}")
        _err.print(f"[bold yellow]interrupted by {summary['interrupted']}[/] at env_frames={summary['env_frames']:,}; "
                   f"saved {where}\ncontinue with: apexrl train {algo} --resume {summary['run_dir']}",
                   highlight=False)
        return 128 + int(summary["signal"])
    print(json.dumps({k: summary[k] for k in ("run_dir", "final_eval_return", "best_eval_return", "env_frames",
                                              "learner_steps", "wall_s", "env_frames_per_s", "actor_restarts")},
                     indent=2))
    return 0


def _resume(spec: Any, algo: str, run_dir: str, rest: list[str]) -> int:
    """``--resume RUN_DIR``: the run's saved configuration is the default; given flags override it."""
    from apexrl.config import from_dict
    from apexrl.runtime.checkpoint import checkpoint_dirs

    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        return _fail(f"--resume {run_dir!r}: no config.json there; is it an apexrl run directory?")
    if not checkpoint_dirs(run_dir):
        return _fail(f"--resume {run_dir!r}: no complete checkpoint in {os.path.join(run_dir, 'checkpoints')}")
    with open(path) as f:
        saved = json.load(f)
    if saved.get("algo") != algo:
        return _fail(f"--resume {run_dir!r} is a {saved.get('algo')!r} run; use apexrl train {saved.get('algo')} "
                     f"--resume {run_dir}")
    if _given(rest, "--run-dir") or _given(rest, "--env"):
        return _fail("--resume continues the run in its own directory on its own environment; "
                     "--run-dir and --env cannot be changed")
    try:
        default = from_dict(spec.config_class, saved["config"])
        config = tyro.cli(spec.config_class, default=default, args=rest, prog=f"apexrl train {algo} --resume")
    except ValueError as exc:
        return _fail(str(exc))
    return _run(spec, algo, config, resume=run_dir)


def cmd_eval(argv: list[str]) -> int:
    try:
        args = tyro.cli(EvalArgs, args=argv, prog="apexrl eval")
    except ValueError as exc:
        return _fail(str(exc))
    from apexrl.runtime.policy import load_run_network
    from apexrl.runtime.evaluator import evaluate

    try:
        network, config, env_kwargs = load_run_network(args.run_dir)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))
    run = config.run
    epsilon = run.eval_epsilon if args.epsilon is None else args.epsilon
    returns = evaluate(network, run.env_id, args.episodes, epsilon=epsilon, seed=args.seed,
                       max_episode_steps=run.eval_max_episode_steps, **env_kwargs)
    result = {"run_dir": args.run_dir, "env_id": run.env_id, "episodes": args.episodes, "epsilon": epsilon,
              "mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "returns": returns}
    with open(os.path.join(args.run_dir, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return 0


@dataclass(frozen=True)
class ExportArgs:
    """Write a run's policy network alone to a safetensors file (read it with ``apexrl.load_policy``)."""

    run_dir: tyro.conf.Positional[str]
    """Run directory written by ``apexrl train``."""
    out: tyro.conf.Positional[str]
    """Output file, ``*.safetensors``."""

    def __post_init__(self) -> None:
        if not self.out.endswith(".safetensors"):
            raise ValueError(f"invalid out={self.out!r}: the output file must end in .safetensors")


def cmd_export(argv: list[str]) -> int:
    try:
        args = tyro.cli(ExportArgs, args=argv, prog="apexrl export")
    except ValueError as exc:
        return _fail(str(exc))
    from apexrl.runtime.policy import export_policy

    try:
        info = export_policy(args.run_dir, args.out)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        return _fail(str(exc))
    print(json.dumps(info, indent=2))
    return 0


USAGE = """usage: apexrl COMMAND ...

commands:
  train ALGO   train an agent (algorithms: {algos}); `apexrl train ALGO --help` lists every flag
  eval RUN_DIR evaluate a trained run's network
  export RUN_DIR OUT.safetensors   write the policy network alone (load with apexrl.load_policy)
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``apexrl`` command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE.format(algos=", ".join(ALGORITHMS)))
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "train":
        return cmd_train(rest)
    if command == "eval":
        return cmd_eval(rest)
    if command == "export":
        return cmd_export(rest)
    return _fail(f"unknown command {command!r}; expected 'train', 'eval' or 'export'")


if __name__ == "__main__":
    sys.exit(main())
