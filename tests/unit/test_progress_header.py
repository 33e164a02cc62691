"""Progress output outside a terminal, the run header and the oversubscription warning."""

import io
import os
import time

import pytest
from rich.console import Console

from apexrl.agents import AGENTS
from apexrl.config import ApexDQNConfig, RunConfig
from apexrl.logging import ProgressBar, progress_line
from apexrl.runtime import header
from apexrl.runtime.header import announce_run, format_header, header_fields, oversubscription_warning

ROW = {"env_frames": 12_000, "env_frames_per_s": 1609.6, "learner_steps_per_s": 349.84, "episode_return": 27.25,
       "eval_return": 500.0}


def test_progress_line_has_every_figure():
    assert progress_line(ROW, 100_000, 7.4, 52.6) == (
        "train 12,000/100,000 frames (12%) | 1,610 frames/s | 349.8 updates/s | return 27.2 | eval 500.0 | "
        "elapsed 0:00:07 | ETA 0:00:53")
    line = progress_line({"env_frames": 0}, 3_000, 3725.0, None)
    assert line == ("train 0/3,000 frames (0%) | 0 frames/s | 0.0 updates/s | return - | eval - | "
                    "elapsed 1:02:05 | ETA -")


def _plain(env=None):
    out = io.StringIO()
    console = Console(file=out, _environ=env or {}, width=300)
    return ProgressBar(100_000, interval_s=60.0, console=console), out


def test_outside_a_terminal_one_line_per_logged_row_and_a_last_one_on_close():
    bar, out = _plain()
    assert not bar.live
    bar.update({**ROW, "env_frames": 1_000, "eval_return": None}, line=True)  # a metrics.csv row
    bar.update({**ROW, "env_frames": 2_000}, line=False)  # a snapshot between rows: no line
    bar.update({**ROW, "env_frames": 3_000, "eval_return": None}, line=True)
    bar.update({**ROW, "env_frames": 4_000, "eval_return": None})  # time-based: 60 s have not passed
    bar.close()  # the last figures were not printed yet
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1,000/100,000", "3,000/100,000", "4,000/100,000"]
    assert "eval -" in lines[0] and "eval 500.0" in lines[1] and "eval 500.0" in lines[2]  # the last eval stays
    assert all("\x1b" not in line for line in lines)
    for line in lines:
        for figure in ("frames/s", "updates/s", "return 27.2", "elapsed ", "ETA "):
            assert figure in line


def test_time_based_lines_follow_the_interval():
    out = io.StringIO()
    bar = ProgressBar(10_000, interval_s=0.2, console=Console(file=out, _environ={}))
    bar.update({"env_frames": 100})  # the first one is printed at once
    bar.update({"env_frames": 200})
    time.sleep(0.25)
    bar.update({"env_frames": 300})
    assert [line.split()[1] for line in out.getvalue().splitlines()] == ["100/10,000", "300/10,000"]
    bar.close()
    assert len(out.getvalue().splitlines()) == 2  # the last row was printed already


def test_terminal_detection_follows_rich():
    out = io.StringIO()
    live = ProgressBar(1000, console=Console(file=out, force_terminal=True, _environ={}))
    assert live.live
    live.close()
    dumb = ProgressBar(1000, console=Console(file=io.StringIO(), force_terminal=True, _environ={"TERM": "dumb"}))
    assert not dumb.live  # TERM=dumb: no cursor movement, plain lines
    forced = ProgressBar(1000, console=Console(file=io.StringIO(), _environ={"TTY_COMPATIBLE": "1"}))
    assert forced.live
    forced.close()
    bar, out = _plain({"NO_COLOR": "1", "TTY_COMPATIBLE": "0"})
    bar.update(ROW, line=True)
    assert out.getvalue().startswith("train 12,000/100,000") and "\x1b" not in out.getvalue()


def test_header_fields_and_run_txt(tmp_path):
    config = AGENTS["apex-dqn"].presets["minatar"]()
    fields = dict(header_fields(config, "apex-dqn", str(tmp_path), "cpu (1 torch thread)"))
    assert fields == {"algorithm": "apex-dqn", "env": "MinAtar/Breakout-v1", "backend": "mp",
                      "actors": "2 × 4 envs (processes)", "frames": "3,000,000", "device": "cpu (1 torch thread)",
                      "run dir": str(tmp_path), "tensorboard": f"tensorboard --logdir {tmp_path}"}
    stream = io.StringIO()
    text = announce_run(config, "apex-dqn", str(tmp_path), "cpu (1 torch thread)", cores=2, stream=stream)
    assert stream.getvalue() == text + "\n"
    assert (tmp_path / "run.txt").read_text() == text + "\n"
    assert text.splitlines()[0] == "algorithm:   apex-dqn" and text.splitlines()[6] == f"run dir:     {tmp_path}"
    local = AGENTS["dqn"].presets["cartpole"]()
    assert dict(header_fields(local, "dqn", "r", "cpu"))["actors"] == "1 × 1 envs (in the learner's process)"
    assert format_header([("a", "1"), ("long", "2")]) == "a:    1\nlong: 2"


def _actors(n, backend="mp", ray_address=None):
    return ApexDQNConfig(run=RunConfig(num_actors=n, backend=backend, ray_address=ray_address))


def test_oversubscription_warning_above_the_core_count_only():
    message = oversubscription_warning(_actors(6), cores=2)
    assert message == ("6 actor processes + 1 learner + 1 evaluator = 8 processes on 2 CPU cores: the actors, the "
                       "learner and the evaluator will slow each other down; use --actors 2 or fewer on this machine")
    assert "3 actor processes" in oversubscription_warning(_actors(3), cores=2)
    assert oversubscription_warning(_actors(2), cores=2) is None
    assert oversubscription_warning(_actors(1), cores=2) is None
    assert oversubscription_warning(_actors(4, "ray"), cores=2) is not None  # a local Ray instance
    assert oversubscription_warning(_actors(4, "ray", "10.0.0.1:6379"), cores=2) is None  # the cluster's cores


@pytest.mark.parametrize("cores, warned", [(2, True), (3, False), (4, False)])
def test_announce_run_counts_the_cores_this_process_may_use(tmp_path, monkeypatch, cores, warned):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert header.available_cores() == cores
    stream = io.StringIO()
    announce_run(_actors(3), "apex-dqn", str(tmp_path), "cpu", stream=stream)
    assert ("warning: 3 actor processes" in stream.getvalue()) is warned
    assert ("warning:" in (tmp_path / "run.txt").read_text()) is warned


def test_eta_from_the_rate_since_frames_came_in(monkeypatch):
    from types import SimpleNamespace

    import apexrl.logging

    clock = iter([0.0, 10.0, 20.0, 30.0])  # creation, then one reading per update
    monkeypatch.setattr(apexrl.logging, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    out = io.StringIO()
    bar = ProgressBar(10_000, interval_s=0.0, console=Console(file=out, _environ={}))
    for frames in (0, 1_000, 3_000):  # actors start up for 10 s, then 2,000 frames in 10 s
        bar.update({"env_frames": frames})
    tails = [line.rsplit("| ", 2)[1:] for line in out.getvalue().splitlines()]
    assert tails == [["elapsed 0:00:10 ", "ETA -"], ["elapsed 0:00:20 ", "ETA -"],
                     ["elapsed 0:00:30 ", "ETA 0:00:35"]]  # 7,000 frames left at 200 frames/s
