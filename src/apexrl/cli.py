"""``apexrl`` command line.

    apexrl train ALGO [--preset NAME] [--env ID] [--actors N] [--frames F] [--seed S] [--run-dir DIR] [...]
    apexrl train ALGO --resume RUN_DIR [--frames F] [...]
    apexrl eval RUN_DIR [--episodes K] [--epsilon E] [--seed S]
    apexrl export RUN_DIR OUT.safetensors

Every hyperparameter of the algorithm's frozen config is a flag (``apexrl train ALGO --help``);
a preset sets the defaults, flags given on the command line override them.

One command tree: :data:`COMMANDS` maps each command name to its parser, and :func:`parse` turns
a command line into an :class:`Invocation` without running anything (the tests parse every
command line of the docs with it). A new command is one function registered with
:func:`command`; a new algorithm is one entry of :data:`apexrl.agents.AGENTS`. tyro parses
every flag; ``apexrl train`` reads the few flags that choose the defaults of the others
(``--preset``, ``--resume``, ``--env``, ``--actors``, ``--backend``, ``--run-dir``) with a first
tyro pass over the same, unchanged arguments, then parses all of them with those defaults.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

import numpy as np
import tyro
from rich.console import Console
from rich.markup import escape

from apexrl.agents import AGENTS

_err = Console(stderr=True, soft_wrap=True)


class UsageError(Exception):
    """A command line that cannot run; ``str(exc)`` is the message shown after ``error:``."""


@dataclass(frozen=True)
class Invocation:
    """A parsed command line, ready to run.

    Attributes:
        command: the command's name (``train``, ``eval``, ``export``, ``help``).
        args: what was parsed (:class:`TrainArgs`, :class:`EvalArgs`, :class:`ExportArgs`, …).
        run: runs the command; returns the process exit code.
    """

    command: str
    args: Any
    run: Callable[[], int]


@dataclass(frozen=True)
class Command:
    """A subcommand of ``apexrl``: its name, one line of help, and its parser (argv after the
    name -> :class:`Invocation`; raises :class:`UsageError`)."""

    name: str
    usage: str
    summary: str
    parse: Callable[[list[str]], Invocation]


COMMANDS: dict[str, Command] = {}
"""The commands of ``apexrl``, in the order ``apexrl --help`` lists them."""


def command(name: str, usage: str, summary: str) -> Callable[[Callable[[list[str]], Invocation]], Any]:
    """Register a command's parser in :data:`COMMANDS` (decorator)."""

    def register(parse_fn: Callable[[list[str]], Invocation]) -> Callable[[list[str]], Invocation]:
        COMMANDS[name] = Command(name, usage, summary, parse_fn)
        return parse_fn

    return register


_ROLE = re.compile(r":[a-z]+:`(~?)([^`]*)`")


def plain_text(text: str) -> str:
    """reStructuredText inline markup as plain text for the terminal: a literal between double
    backticks loses them, and a cross-reference role (such as ``:class:`~apexrl.Policy```) becomes
    its target (the last component where the target starts with ``~``)."""
    text = _ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2), text)
    return text.replace("``", "")


def _fail(message: str) -> int:
    _err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return 2


# ---------------------------------------------------------------------------- train
@dataclass(frozen=True)
class _TrainChoice:
    """The flags that choose the defaults of the others (``None``: not given)."""

    preset: str | None = None
    resume: str | None = None
    env_id: Annotated[str | None, tyro.conf.arg(name="env")] = None
    num_actors: Annotated[int | None, tyro.conf.arg(name="actors")] = None
    backend: str | None = None
    run_dir: str | None = None


ConfigT = TypeVar("ConfigT")


@dataclass(frozen=True)
class TrainArgs(Generic[ConfigT]):
    """What ``apexrl train ALGO`` parsed: the run's configuration (the agent's config class) and the
    two options that are not part of it."""

    config: Annotated[ConfigT, tyro.conf.arg(name="")]
    preset: Annotated[str | None, tyro.conf.arg(metavar="NAME", help=(
        "Preset that sets every default (see the list above); default: the env id's family (ALE/… -> atari, "
        "MinAtar/… -> minatar, Taxi -> taxi, FrozenLake/CliffWalking -> toy-text, Pendulum -> pendulum, MuJoCo -> mujoco, "
        "dm_control/… -> control) when the algorithm has that preset."))] = None
    resume: Annotated[str | None, tyro.conf.arg(metavar="RUN_DIR", help=(
        "Continue the run in RUN_DIR from its newest complete checkpoint: its saved configuration is the default "
        "and given flags override it; --env and --run-dir may only repeat the run's own values."))] = None
    algo: tyro.conf.Suppress[str] = "apex-dqn"
    notes: tyro.conf.Suppress[tuple[str, ...]] = field(default_factory=tuple)


