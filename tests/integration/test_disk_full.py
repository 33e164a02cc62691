"""Checkpoints on a real full disk: the run directory on a small tmpfs (mounted here when the
test may mount one, as root; skipped with the reason otherwise; the same failures injected into
the serializer run in tests/unit/test_reliability.py on every machine)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from apexrl.runtime.checkpoint import checkpoint_dirs, load_latest

HERE = os.path.dirname(os.path.abspath(__file__))

# the cartpole preset's 256x256 network: a checkpoint (online, target, Adam moments) is over
# 1.1 MB, so a 3 MB disk holds one or two of them, not three; the final model (0.3 MB) fits
ARGS = ["train", "apex-dqn", "--env", "CartPole-v1", "--preset", "cartpole", "--backend", "local", "--actors", "1",
        "--learning-starts", "200", "--eval-interval-frames", "0", "--final-eval-episodes", "1", "--no-progress",
        "--no-tensorboard", "--log-interval-s", "0.5", "--checkpoint-every", "0.004"]


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"this sandbox does not allow mounting a tmpfs: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _apexrl(*args):
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "apexrl.cli", *args], capture_output=True, text=True, timeout=400,
                          env=env)


def _no_debris(run_dir):
    names = os.listdir(os.path.join(run_dir, "checkpoints"))
    assert all(n.startswith("ckpt-") and "." not in n for n in names), names
    assert not [n for n in os.listdir(run_dir) if n.startswith(".tmp-")]


def test_full_disk_checkpoints_fail_cleanly_and_training_goes_on(small_disk):
    run_dir = str(small_disk / "run")
    res = _apexrl(*ARGS, "--frames", "2500", "--max-checkpoint-failures", "1000", "--run-dir", run_dir)
    assert res.returncode == 0, res.stderr
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    errors = summary["checkpoint_errors"]
    assert errors and all("No space left on device" in e for e in errors), errors
    assert res.stderr.count("training goes on, the previous checkpoints are intact") == len(errors), res.stderr
    assert "Traceback" not in res.stderr
    _no_debris(run_dir)  # every failed write removed its temporary directory
    assert checkpoint_dirs(run_dir) and load_latest(run_dir).state["counters"]["env_steps"] > 0
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        assert int(list(csv.DictReader(f))[-1]["checkpoint_errors"]) == len(errors)
    assert os.path.getsize(os.path.join(run_dir, "model.safetensors")) > 200_000


def test_full_disk_past_the_bound_stops_and_keeps_the_last_good_checkpoint(small_disk):
    run_dir = str(small_disk / "run")
    res = _apexrl(*ARGS, "--frames", "10000000", "--max-checkpoint-failures", "2", "--run-dir", run_dir)
    assert res.returncode == 1, res.stderr
    message = " ".join(res.stderr.split())  # the console wraps long lines
    assert "2 checkpoint(s) in a row could not be written (--max-checkpoint-failures 2)" in message
    assert "No space left on device" in message and "Traceback" not in message
    good = checkpoint_dirs(run_dir)
    assert good and f"last good checkpoint is {good[0]}" in message
    _no_debris(run_dir)
    ckpt = load_latest(run_dir)
    assert ckpt.path == good[0] and ckpt.state["counters"]["env_steps"] > 0
    assert not os.path.exists(os.path.join(run_dir, "summary.json"))
