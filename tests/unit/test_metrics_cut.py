"""cut_metrics_to_checkpoint: rows past a checkpoint move to a side file before a resume."""

from __future__ import annotations

import csv
import os

from apexrl.logging import CSV_COLUMNS, MetricsLogger, cut_metrics_to_checkpoint


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_run(run_dir, points):
    logger = MetricsLogger(str(run_dir), tensorboard=False)
    for frames, steps in points:
        logger.log({"env_frames": frames, "env_steps": frames // 4, "learner_steps": steps, "wall_s": frames / 100.0})
    logger.close()


def test_rows_after_the_checkpoint_move_to_a_side_file(tmp_path):
    # checkpoint at 59,676 frames / 900 learner steps; the killed run logged on to 74,916
    _write_run(tmp_path, [(20_000, 100), (40_000, 500), (59_676, 900), (66_000, 1100), (74_916, 1400)])
    side = cut_metrics_to_checkpoint(str(tmp_path), 59_676, 900)
    assert side == os.path.join(str(tmp_path), "metrics.after-ckpt-900.csv")
    kept = _read(tmp_path / "metrics.csv")
    assert [int(r["env_frames"]) for r in kept] == [20_000, 40_000, 59_676]
    moved = _read(side)
    assert [(int(r["env_frames"]), int(r["learner_steps"])) for r in moved] == [(66_000, 1100), (74_916, 1400)]
    assert list(moved[0]) == list(CSV_COLUMNS)
    # the resumed run appends from the checkpoint on: one row per point of the resumed timeline
    logger = MetricsLogger(str(tmp_path), tensorboard=False, append=True)
    logger.log({"env_frames": 61_000, "learner_steps": 950})
    logger.close()
    frames = [int(r["env_frames"]) for r in _read(tmp_path / "metrics.csv")]
    assert frames == [20_000, 40_000, 59_676, 61_000]
    with open(tmp_path / "metrics.csv") as f:
        assert sum(line.startswith("env_frames,") for line in f) == 1  # one header


def test_a_row_with_more_learner_steps_at_the_same_frames_is_moved_too(tmp_path):
    _write_run(tmp_path, [(1000, 10), (2000, 20), (2000, 35)])
    side = cut_metrics_to_checkpoint(str(tmp_path), 2000, 20)
    assert [int(r["learner_steps"]) for r in _read(tmp_path / "metrics.csv")] == [10, 20]
    assert [int(r["learner_steps"]) for r in _read(side)] == [35]


def test_nothing_changes_when_no_row_is_beyond(tmp_path):
    _write_run(tmp_path, [(1000, 10), (2000, 20)])
    before = (tmp_path / "metrics.csv").read_bytes()
    assert cut_metrics_to_checkpoint(str(tmp_path), 2000, 20) is None
    assert (tmp_path / "metrics.csv").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["metrics.csv"]
    assert cut_metrics_to_checkpoint(str(tmp_path / "missing"), 0, 0) is None


def test_a_second_cut_from_the_same_checkpoint_appends_to_the_side_file(tmp_path):
    _write_run(tmp_path, [(1000, 10), (3000, 30)])
    side = cut_metrics_to_checkpoint(str(tmp_path), 1000, 10)
    logger = MetricsLogger(str(tmp_path), tensorboard=False, append=True)
    logger.log({"env_frames": 2500, "learner_steps": 25})  # killed again before a new checkpoint
    logger.close()
    assert cut_metrics_to_checkpoint(str(tmp_path), 1000, 10) == side
    assert [int(r["env_frames"]) for r in _read(side)] == [3000, 2500]
    assert [int(r["env_frames"]) for r in _read(tmp_path / "metrics.csv")] == [1000]


def test_resuming_a_run_with_older_columns_rewrites_the_header(tmp_path):
    # a metrics.csv written before checkpoint_errors and actor_restarts existed
    old = [c for c in CSV_COLUMNS if c not in ("checkpoint_errors", "actor_restarts")]
    with open(tmp_path / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=old)
        writer.writeheader()
        writer.writerow({"env_frames": 1000, "learner_steps": 10, "loss": "0.5"})
    logger = MetricsLogger(str(tmp_path), tensorboard=False, append=True)
    logger.log({"env_frames": 2000, "learner_steps": 20, "actor_restarts": 1, "checkpoint_errors": 0})
    logger.close()
    with open(tmp_path / "metrics.csv", newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header) == CSV_COLUMNS
    rows = _read(tmp_path / "metrics.csv")
    assert [(r["env_frames"], r["loss"], r["actor_restarts"]) for r in rows] == [("1000", "0.5", ""), ("2000", "", "1")]