def _family_preset(env_id: str | None) -> str | None:
    if env_id is None:
        return None
    if env_id.startswith("ALE/"):
        return "atari"
    if env_id.startswith("MinAtar/"):
        return "minatar"
    if env_id.startswith("dm_control/"):
        return "control"
    name = env_id.split("-v")[0]
    if name == "Taxi":
        return "taxi"
    if name in _TOY_TEXT:
        return "toy-text"
    if name in _MUJOCO:
        return "mujoco"
    return "pendulum" if name in ("Pendulum", "MountainCarContinuous") else None


_TOY_TEXT = ("FrozenLake", "FrozenLake8x8", "CliffWalking")
"""Gymnasium's toy-text grids with ``Discrete`` states, which get ``--preset toy-text`` (``Taxi``:
``--preset taxi``)."""

_MUJOCO = ("HalfCheetah", "Hopper", "Walker2d", "Ant", "Humanoid", "HumanoidStandup", "Swimmer", "Reacher",
           "Pusher", "InvertedPendulum", "InvertedDoublePendulum")
"""Gymnasium's MuJoCo locomotion and control tasks (``mujoco`` extra), which get ``--preset mujoco``."""


def _train_usage() -> str:
    return (f"usage: apexrl train ALGO [--preset NAME] [flags]   (apexrl train ALGO --help lists every flag)\n\n"
            f"algorithms: {', '.join(AGENTS)}")


@command("train", "train ALGO", "train an agent (algorithms: {algos}); `apexrl train ALGO --help` lists every flag")
def parse_train(argv: list[str]) -> Invocation:
    """``apexrl train ALGO [flags]`` -> an :class:`Invocation` whose ``args`` is a :class:`TrainArgs`.

    Raises:
        UsageError: no or an unknown algorithm, an unknown preset, an invalid flag value, a
            ``--resume`` directory that is not a run of this algorithm, or ``--env`` / ``--run-dir``
            differing from the resumed run's.
    """
    if not argv or argv[0].startswith("-"):
        if argv and argv[0] in ("-h", "--help"):
            return Invocation("help", None, lambda: print(_train_usage()) or 0)
        raise UsageError(f"apexrl train needs an algorithm name first: one of {', '.join(AGENTS)}")
    algo, rest = argv[0], argv[1:]
    if algo not in AGENTS:
        raise UsageError(f"unknown algorithm {algo!r}; available: {', '.join(AGENTS)}")
    spec = AGENTS[algo]
    choice, _ = tyro.cli(_TrainChoice, args=rest, return_unknown_args=True, add_help=False,
                         prog=f"apexrl train {algo}")
    notes: list[str] = []
    if choice.resume is not None:
        default = _resume_default(spec, algo, choice)
        if choice.preset is not None:
            notes.append(f"--preset {choice.preset} is not used with --resume: the run's saved configuration is "
                         "the default")
    else:
        preset = choice.preset
        if preset is None and _family_preset(choice.env_id) in spec.presets:  # a family's preset fits best
            preset = _family_preset(choice.env_id)
            notes.append(f"using --preset {preset} for {choice.env_id} (give --preset to choose another)")
        if preset is not None and preset not in spec.presets:
            raise UsageError(f"unknown --preset {preset!r} for {algo}; available: {', '.join(spec.presets)}")
        default = spec.presets[preset]() if preset is not None else spec.default()
        if spec.single_actor and choice.num_actors is not None and choice.backend is None:
            default = dataclasses.replace(default, run=dataclasses.replace(default.run, backend="mp"))
    description = (plain_text(spec.doc.strip().split("\n\n")[0])
                   + f"\n\nPresets (--preset NAME): {', '.join(spec.presets)}. Continue a stopped or finished run "
                   "with --resume RUN_DIR (its saved configuration is the default; flags override it).")
    try:
        args = tyro.cli(TrainArgs[spec.config_class],  # type: ignore[name-defined]
                        default=TrainArgs(config=default, preset=choice.preset, resume=choice.resume),
                        args=rest, prog=f"apexrl train {algo}", description=description)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = args.config
    if config.run.backend == "local" and config.run.num_actors > 1:
        if choice.num_actors is not None:
            raise UsageError(f"--backend local runs one actor, but --actors {config.run.num_actors} was given; "
                             "use --backend mp for several actors")
        config = dataclasses.replace(config, run=dataclasses.replace(config.run, num_actors=1))
    args = dataclasses.replace(args, config=config, algo=algo, notes=tuple(notes))
    return Invocation("train", args, lambda: _run_train(args))


