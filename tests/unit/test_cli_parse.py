"""The ``apexrl`` command tree, parsed without running anything (:func:`apexrl.cli.parse`)."""

import dataclasses
import glob
import json
import os
import re
import shlex

import pytest

from apexrl.agents import AGENTS
from apexrl.cli import COMMANDS, EvalArgs, ExportArgs, TrainArgs, UsageError, parse, plain_text
from apexrl.config import ApexDQNConfig, flag_name, to_dict
from apexrl.viz.commands import InspectArgs, PlotArgs, ScoreArgs, VideoArgs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VIZ = {"plot": PlotArgs, "score": ScoreArgs, "video": VideoArgs, "inspect": InspectArgs}


def doc_command_lines():
    """Every ``apexrl COMMAND ...`` line (train, eval, export, plot, score, video, inspect) of
    README.md and docs/*.md (continuations
    joined, comments and prose after the command dropped)."""
    lines = []
    for path in [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]:
        text = re.sub(r"\\\n\s*", " ", open(path).read())
        for line in text.splitlines():
            for m in re.finditer(r"apexrl (?:train|eval|export|plot|score|video|inspect)\b[^`|#\n]*", line):
                cmd = m.group(0).strip()
                if cmd.split()[:2] == ["apexrl", "train"] and (len(cmd.split()) < 3 or cmd.split()[2] == "ALGO"):
                    continue  # "apexrl train ALGO" names the pattern, not a command line
                lines.append((os.path.basename(path), cmd))
    return lines


DOC_LINES = doc_command_lines()


def test_the_docs_have_command_lines():
    assert len(DOC_LINES) >= 20
    assert {c.split()[1] for _, c in DOC_LINES} == {"train", "eval", "export", *VIZ}


def _fields():
    """flag -> (group, field) for every config field."""
    out = {}
    default = ApexDQNConfig()
    for group in dataclasses.fields(ApexDQNConfig):
        for f in dataclasses.fields(getattr(default, group.name)):
            out[flag_name(f.name)] = (group.name, f.name)
    return out


FIELDS = _fields()


def _saved_run(tmp_path, algo="apex-dqn", config=None):
    run_dir = tmp_path / "saved-run"
    run_dir.mkdir(exist_ok=True)
    presets = AGENTS[algo].presets
    config = config or (presets["minatar"] if "minatar" in presets else AGENTS[algo].default)()
    (run_dir / "config.json").write_text(json.dumps({"algo": algo, "config": to_dict(config)}))
    return str(run_dir), config


@pytest.mark.parametrize("where, line", DOC_LINES, ids=[f"{w}:{c}" for w, c in DOC_LINES])
def test_every_documented_command_line_parses(tmp_path, where, line):
    """Placeholders get values; each ``--flag value`` of the line must be in the parsed result."""
    saved_dir, saved = _saved_run(tmp_path, algo=line.split()[2] if line.split()[1] == "train" else "apex-dqn")
    words = shlex.split(line)[1:]
    words = [{"S": "3", "HEAD_IP:6379": "127.0.0.1:6379", "NEW_HEAD:6379": "127.0.0.1:6380"}.get(w, w) for w in words]
    if "--resume" in words:
        words[words.index("--resume") + 1] = saved_dir
    if "--help" in words:
        with pytest.raises(SystemExit) as exc:
            parse(words)
        assert exc.value.code == 0
        return
    inv = parse(words)
    assert inv.command == words[0]
    if words[0] in VIZ:
        assert isinstance(inv.args, VIZ[words[0]])
        return
    if words[0] == "eval":
        assert isinstance(inv.args, EvalArgs) and inv.args.run_dir == words[1]
        return
    if words[0] == "export":
        assert isinstance(inv.args, ExportArgs) and (inv.args.run_dir, inv.args.out) == (words[1], words[2])
        return
    args = inv.args
    assert isinstance(args, TrainArgs) and args.algo == words[1]
    config = args.config
    i = 2
    while i < len(words):
        flag = words[i]
        if flag in ("--preset", "--resume"):
            i += 2
            continue
        if flag.startswith("--no-"):
            group, name = FIELDS["--" + flag[5:]]
            assert getattr(getattr(config, group), name) is False, flag
            i += 1
            continue
        group, name = FIELDS[flag]
        value = getattr(getattr(config, group), name)
        given = words[i + 1]
        expected = type(value)(given) if not isinstance(value, (bool, type(None))) else given
        assert value == expected, (flag, value, given)
        i += 2
    if "--resume" in words:  # the run's saved configuration is the default of every other flag
        for group in ("replay", "actor", "learner"):
            for f in dataclasses.fields(getattr(saved, group)):
                if flag_name(f.name) not in words:
                    assert getattr(getattr(config, group), f.name) == getattr(getattr(saved, group), f.name)
    elif "--preset" in words:
        preset = words[words.index("--preset") + 1]
        assert config.replay == AGENTS[args.algo].presets[preset]().replay


