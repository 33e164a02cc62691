"""A first run as a new user sees it, with output captured: the header, progress lines, an
unreachable Ray cluster, evaluating a stopped run, more actors than cores."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_cli import apexrl, read_metrics  # noqa: E402

SMALL = ["--learning-starts", "200", "--batch-size", "32", "--eval-episodes", "2", "--final-eval-episodes", "3",
         "--eval-interval-frames", "1000", "--log-interval-s", "0.5"]
LINE = re.compile(r"^train (?P<done>[\d,]+)/(?P<total>[\d,]+) frames \(\d+%\) \| (?P<fps>[\d,]+) frames/s \| "
                  r"(?P<lps>[\d,.]+) updates/s \| return (?P<ret>-|[\d.-]+) \| eval (?P<ev>-|[\d.-]+) \| "
                  r"elapsed (?P<elapsed>\d+:\d\d:\d\d) \| ETA (?P<eta>-|\d+:\d\d:\d\d)$")


def test_redirected_output_has_a_header_and_one_progress_line_per_log_interval(tmp_path):
    run_dir = str(tmp_path / "run")
    res = apexrl("train", "apex-dqn", "--env", "CartPole-v1", "--preset", "cartpole", "--frames", "3000",
                 "--backend", "local", "--run-dir", run_dir, *SMALL)
    assert res.returncode == 0, res.stderr
    header = {"algorithm:": "apex-dqn", "env:": "CartPole-v1", "backend:": "local",
              "actors:": "1 × 1 envs (in the learner's process)", "frames:": "3,000", "run dir:": run_dir,
              "tensorboard:": f"tensorboard --logdir {run_dir}"}
    for label, value in header.items():
        assert re.search(rf"^{re.escape(label)}\s+{re.escape(value)}$", res.stderr, re.M), (label, res.stderr)
    assert re.search(r"^device:\s+cpu \(\d+ torch threads?\)$", res.stderr, re.M)
    run_txt = open(os.path.join(run_dir, "run.txt")).read()
    assert all(value in run_txt for value in header.values())
    assert "warning:" not in res.stderr  # one process: never oversubscribed
    lines = [line for line in res.stdout.splitlines() if line.startswith("train ")]
    rows = read_metrics(run_dir)
    assert len(lines) == len(rows) >= 2  # one line per metrics.csv row (log interval), the final one included
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    done = [int(m["done"].replace(",", "")) for m in matches]
    assert done == [int(r["env_frames"]) for r in rows] and done[-1] >= 3000
    assert {m["total"] for m in matches} == {"3,000"}
    final = matches[-1]
    assert final["ev"] != "-" and final["ev"] == f"{float(rows[-1]['eval_return']):.1f}"  # the line shows 1 decimal
    assert final["ret"] != "-" and final["eta"] in ("-", "0:00:00")
    assert "\x1b" not in res.stdout  # no escape sequences in a file
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["run_dir"] == run_dir


def test_unreachable_ray_address_fails_fast_with_the_command_to_start_one(tmp_path):
    with socket.socket() as s:  # a port on 127.0.0.1 where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    res = apexrl("train", "apex-dqn", "--env", "CartPole-v1", "--backend", "ray", "--ray-address",
                 f"127.0.0.1:{port}", "--run-dir", str(tmp_path / "r"), "--no-progress", timeout=60)
    elapsed = time.monotonic() - start
    assert res.returncode != 0 and elapsed < 15, (res.returncode, elapsed)
    text = " ".join(res.stderr.split())
    assert f"no Ray cluster at 127.0.0.1:{port}" in text and f"ray start --head --port={port}" in text
    assert "GCS" not in res.stderr and "pubsub" not in res.stderr
    assert not (tmp_path / "r").exists()


def test_stopped_run_on_too_few_cores_warns_then_evaluates_from_its_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "apexrl.cli", "train", "apex-dqn", "--env", "CartPole-v1",
                             "--preset", "cartpole", "--frames", "10000000", "--actors", "2", "--run-dir",
                             str(run_dir), "--no-progress", "--checkpoint-every", "0", *SMALL],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and proc.poll() is None:  # wait for learner steps
            rows = read_metrics(run_dir) if (run_dir / "metrics.csv").exists() else []
            if rows and int(rows[-1]["learner_steps"]) > 0:
                break
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert ("warning: 2 actor processes + 1 learner + 1 evaluator = 4 processes on 1 CPU core: "
            "the actors, the learner and the evaluator will slow each other down; use --actors 1") in err
    assert not (run_dir / "model.safetensors").exists()
    res = apexrl("eval", str(run_dir), "--episodes", "2")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["network_kind"] == "checkpoint" and len(result["returns"]) == 2
    checkpoint = result["network"]
    assert os.path.isdir(checkpoint) and os.path.dirname(checkpoint) == str(run_dir / "checkpoints")
    assert f"evaluating the checkpoint {checkpoint} (learner step {result['learner_steps']:,}" in res.stderr
    res = apexrl("export", str(run_dir), str(tmp_path / "p.safetensors"))  # the same resolution
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["source"] == checkpoint