def _resume_default(spec: Any, algo: str, choice: _TrainChoice) -> Any:
    """The saved configuration of ``--resume RUN_DIR``, after checking the flags that cannot change."""
    from apexrl.config import from_dict

    run_dir = str(choice.resume)
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise UsageError(f"--resume {run_dir!r}: no config.json there; is it an apexrl run directory?")
    with open(path) as f:
        saved = json.load(f)
    if saved.get("algo") != algo:
        raise UsageError(f"--resume {run_dir!r} is a {saved.get('algo')!r} run; use apexrl train {saved.get('algo')} "
                         f"--resume {run_dir}")
    try:
        default = from_dict(spec.config_class, saved["config"])
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--resume {run_dir!r}: its config.json does not fit this version: {exc}") from None
    if choice.env_id is not None and choice.env_id != default.run.env_id:
        raise UsageError(f"--resume continues the run on its own environment: --env {choice.env_id} differs from the "
                         f"run's --env {default.run.env_id} (leave out --env, or start a new run)")
    if choice.run_dir is not None and os.path.realpath(choice.run_dir) != os.path.realpath(run_dir):
        raise UsageError(f"--resume continues the run in its own directory: --run-dir {choice.run_dir} differs from "
                         f"{run_dir}")
    return default


def _run_train(args: TrainArgs) -> int:
    algo, config = args.algo, args.config
    for note in args.notes:
        _err.print(note, highlight=False, markup=False)
    if args.resume is not None:
        from apexrl.runtime.checkpoint import checkpoint_dirs

        if not checkpoint_dirs(args.resume):
            return _fail(f"--resume {args.resume!r}: no complete checkpoint in "
                         f"{os.path.join(args.resume, 'checkpoints')}")
    if config.run.backend == "ray" and config.run.ray_address:
        from apexrl.ray_address import check_ray_address

        try:  # before anything heavy is imported: an unreachable cluster fails in seconds
            check_ray_address(config.run.ray_address)
        except ValueError as exc:
            return _fail(str(exc))
    try:
        from apexrl.runtime.run import train

        summary = train(config, algo, resume=args.resume)
    except ValueError as exc:
        return _fail(str(exc))
    except RuntimeError as exc:
        _err.print(f"[bold red]training stopped:[/] {exc}", highlight=False)
        return 1
    return _report_train(algo, summary)


def _report_train(algo: str, summary: dict[str, Any]) -> int:
    """Print what a training run returned (the summary's key figures, or where an interrupted run
    was saved and how to continue it); returns the exit code (0, or 128 + the signal)."""
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


# ---------------------------------------------------------------------------- eval
@dataclass(frozen=True)
class EvalArgs:
    """Evaluate a run's network greedily on fresh environments: its final network, or the newest
    complete checkpoint of a stopped run (the one used is named)."""

    run_dir: tyro.conf.Positional[str]
    """Run directory written by apexrl train."""
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


def _tyro(cls: type, argv: list[str], prog: str) -> Any:
    try:
        return tyro.cli(cls, args=argv, prog=prog)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@command("eval", "eval RUN_DIR", "evaluate a run's network (the final one, or a stopped run's newest checkpoint)")
def parse_eval(argv: list[str]) -> Invocation:
    """``apexrl eval RUN_DIR [flags]`` -> an :class:`Invocation` whose ``args`` is an :class:`EvalArgs`."""
    args = _tyro(EvalArgs, argv, "apexrl eval")
    return Invocation("eval", args, lambda: _run_eval(args))


