"""The viz commands in the command tree: their flags, light imports and the missing-library message."""

import pytest

from apexrl.cli import COMMANDS, parse
from apexrl.viz.commands import InspectArgs, PlotArgs, ScoreArgs, VideoArgs

VIZ = {"plot": PlotArgs, "score": ScoreArgs, "video": VideoArgs, "inspect": InspectArgs}
# every documented viz command line is parsed, and every viz --help checked for markup, in
# tests/unit/test_cli_parse.py (one extractor of the docs' command lines for all commands)


def test_the_viz_commands_are_in_the_tree():
    assert list(COMMANDS)[-4:] == list(VIZ)


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
