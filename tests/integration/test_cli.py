"""The real ``apexrl`` CLI on real environments with tiny budgets."""

import csv
import json
import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from procs import alive, children  # noqa: E402
from procs import cmdline, workers as procs_workers  # noqa: E402
TINY = ["--learning-starts", "200", "--batch-size", "32", "--eval-episodes", "2", "--final-eval-episodes", "3",
        "--eval-interval-frames", "1000", "--no-progress", "--log-interval-s", "0.5"]


def apexrl(*args, timeout=240):
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "apexrl.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


REQUIRED_COLUMNS = {"env_frames", "learner_steps", "wall_s", "episode_return", "eval_return", "env_frames_per_s",
                    "learner_steps_per_s", "replay_size"}
REQUIRED_SUMMARY = {"final_eval_return", "best_eval_return", "env_frames", "learner_steps", "wall_s",
                    "env_frames_per_s"}


def check_run_dir(run_dir, min_frames):
    for name in ("config.json", "metrics.csv", "model.safetensors", "summary.json"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(run_dir))
    rows = read_metrics(run_dir)
    assert rows and REQUIRED_COLUMNS <= set(rows[0])
    frames = [int(r["env_frames"]) for r in rows]
    assert frames == sorted(frames)
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert REQUIRED_SUMMARY <= set(summary)
    assert summary["env_frames"] >= min_frames
    assert summary["learner_steps"] > 0
    assert rows[-1]["eval_return"] != ""
    assert float(rows[-1]["eval_return"]) == pytest.approx(summary["final_eval_return"], rel=1e-4)
    assert summary["best_eval_return"] >= summary["final_eval_return"]
    assert load_file(os.path.join(run_dir, "model.safetensors"))
    return summary


@pytest.mark.parametrize("backend, actors", [("local", 1), ("mp", 2)])
def test_train_cartpole_tiny_then_eval(tmp_path, backend, actors):
    run_dir = str(tmp_path / "run")
    res = apexrl("train", "apex-dqn", "--env", "CartPole-v1", "--preset", "cartpole", "--frames", "3000",
                 "--backend", backend, "--actors", str(actors), "--run-dir", run_dir, *TINY)
    assert res.returncode == 0, res.stderr
    summary = check_run_dir(run_dir, 3000)
    assert summary["num_actors"] == actors
    config = json.load(open(os.path.join(run_dir, "config.json")))
    assert config["algo"] == "apex-dqn" and config["config"]["learner"]["batch_size"] == 32
    res = apexrl("eval", run_dir, "--episodes", "3")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert len(result["returns"]) == 3 and all(r >= 8 for r in result["returns"])


def test_existing_run_dir_is_not_overwritten(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_text("keep me")
    res = apexrl("train", "apex-dqn", "--env", "CartPole-v1", "--run-dir", str(run_dir), "--frames", "100")
    assert res.returncode != 0
    assert "--run-dir" in res.stderr and "already holds a run" in res.stderr
    assert (run_dir / "metrics.csv").read_text() == "keep me"


def test_unknown_env_fails_before_start_with_suggestion(tmp_path):
    run_dir = tmp_path / "run"
    res = apexrl("train", "apex-dqn", "--env", "CartPol-v1", "--run-dir", str(run_dir))
    assert res.returncode != 0
    assert "CartPol-v1" in res.stderr and "Did you mean" in res.stderr and "CartPole" in res.stderr
    assert not run_dir.exists()


def test_continuous_action_space_is_refused_naming_algorithms(tmp_path):
    res = apexrl("train", "apex-dqn", "--env", "Pendulum-v1", "--run-dir", str(tmp_path / "r"))
    assert res.returncode != 0
    assert "`apex-dqn` needs a Discrete action space but Pendulum-v1 has Box(-2.0, 2.0, (1,), float32); for Box " \
        "actions use: ddpg, td3, apex-dpg, d4pg, sac" in res.stderr
    assert not (tmp_path / "r").exists()


def test_invalid_flag_value_names_the_flag(tmp_path):
    res = apexrl("train", "apex-dqn", "--env", "CartPole-v1", "--batch-size", "-4", "--run-dir", str(tmp_path / "r"))
    assert res.returncode != 0
    assert "--batch-size" in res.stderr
    assert not (tmp_path / "r").exists()


def test_unknown_algorithm_and_preset(tmp_path):
    res = apexrl("train", "apex-dqx")
    assert res.returncode != 0 and "apex-dqn" in res.stderr
    res = apexrl("train", "apex-dqn", "--preset", "mujoco")
    assert res.returncode != 0 and "cartpole" in res.stderr


@pytest.mark.parametrize("env_id, what", [("bad_envs:NaNObs-v0", "observation"), ("bad_envs:InfReward-v0", "reward")])
def test_non_finite_env_output_stops_run_naming_env_actor_step(tmp_path, env_id, what):
    res = apexrl("train", "apex-dqn", "--env", env_id, "--frames", "5000", "--run-dir", str(tmp_path / "r"),
                 "--actors", "1", "--max-actor-restarts", "0", *TINY)
    assert res.returncode == 1
    assert env_id.split(":")[1] in res.stderr and "actor 0" in res.stderr and "step" in res.stderr
    assert what in res.stderr.lower()


def test_pong_end_to_end_tiny(tmp_path):
    run_dir = str(tmp_path / "pong")
    res = apexrl("train", "apex-dqn", "--env", "ALE/Pong-v5", "--preset", "atari", "--frames", "4000",
                 "--backend", "local", "--replay-capacity", "5000", "--envs-per-actor", "2",
                 "--eval-max-episode-steps", "200", "--run-dir", run_dir, *TINY)
    assert res.returncode == 0, res.stderr
    summary = check_run_dir(run_dir, 4000)
    assert summary["env_frames"] == 4 * summary["env_steps"]


def test_sigkill_of_main_process_leaves_no_actor_running(tmp_path):
    import signal
    import time

    run_dir = tmp_path / "run"
    shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "apexrl.cli", "train", "apex-dqn", "--env", "CartPole-v1",
                             "--preset", "cartpole", "--frames", "10000000", "--actors", "2", "--run-dir",
                             str(run_dir), "--no-progress", "--log-interval-s", "0.5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until training runs (a row beyond the header)
            metrics = run_dir / "metrics.csv"
            if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        workers = procs_workers(proc.pid)
        assert len(workers) >= 3  # 2 actors + the evaluator
        workers += [c for c in children(proc.pid) if "multiprocessing.forkserver" in cmdline(c)]  # their server
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(c) for c in workers):
        time.sleep(0.2)
    survivors = [c for c in workers if alive(c)]
    assert not survivors, f"processes still running 10 s after the learner was killed: {survivors}"
    if os.path.isdir("/dev/shm"):  # shared memory is unlinked as soon as it is mapped, and the resource
        # tracker unlinks the named semaphores once the last worker is gone: nothing is left
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and set(os.listdir("/dev/shm")) - shm_before:
            time.sleep(0.2)
        assert set(os.listdir("/dev/shm")) - shm_before == set()