def _run_eval(args: EvalArgs) -> int:
    from apexrl.runtime.evaluator import evaluate
    from apexrl.runtime.policy import load_run_network_from

    try:
        network, config, env_kwargs, chosen = load_run_network_from(args.run_dir)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))
    _err.print(f"evaluating the {chosen.describe()}", highlight=False, markup=False)
    run = config.run
    epsilon = run.eval_epsilon if args.epsilon is None else args.epsilon
    returns = evaluate(chosen.algo, network, run.env_id, args.episodes, epsilon=epsilon, seed=args.seed,
                       max_episode_steps=run.eval_max_episode_steps, **env_kwargs)
    result = {"run_dir": args.run_dir, "env_id": run.env_id, "network": chosen.source, "network_kind": chosen.kind,
              "learner_steps": chosen.learner_steps, "episodes": args.episodes, "epsilon": epsilon,
              "mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "returns": returns}
    with open(os.path.join(args.run_dir, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return 0


# ---------------------------------------------------------------------------- export
@dataclass(frozen=True)
class ExportArgs:
    """Write a run's policy network alone to a safetensors file (read it with apexrl.load_policy): the
    final network, or the newest complete checkpoint of a stopped run."""

    run_dir: tyro.conf.Positional[str]
    """Run directory written by apexrl train."""
    out: tyro.conf.Positional[str]
    """Output file, *.safetensors."""

    def __post_init__(self) -> None:
        if not self.out.endswith(".safetensors"):
            raise ValueError(f"invalid out={self.out!r}: the output file must end in .safetensors")


@command("export", "export RUN_DIR OUT.safetensors",
         "write the policy network alone (load with apexrl.load_policy)")
def parse_export(argv: list[str]) -> Invocation:
    """``apexrl export RUN_DIR OUT`` -> an :class:`Invocation` whose ``args`` is an :class:`ExportArgs`."""
    args = _tyro(ExportArgs, argv, "apexrl export")
    return Invocation("export", args, lambda: _run_export(args))


def _run_export(args: ExportArgs) -> int:
    from apexrl.runtime.policy import export_policy

    try:
        info = export_policy(args.run_dir, args.out)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        return _fail(str(exc))
    _err.print(f"exported {info['source']}", highlight=False, markup=False)
    print(json.dumps(info, indent=2))
    return 0


# ---------------------------------------------------------------------------- viz (apexrl.viz, the viz extra)
def _run_viz(run: Callable[[Any], int], args: Any) -> int:
    from apexrl.viz import MissingVizDependency

    try:
        return run(args)
    except (MissingVizDependency, FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))


_VIZ_COMMANDS = (
    ("plot", "plot RUN_DIR|GLOB ...", "learning curves: mean over seeds with a 95% bootstrap band (viz extra)",
     "PlotArgs", "run_plot"),
    ("score", "score RUN_DIR|GLOB ...",
     "final scores: median, IQM, mean, optimality gap with bootstrap CIs (rliable; viz extra)",
     "ScoreArgs", "run_score"),
    ("video", "video RUN_DIR", "MP4 videos of the run's policy, the return in each file name (viz extra)",
     "VideoArgs", "run_video"),
    ("inspect", "inspect RUN_DIR",
     "values, saliency, t-SNE and filter figures of the run's network in inspect.html (viz extra)",
     "InspectArgs", "run_inspect"),
)
"""(command, usage, summary, flags dataclass, runner) of the viz commands, both names in
:mod:`apexrl.viz.commands` (imported only when the command is parsed)."""


def _viz_parser(name: str, args_class: str, runner: str) -> Callable[[list[str]], Invocation]:
    def parse_viz(argv: list[str]) -> Invocation:
        from apexrl.viz import commands

        args = _tyro(getattr(commands, args_class), argv, f"apexrl {name}")
        return Invocation(name, args, lambda: _run_viz(getattr(commands, runner), args))

    parse_viz.__doc__ = (f"``apexrl {name} ...`` -> an :class:`Invocation` whose ``args`` is a "
                         f":class:`apexrl.viz.commands.{args_class}`.")
    return parse_viz


for _name, _usage, _summary, _args_class, _runner in _VIZ_COMMANDS:
    command(_name, _usage, _summary)(_viz_parser(_name, _args_class, _runner))


# ---------------------------------------------------------------------------- the tree
def usage() -> str:
    """The text of ``apexrl --help``."""
    width = max(len(c.usage) for c in COMMANDS.values())
    lines = [f"  {c.usage:<{width}}  {c.summary.format(algos=', '.join(AGENTS))}" for c in COMMANDS.values()]
    return "usage: apexrl COMMAND ...\n\ncommands:\n" + "\n".join(lines) + "\n"


def parse(argv: list[str]) -> Invocation:
    """Parse a whole ``apexrl`` command line (without the program name) into an
    :class:`Invocation`, running nothing.

    Raises:
        UsageError: an unknown command, or what the command's parser raises.
        SystemExit: tyro's own exit for ``--help`` (code 0) and for unknown or malformed flags (2).
    """
    if not argv or argv[0] in ("-h", "--help"):
        code = 0 if argv else 2
        return Invocation("help", None, lambda: print(usage()) or code)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        raise UsageError(f"unknown command {name!r}; expected one of {', '.join(repr(c) for c in COMMANDS)}")
    return COMMANDS[name].parse(rest)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``apexrl`` command; returns the process exit code."""
    try:
        invocation = parse(list(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        return _fail(str(exc))
    return invocation.run()


if __name__ == "__main__":
    sys.exit(main())
