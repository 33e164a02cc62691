"""Tests of the benchmark harness (benchmarks/_harness.py); no benchmark is run."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))

import _harness as H  # noqa: E402

SCRIPTS = ["per", "atari_replay_memory", "cartpole_time_to_solve", "actor_throughput", "learner_throughput"]
LINE_RE = re.compile(r"^RESULT (\S+) apexrl=(\S+) peer=(\S+) ratio=(\S+) unit=(\S+)$")


def _write(tmp_path: Path, quick: bool, **over):
    kwargs = dict(
        figures={"cycles_per_s": {"apexrl": 2500.5, "cpprb": 1200.25}, "inf_case": math.inf, "nested": [1, 2.5]},
        peer="cpprb", peer_version="11.0.0", quick=quick,
        result={"apexrl": 2500.5, "peer": 1200.25, "ratio": H.ratio(2500.5, 1200.25), "unit": "cycles_per_s"},
        threads={"torch_num_threads": 1}, settings={"capacity": 2**20}, notes=["a note"], duration_s=1.5,
        results_dir=tmp_path, command="python benchmarks/per.py --quick",
    )
    kwargs.update(over)
    return H.write_result("per", **kwargs)


# --------------------------------------------------------------------------- ratio
def test_ratio_direction_is_first_over_second():
    assert H.ratio(6.0, 3.0) == 2.0
    assert H.ratio(3.0, 6.0) == 0.5
    # "how many times smaller apexrl is" = peer bytes / apexrl bytes
    assert H.ratio(28_240, 7_060) == pytest.approx(4.0)
    # time ratio apexrl / peer: lower is better, 12.5 s vs 50 s gives 0.25
    assert H.ratio(12.5, 50.0) == pytest.approx(0.25)


def test_ratio_edge_cases():
    assert H.ratio(1.0, 0.0) == math.inf
    assert H.ratio(-1.0, 0.0) == -math.inf
    assert math.isnan(H.ratio(0.0, 0.0))
    assert math.isnan(H.ratio(math.nan, 1.0))
    assert math.isnan(H.ratio(1.0, math.nan))
    assert H.ratio(math.inf, 10.0) == math.inf  # a run that never solved against one that did
    assert H.ratio(10.0, math.inf) == 0.0
    assert isinstance(H.ratio(3, 2), float) and H.ratio(3, 2) == 1.5


def test_median_counts_failures_as_inf():
    assert H.median([3.0, 1.0, 2.0]) == 2.0
    assert H.median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert H.median([1.0, 2.0, math.inf]) == 2.0  # one failure of three: finite
    assert H.median([1.0, math.inf, math.inf]) == math.inf  # most failed
    assert math.isnan(H.median([]))


def test_spread():
    s = H.spread([1.0, 3.0, 2.0])
    assert s == {"median": 2.0, "min": 1.0, "max": 3.0, "rel_half_range": 0.5, "n": 3}


# --------------------------------------------------------------------------- RESULT line
def test_result_line_exact_format_and_parse_back():
    line = H.result_line("per", 2500.7, 1200.25, 2500.7 / 1200.25, "cycles_per_s")
    assert line == "RESULT per apexrl=2501 peer=1200 ratio=2.08 unit=cycles_per_s"
    m = LINE_RE.match(line)
    assert m is not None
    name, a, p, r, unit = m.groups()
    assert name == "per" and unit == "cycles_per_s"
    assert float(a) == pytest.approx(2500.7, rel=1e-3)
    assert float(p) == pytest.approx(1200.25, rel=1e-3)
    assert float(r) == pytest.approx(2500.7 / 1200.25, rel=5e-3)
    assert float(r) == pytest.approx(float(a) / float(p), rel=5e-3)  # ratio is apexrl / peer here
    assert H.parse_result_line(line) == {"name": "per", "apexrl": float(a), "peer": float(p), "ratio": float(r),
                                         "unit": "cycles_per_s"}


@pytest.mark.parametrize("value, text", [(7165.0, "7165"), (56464, "56464"), (0.0612345, "0.06123"),
                                         (12.3456, "12.35"), (1234567.8, "1234568"), (0.0, "0")])
def test_result_line_numbers_have_no_exponent(value, text):
    line = H.result_line("x", value, 1.0, 1.0, "u")
    assert f"apexrl={text} " in line
    assert "e+" not in line and "e-" not in line
    assert LINE_RE.match(line)


def test_result_line_non_finite_values_parse_back():
    line = H.result_line("cartpole_time_to_solve", math.inf, 51.0, math.inf, "seconds")
    assert line == "RESULT cartpole_time_to_solve apexrl=inf peer=51.00 ratio=inf unit=seconds"
    d = H.parse_result_line(line)
    assert d["apexrl"] == math.inf and d["ratio"] == math.inf and d["peer"] == 51.0
    line = H.result_line("x", math.nan, 1.0, math.nan, "u")
    assert math.isnan(H.parse_result_line(line)["ratio"])


def test_result_line_rejects_bad_words():
    with pytest.raises(ValueError):
        H.result_line("two words", 1, 1, 1, "u")
    with pytest.raises(ValueError):
        H.result_line("x", 1, 1, 1, "bytes per transition")
    with pytest.raises(ValueError):
        H.parse_result_line("RESULT per apexrl=1 peer=2 ratio=0.5")  # no unit


# --------------------------------------------------------------------------- JSON record
def test_write_result_fields_and_types(tmp_path):
    path = _write(tmp_path, quick=False)
    assert path == tmp_path / "per.json"
    d = json.loads(path.read_text())
    assert d["name"] == "per"
    assert d["quick"] is False
    assert d["result"]["apexrl"] == 2500.5 and d["result"]["peer"] == 1200.25
    assert d["result"]["ratio"] == pytest.approx(2500.5 / 1200.25)
    assert d["result"]["unit"] == "cycles_per_s"
    assert d["figures"]["cycles_per_s"] == {"apexrl": 2500.5, "cpprb": 1200.25}
    assert d["figures"]["inf_case"] == "inf"  # strict JSON: non-finite floats become strings
    assert d["figures"]["nested"] == [1, 2.5]
    assert d["peer"] == {"name": "cpprb", "version": "11.0.0"}
    assert d["threads"] == {"torch_num_threads": 1}
    assert d["settings"] == {"capacity": 2**20}
    assert d["notes"] == ["a note"]
    assert d["command"] == "python benchmarks/per.py --quick"
    assert d["duration_s"] == 1.5
    m = d["machine"]
    assert isinstance(m["cores"], int) and m["cores"] >= 1
    assert isinstance(m["cpu_model"], str) and m["cpu_model"]
    assert isinstance(m["ram_gib"], float) and m["ram_gib"] > 0
    assert isinstance(d["date"], str)
    parsed = dt.datetime.fromisoformat(d["date"])
    assert parsed.tzinfo is not None
    assert abs((dt.datetime.now(dt.timezone.utc) - parsed).total_seconds()) < 600
    commit = d["git_commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit)
    assert d["git_dirty"] in (True, False, None)
    assert isinstance(d["versions"], dict) and "torch" in d["versions"]


def test_git_commit_is_head_of_this_repo():
    commit = H.git_commit()
    if (REPO / ".git").exists():
        assert commit is not None and re.fullmatch(r"[0-9a-f]{40}", commit)


def test_quick_and_full_runs_use_different_files(tmp_path):
    assert H.result_path("per", True, tmp_path) == tmp_path / "per.quick.json"
    assert H.result_path("per", False, tmp_path) == tmp_path / "per.json"
    assert H.result_path("per", False).parent == BENCH / "results"
    full = _write(tmp_path, quick=False, figures={"run": "full"})
    quick = _write(tmp_path, quick=True, figures={"run": "quick"})
    assert full != quick
    assert json.loads(full.read_text())["figures"] == {"run": "full"}  # not overwritten by the quick run
    d = json.loads(quick.read_text())
    assert d["quick"] is True and d["figures"] == {"run": "quick"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["per.json", "per.quick.json"]


def test_write_result_requires_headline(tmp_path):
    with pytest.raises(ValueError):
        _write(tmp_path, quick=True, result={"apexrl": 1.0, "peer": 2.0})


def test_default_command_is_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/per.py", "--quick"])
    d = json.loads(_write(tmp_path, quick=True, command=None).read_text())
    assert d["command"] == "python benchmarks/per.py --quick"


def test_finish_writes_then_prints_result_line_last(tmp_path, capsys):
    line = H.finish("learner_throughput",
                    {"apexrl": 30.0, "peer": 20.0, "ratio": 1.5, "unit": "updates_per_s", "better": "higher"},
                    figures={}, peer="stable-baselines3", peer_version="2.9.2", quick=True,
                    results_dir=tmp_path, command="python benchmarks/learner_throughput.py --quick")
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == line == "RESULT learner_throughput apexrl=30.00 peer=20.00 ratio=1.50 unit=updates_per_s"
    d = json.loads((tmp_path / "learner_throughput.quick.json").read_text())
    assert d["result"]["better"] == "higher" and d["quick"] is True


# --------------------------------------------------------------------------- helpers
def test_machine_info_types():
    m = H.machine_info()
    assert isinstance(m["cores"], int)
    assert isinstance(m["cpu_model"], str)
    assert m["ram_gib"] is None or isinstance(m["ram_gib"], float)


def test_parse_args_quick_flag():
    assert H.parse_args("d", []).quick is False
    assert H.parse_args("d", ["--quick"]).quick is True
    ns = H.parse_args("d", ["--threads", "1"], extra=lambda p: p.add_argument("--threads", type=int, default=2))
    assert ns.threads == 1 and ns.quick is False


def test_interleaved_alternates_and_counts():
    calls: list[str] = []

    def f(name, value):
        def run():
            calls.append(name)
            return value

        return run

    out = H.interleaved({"a": f("a", 1.0), "b": f("b", 2.0), "c": f("c", 3.0)}, reps=4)
    assert out == {"a": [1.0] * 4, "b": [2.0] * 4, "c": [3.0] * 4}
    assert len(calls) == 12
    rounds = [calls[i:i + 3] for i in range(0, 12, 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)  # each repetition runs everyone once
    assert len({r[0] for r in rounds}) > 1  # not always the same one first


def test_stopwatch_excludes_paused_time(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(H.time, "perf_counter", lambda: now[0])
    sw = H.Stopwatch()
    now[0] += 2.0
    sw.pause()
    now[0] += 50.0  # e.g. an evaluation
    assert sw.elapsed == pytest.approx(2.0)
    sw.resume()
    now[0] += 3.0
    assert sw.elapsed == pytest.approx(5.0)


def test_print_table_shows_rows(capsys):
    H.print_table("T", ["lib", "x"], [["apexrl", 1234.5678], ["peer", math.inf]])
    out = capsys.readouterr().out
    assert "apexrl" in out and "1235" in out and "inf" in out


@pytest.mark.parametrize("stem", SCRIPTS)
def test_every_script_names_its_result_after_its_file(stem):
    path = BENCH / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # module level only imports; nothing runs
    assert module.NAME == stem
    assert callable(module.main)
    assert f"python benchmarks/{stem}.py [--quick]" in module.__doc__


def test_metrics_rows_reads_columns_and_skips_incomplete_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("env_frames,episode_return,loss\n100,1.5,\n200,2.5,0.25\n300,x,0.5\n400,3.0\n500,4.0,0.125\n")
    assert H.metrics_rows(path, ("env_frames", "loss")) == [
        {"env_frames": 200.0, "loss": 0.25}, {"env_frames": 300.0, "loss": 0.5},
        {"env_frames": 500.0, "loss": 0.125}]
    assert H.metrics_rows(path, ("env_frames", "episode_return")) == [
        {"env_frames": 100.0, "episode_return": 1.5}, {"env_frames": 200.0, "episode_return": 2.5},
        {"env_frames": 400.0, "episode_return": 3.0}, {"env_frames": 500.0, "episode_return": 4.0}]
    assert H.metrics_rows(path, ("wall_s",)) == []  # no such column
    assert H.metrics_rows(tmp_path / "missing.csv", ("env_frames",)) == []