def test_env_family_chooses_the_preset():
    inv = parse(["train", "apex-rainbow", "--env", "MinAtar/Breakout-v1"])
    minatar = AGENTS["apex-rainbow"].presets["minatar"]()
    assert inv.args.config.run.total_env_frames == minatar.run.total_env_frames == 3_000_000
    assert inv.args.config.learner == minatar.learner
    assert any("--preset minatar" in n for n in inv.args.notes)
    inv = parse(["train", "dqn", "--env", "ALE/Pong-v5"])
    assert inv.args.config.learner.hidden_sizes == (512,) and inv.args.config.run.env_id == "ALE/Pong-v5"
    inv = parse(["train", "dqn", "--env", "ALE/Pong-v5", "--preset", "cartpole"])  # an explicit preset wins
    assert inv.args.config.learner.hidden_sizes == AGENTS["dqn"].presets["cartpole"]().learner.hidden_sizes
    assert inv.args.notes == ()
    for env_id in ("FrozenLake-v1", "Taxi-v4", "CliffWalking-v1"):  # the issue-21 command: no --preset
        inv = parse(["train", "dqn", "--env", env_id])
        preset = "taxi" if env_id.startswith("Taxi") else "toy-text"
        assert inv.args.config.learner == AGENTS["dqn"].presets[preset]().learner
        assert any(f"--preset {preset}" in n for n in inv.args.notes)
    taxi = parse(["train", "dqn", "--env", "Taxi-v4"]).args.config
    assert (taxi.learner.gamma, taxi.learner.target_update_period, taxi.run.total_env_frames) == (0.9, 100, 200_000)
    assert taxi.learner.n_step == 1 and taxi.run.num_actors == 1  # dqn's switches on top of the preset
    assert parse(["train", "dqn", "--env", "Acrobot-v1"]).args.notes == ()


def test_actors_switch_single_actor_algorithms_to_mp_and_local_refuses_several():
    default = parse(["train", "dqn", "--env", "CartPole-v1"]).args.config.run
    assert (default.backend, default.num_actors) == ("local", 1)
    run = parse(["train", "dqn", "--env", "CartPole-v1", "--actors", "2"]).args.config.run
    assert (run.backend, run.num_actors) == ("mp", 2)
    with pytest.raises(UsageError, match="--backend local runs one actor, but --actors 3"):
        parse(["train", "dqn", "--backend", "local", "--actors", "3"])
    run = parse(["train", "apex-dqn", "--backend", "local"]).args.config.run  # the default 2 actors become 1
    assert (run.backend, run.num_actors) == ("local", 1)


def test_resume_accepts_the_runs_own_env_and_refuses_another(tmp_path):
    run_dir, saved = _saved_run(tmp_path)
    inv = parse(["train", "apex-dqn", "--env", "MinAtar/Breakout-v1", "--preset", "minatar", "--resume", run_dir,
                 "--run-dir", run_dir + "/", "--frames", "5000000"])
    assert inv.args.resume == run_dir and inv.args.config.run.total_env_frames == 5_000_000
    assert inv.args.config.learner == saved.learner and inv.args.config.run.env_id == "MinAtar/Breakout-v1"
    with pytest.raises(UsageError) as exc:
        parse(["train", "apex-dqn", "--resume", run_dir, "--env", "CartPole-v1"])
    assert "--env CartPole-v1" in str(exc.value) and "--env MinAtar/Breakout-v1" in str(exc.value)
    with pytest.raises(UsageError, match="--run-dir elsewhere differs"):
        parse(["train", "apex-dqn", "--resume", run_dir, "--run-dir", "elsewhere"])
    with pytest.raises(UsageError, match="is a 'apex-dqn' run; use apexrl train apex-dqn --resume"):
        parse(["train", "dqn", "--resume", run_dir])
    with pytest.raises(UsageError, match="no config.json"):
        parse(["train", "apex-dqn", "--resume", str(tmp_path / "nothing")])


def test_errors_name_what_is_wrong(capsys):
    with pytest.raises(UsageError, match="unknown algorithm 'apex-dqx'; available: apex-dqn"):
        parse(["train", "apex-dqx"])
    with pytest.raises(UsageError, match="unknown --preset 'mujoco' for apex-dqn; available: cartpole"):
        parse(["train", "apex-dqn", "--preset", "mujoco"])
    with pytest.raises(SystemExit) as exc:  # tyro shows the config's own ValueError
        parse(["train", "apex-dqn", "--batch-size", "-4"])
    assert exc.value.code == 2
    assert "invalid batch_size=-4 (--batch-size): must be > 0" in " ".join(capsys.readouterr().err.split())
    with pytest.raises(UsageError, match="unknown command 'plto'"):
        parse(["plto"])
    with pytest.raises(SystemExit) as exc:  # tyro's own error for an unknown flag
        parse(["train", "apex-dqn", "--no-such-flag", "1"])
    assert exc.value.code == 2
    assert list(COMMANDS) == ["train", "eval", "export", "plot", "score", "video", "inspect"]


@pytest.mark.parametrize("argv", [["train", algo, "--help"] for algo in AGENTS]
                         + [["eval", "--help"], ["export", "--help"]] + [[name, "--help"] for name in VIZ])
def test_help_has_no_restructuredtext_markup(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--frames" in out if argv[0] == "train" else "--out" in out if argv[0] in VIZ else \
        "RUN_DIR" in out or "run" in out
    assert "``" not in out and ":class:" not in out and ":mod:" not in out


def test_top_level_help_lists_every_command(capsys):
    assert parse(["--help"]).run() == 0
    out = capsys.readouterr().out
    assert all(f"  {c}" in out for c in ("train ALGO", "eval RUN_DIR", "export RUN_DIR"))
    assert "``" not in out


def test_plain_text():
    assert plain_text("Gymnasium id (``CartPole-v1``, ``module:EnvId``)") == "Gymnasium id (CartPole-v1, module:EnvId)"
    assert plain_text("see :mod:`apexrl.agents.dqn.apex_dqn` and :class:`~apexrl.runtime.policy.Policy`") == \
        "see apexrl.agents.dqn.apex_dqn and Policy"
