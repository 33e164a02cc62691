"""apexrl plot: reading runs, aligning curves of different lengths, bootstrap bands, the figure."""

import json

import numpy as np
import pytest

from apexrl.cli import parse
from apexrl.viz import MissingVizDependency, require
from apexrl.viz.curves import align, bootstrap_band, group_curves
from apexrl.viz.runs import find_runs, read_metrics


def _rows(frames, returns):
    return [{"env_frames": f, "eval_return": r, "episode_return": r / 2} for f, r in zip(frames, returns)]


def test_bootstrap_band_of_a_constant_curve_collapses_to_the_curve():
    values = np.tile(np.linspace(1.0, 5.0, 7), (4, 1))  # 4 seeds, the same curve
    mean, low, high = bootstrap_band(values)
    np.testing.assert_array_equal(mean, values[0])
    np.testing.assert_array_equal(low, values[0])
    np.testing.assert_array_equal(high, values[0])


def test_bootstrap_band_brackets_the_mean_and_stays_within_the_values():
    values = np.array([[0.0, 1.0], [10.0, 1.0], [20.0, 1.0]])
    mean, low, high = bootstrap_band(values, reps=4000)
    assert mean[0] == 10.0 and 0.0 <= low[0] < 10.0 < high[0] <= 20.0
    assert low[1] == high[1] == 1.0
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_band(values, confidence=1.0)


def test_align_interpolates_inside_each_run_and_leaves_nan_outside():
    grid = np.array([0.0, 50.0, 100.0, 150.0, 200.0])
    values = align([(np.array([0.0, 100.0]), np.array([0.0, 10.0])),
                    (np.array([0.0, 200.0]), np.array([4.0, 8.0]))], grid)
    np.testing.assert_allclose(values[0], [0.0, 5.0, 10.0, np.nan, np.nan])
    np.testing.assert_allclose(values[1], [4.0, 5.0, 6.0, 7.0, 8.0])


def test_grouping_and_alignment_of_runs_with_different_lengths(make_run, tmp_path):
    # two apex-dqn seeds of different lengths (one in progress) and one dqn run on the same env
    make_run("a0", seed=0, rows=_rows([0, 1000, 2000], [0.0, 10.0, 20.0]), summary={"final_eval_return": 20.0})
    make_run("a1", seed=1, rows=_rows([0, 1000], [2.0, 12.0]))
    make_run("b0", algo="dqn", seed=0, rows=_rows([0, 2000], [5.0, 5.0]))
    runs = find_runs([str(tmp_path)])  # a directory of runs
    assert [r.path for r in find_runs([str(tmp_path / "a*")])] == [str(tmp_path / "a0"), str(tmp_path / "a1")]
    assert [(r.algo, r.seed) for r in runs] == [("apex-dqn", 0), ("apex-dqn", 1), ("dqn", 0)]
    curves = {c.algo: c for c in group_curves(runs, "env_frames", "eval_return", points=5)}
    a, b = curves["apex-dqn"], curves["dqn"]
    assert a.seeds == (0, 1) and b.seeds == (0,)
    # common grid 0, 500, ..., 2000; with both seeds required apex-dqn stops at 1000 frames
    np.testing.assert_allclose(a.x, [0.0, 500.0, 1000.0])
    np.testing.assert_allclose(a.mean, [1.0, 6.0, 11.0])  # (0+2)/2, (5+7)/2, (10+12)/2
    np.testing.assert_allclose(b.x, [0.0, 500.0, 1000.0, 1500.0, 2000.0])
    np.testing.assert_allclose(b.mean, 5.0)
    longer = {c.algo: c for c in group_curves(runs, "env_frames", "eval_return", points=5, min_seeds=1)}["apex-dqn"]
    np.testing.assert_allclose(longer.x, [0.0, 500.0, 1000.0, 1500.0, 2000.0])
    np.testing.assert_allclose(longer.mean[3:], [15.0, 20.0])
    assert longer.count.tolist() == [2, 2, 2, 1, 1]


def test_metrics_of_a_run_in_progress_and_of_an_old_resumed_run(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("env_frames,eval_return\n100,1\n200,\n300,3\n200,2.5\n400,4\n500,5")  # resumed at 200
    m = read_metrics(str(path))
    assert m["env_frames"].tolist() == [100, 200, 200, 400, 500]
    path.write_text("env_frames,wall_s,eval_return\n100,1,1\n200,2,2\n300,3")  # half-written last line
    assert read_metrics(str(path))["env_frames"].tolist() == [100, 200]


def test_apexrl_plot_writes_png_and_svg(make_run, tmp_path, capsys):
    make_run("r0", rows=_rows([0, 1000], [1.0, 3.0]))
    make_run("r1", seed=1, rows=_rows([0, 1000], [2.0, 4.0]))
    for name in ("c.png", "c.svg"):
        out = tmp_path / name
        assert parse(["plot", str(tmp_path / "r*"), "--out", str(out), "--y", "episode_return"]).run() == 0
        head = out.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if name.endswith("png") else b"<?xml" in head
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["runs"] == 2 and printed["groups"] == 1


def test_apexrl_plot_errors_name_the_flag_or_the_pattern(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse(["plot", "x", "--out", "c.jpg"])
    assert "--out" in capsys.readouterr().err
    assert parse(["plot", str(tmp_path / "nothing-*")]).run() == 2
    assert "matches no run directory" in capsys.readouterr().err


def test_a_missing_viz_library_says_how_to_install_it():
    with pytest.raises(MissingVizDependency, match=r"apexrl plot needs no_such_viz_lib.*pip install -e '\.\[viz\]'"):
        require("no_such_viz_lib", "apexrl plot")


def test_a_resumed_runs_side_files_are_ignored(make_run, tmp_path):
    run = make_run("resumed", rows=_rows([0, 1000, 2000], [1.0, 2.0, 3.0]))
    with open(f"{run}/metrics.after-ckpt-000000000100.csv", "w") as f:  # rows a resume set aside
        f.write("env_frames,eval_return\n1500,-100\n")
    (only,) = find_runs([str(tmp_path)])
    xs, ys = only.curve("env_frames", "eval_return")
    assert xs.tolist() == [0, 1000, 2000] and ys.tolist() == [1.0, 2.0, 3.0]
