"""The viz commands in the command tree: help texts, and every documented command line parses."""

import glob
import os
import re
import shlex

import pytest

from apexrl.cli import COMMANDS, parse
from apexrl.viz.commands import InspectArgs, PlotArgs, ScoreArgs, VideoArgs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VIZ = {"plot": PlotArgs, "score": ScoreArgs, "video": VideoArgs, "inspect": InspectArgs}


def doc_lines():
    """Every ``apexrl plot|score|video|inspect ...`` line of README.md and docs/*.md."""
    lines = []
    for path in [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]:
        text = re.sub(r"\\\n\s*", " ", open(path).read())
        for m in re.finditer(r"apexrl (?:plot|score|video|inspect)\b[^`|#\n]*", text):
            lines.append((os.path.basename(path), m.group(0).strip()))
    return lines


DOC_LINES = doc_lines()


def test_the_viz_commands_are_in_the_tree_and_documented():
    assert list(COMMANDS)[-4:] == ["plot", "score", "video", "inspect"]
    assert {c.split()[1] for _, c in DOC_LINES} == set(VIZ)


@pytest.mark.parametrize("where, line", DOC_LINES, ids=[f"{w}:{c}" for w, c in DOC_LINES])
def test_every_documented_viz_command_line_parses(where, line):
    words = shlex.split(line)[1:]
    if "--help" in words:
        with pytest.raises(SystemExit) as exc:
            parse(words)
        assert exc.value.code == 0
        return
    inv = parse(words)
    assert inv.command == words[0] and isinstance(inv.args, VIZ[words[0]])


@pytest.mark.parametrize("name", list(VIZ))
def test_help_has_no_restructuredtext_markup(capsys, name):
    with pytest.raises(SystemExit) as exc:
        parse([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and ":class:" not in out
    assert "--out" in out


def test_parsed_flags():
    inv = parse(["plot", "runs/a", "runs/b*", "--x", "wall_s", "--y", "episode_return", "--out", "c.svg"])
    assert inv.args.runs == ("runs/a", "runs/b*") and inv.args.x == "wall_s" and inv.args.out == "c.svg"
    assert parse(["score", "runs", "--normalize", "random"]).args.normalize == "random"
    assert parse(["video", "runs/a", "--episodes", "3"]).args.episodes == 3
    assert parse(["inspect", "runs/a", "--what", "tsne,filters"]).args.what == "tsne,filters"
    for bad in (["plot", "r", "--y", "colour"], ["video", "r", "--episodes", "0"], ["score", "r", "--normalize", "x"]):
        with pytest.raises(SystemExit):
            parse(bad)


def test_the_command_tree_imports_no_viz_library():
    import subprocess
    import sys

    code = ("import sys, apexrl.cli; apexrl.cli.parse(['plot', 'runs', '--out', 'c.png']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'rliable', 'sklearn', 'imageio'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_missing_viz_library_stops_the_command_with_the_install_hint(monkeypatch, make_run, tmp_path, capsys):
    import sys

    make_run("r0", rows=[{"env_frames": 0, "eval_return": 1.0}, {"env_frames": 10, "eval_return": 2.0}])
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert parse(["plot", str(tmp_path / "r0"), "--out", str(tmp_path / "c.png")]).run() == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "apexrl plot needs matplotlib" in err and "pip install -e '.[viz]'" in err
