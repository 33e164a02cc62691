"""Checkpoint / resume through the real CLI, crashed and hung actors, export and load_policy."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from procs import workers as procs_workers  # noqa: E402
FAST = ["--learning-starts", "200", "--batch-size", "32", "--eval-episodes", "2", "--final-eval-episodes", "3",
        "--eval-interval-frames", "2000", "--no-progress", "--log-interval-s", "0.3", "--hidden-sizes", "32"]


def _env(marker=None):
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if marker is not None:
        env["APEXRL_TEST_MARKER"] = str(marker)
    return env


def apexrl(*args, timeout=240, marker=None):
    return subprocess.run([sys.executable, "-m", "apexrl.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=_env(marker))


def rows(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "apexrl.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())


def _wait_rows(run_dir, min_frames, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.stderr.read()}")
        path = os.path.join(run_dir, "metrics.csv")
        if os.path.exists(path):
            r = rows(run_dir)
            if r and int(r[-1]["env_frames"] or 0) >= min_frames:
                return r
        time.sleep(0.2)
    raise AssertionError("no training progress")


def test_sigterm_checkpoints_and_resume_continues_the_same_run(tmp_path):
    run_dir = str(tmp_path / "run")
    proc = start("train", "apex-dqn", "--env", "CartPole-v1", "--frames", "1000000", "--actors", "2",
                 "--run-dir", run_dir, *FAST)
    try:
        _wait_rows(run_dir, 3000, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "--resume" in err and not os.path.exists(os.path.join(run_dir, "summary.json"))
    ckpts = sorted(os.listdir(os.path.join(run_dir, "checkpoints")))
    assert len(ckpts) == 1 and ckpts[0].startswith("ckpt-")
    state = json.load(open(os.path.join(run_dir, "checkpoints", ckpts[0], "state.json")))
    saved = state["counters"]
    assert saved["env_steps"] >= 3000 and state["replay"]["num_added"] > 2000
    before = rows(run_dir)

    target = saved["env_steps"] + 4000
    res = apexrl("train", "apex-dqn", "--resume", run_dir, "--frames", str(target))
    assert res.returncode == 0, res.stderr
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["resumes"] == 1 and summary["env_frames"] >= target
    assert summary["learner_steps"] > saved["learner_steps"]
    after = rows(run_dir)
    assert after[:len(before)] == before  # appended to, not rewritten (one header)
    resumed = after[len(before):]
    for col in ("env_frames", "learner_steps", "episodes"):
        values = [int(r[col]) for r in after if r[col] != ""]
        assert values == sorted(values), col
    wall = [float(r["wall_s"]) for r in after]
    assert wall == sorted(wall)
    # counters continue from the checkpoint, and the replay came back full, not empty
    assert int(resumed[0]["env_frames"]) >= saved["env_steps"]
    assert int(resumed[0]["replay_size"]) >= state["replay"]["num_added"]
    assert int(resumed[0]["learner_steps"]) >= saved["learner_steps"]
    # the evaluation history of the first part is kept
    assert summary["eval_history"][:len(state["eval_history"])] == state["eval_history"]
    assert len(os.listdir(os.path.join(run_dir, "checkpoints"))) == 2  # the final one was added

    # export works from the finished run, and the policy gives the run's greedy actions
    out = str(tmp_path / "policy.safetensors")
    res = apexrl("export", run_dir, out)
    assert res.returncode == 0, res.stderr
    from apexrl import load_policy
    from apexrl.runtime.policy import load_run_network

    policy = load_policy(out)
    network, _, _ = load_run_network(run_dir)
    obs = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    import torch

    with torch.no_grad():
        expected = network(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(policy.q_values(obs), expected, rtol=1e-6)
    np.testing.assert_array_equal(policy.act(obs), expected.argmax(1))
    assert isinstance(policy.act(obs[0]), int) and policy.env_id == "CartPole-v1"
    with pytest.raises(ValueError, match="shape"):
        policy.q_values(np.zeros((2, 5), np.float32))


def test_resume_errors_name_the_problem(tmp_path):
    res = apexrl("train", "apex-dqn", "--resume", str(tmp_path / "nothing"))
    assert res.returncode == 2 and "config.json" in res.stderr
    run_dir = str(tmp_path / "run")
    res = apexrl("train", "dqn", "--env", "CartPole-v1", "--frames", "600", "--run-dir", run_dir,
                 "--checkpoint-every", "0", *FAST)
    assert res.returncode == 0, res.stderr
    res = apexrl("train", "apex-dqn", "--resume", run_dir)
    assert res.returncode == 2 and "'dqn' run" in res.stderr and "apexrl train dqn --resume" in res.stderr
    res = apexrl("train", "dqn", "--resume", run_dir, "--hidden-sizes", "64")
    assert res.returncode == 2 and "does not fit" in res.stderr
    res = apexrl("export", run_dir, str(tmp_path / "p.pt"))
    assert res.returncode == 2 and ".safetensors" in res.stderr


def test_crashed_actor_is_restarted_and_the_run_completes(tmp_path):
    run_dir = str(tmp_path / "run")
    res = apexrl("train", "apex-dqn", "--env", "bad_envs:CrashOnce-v0", "--frames", "3000", "--actors", "2",
                 "--run-dir", run_dir, *FAST, marker=tmp_path / "crashed")
    assert res.returncode == 0, res.stderr
    assert "actor" in res.stderr and "simulated emulator crash" in res.stderr  # the warning names it
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["actor_restarts"] == 1 and sorted(summary["actor_restarts_per_actor"]) == [0, 1]
    assert summary["env_frames"] >= 3000
    assert int(rows(run_dir)[-1]["actor_restarts"]) == 1


@pytest.mark.parametrize("backend", ["mp", pytest.param("ray", marks=pytest.mark.ray)])
def test_hung_env_step_counts_as_a_crash(tmp_path, backend):
    if backend == "ray":
        pytest.importorskip("ray", reason="the ray extra is part of the test install")
    run_dir = str(tmp_path / "run")
    res = apexrl("train", "apex-dqn", "--env", "bad_envs:HangOnce-v0", "--frames", "3000", "--actors", "1",
                 "--backend", backend, "--actor-timeout-s", "2", "--run-dir", run_dir, *FAST,
                 marker=tmp_path / "hung")
    assert res.returncode == 0, res.stderr
    assert "hung for more than 2 s" in res.stderr
    assert json.load(open(os.path.join(run_dir, "summary.json")))["actor_restarts"] == 1


def test_sigkilled_actor_is_restarted(tmp_path):
    run_dir = str(tmp_path / "run")
    proc = start("train", "apex-dqn", "--env", "CartPole-v1", "--frames", "12000", "--actors", "2",
                 "--run-dir", run_dir, *FAST)
    try:
        _wait_rows(run_dir, 1000, proc)
        workers = procs_workers(proc.pid)
        assert len(workers) == 3  # the evaluator (started first, lowest pid) and 2 actors
        os.kill(workers[-1], signal.SIGKILL)
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["actor_restarts"] == 1, err
    assert "exited with code -9" in err
    assert summary["env_frames"] >= 12000


def test_crash_loop_stops_naming_actor_and_last_error(tmp_path):
    res = apexrl("train", "apex-dqn", "--env", "bad_envs:NaNObs-v0", "--frames", "5000", "--actors", "1",
                 "--max-actor-restarts", "2", "--run-dir", str(tmp_path / "r"), *FAST)
    assert res.returncode == 1
    assert "actor 0 failed 3 times in a row without delivering any experience (--max-actor-restarts 2: a crash loop" \
        in res.stderr
    assert "NaNObs-v0" in res.stderr and "observation" in res.stderr.lower()


def test_a_flaky_env_that_makes_progress_is_restarted_for_as_long_as_the_run_lasts(tmp_path):
    # crashes at every 500th step of each instance: 10 messages of 50 transitions between crashes.
    # The local backend restarts in-process (seconds faster than a new process); the rule is the same
    # ActorRestarts object in every backend (its unit tests cover it)
    run_dir = str(tmp_path / "run")
    res = apexrl("train", "apex-dqn", "--env", "bad_envs:Flaky-v0", "--frames", "2600", "--backend", "local",
                 "--max-actor-restarts", "1", "--run-dir", run_dir, *FAST)
    assert res.returncode == 0, res.stderr
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["actor_restarts"] >= 4 and summary["env_frames"] >= 2600  # 4 > --max-actor-restarts 1
    assert "simulated flaky simulator" in res.stderr and "restart 4 (1 in a row without a delivery" in res.stderr


def test_an_env_failing_at_every_reset_is_a_crash_loop_that_stops(tmp_path):
    # the default --max-actor-restarts 5: 6 starts and 6.2 s of back-off (0.2 s doubling); the rest
    # of the time is 6 process starts (each imports torch: ~3 s on an idle 2-core machine)
    res = apexrl("train", "apex-dqn", "--env", "bad_envs:RaiseOnReset-v0", "--frames", "5000", "--actors", "1",
                 "--run-dir", str(tmp_path / "r"), *FAST)
    assert res.returncode == 1, res.stderr
    assert "failed 6 times in a row without delivering any experience (--max-actor-restarts 5: a crash loop" \
        in res.stderr and "simulator license server unreachable" in res.stderr
