"""Ctrl-C in a terminal: ``apexrl train`` under a pseudo-terminal, the interrupt character
typed into it (the terminal driver sends SIGINT to the whole foreground process group, children
included, as a real terminal does)."""

from __future__ import annotations

import csv
import os
import pty
import signal
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from procs import alive, children  # noqa: E402

from apexrl.runtime.checkpoint import checkpoint_dirs, load_latest  # noqa: E402

FAST = ["--learning-starts", "200", "--batch-size", "32", "--eval-episodes", "1", "--final-eval-episodes", "1",
        "--eval-interval-frames", "1000", "--no-progress", "--log-interval-s", "0.3", "--hidden-sizes", "32",
        "--frames", "10000000"]


def _descendants(pid):
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


class Terminal:
    """``python -m apexrl.cli ARGS`` as the session leader of a new pseudo-terminal (its controlling
    terminal, stdin/stdout/stderr); everything written to the screen is collected in ``screen``."""

    def __init__(self, args):
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""), TERM="xterm")
        pid, fd = pty.fork()  # child: setsid, the slave as controlling terminal and fds 0-2
        if pid == 0:
            try:  # as a shell starts a foreground job: default SIGINT, whatever the test runner had
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.execve(sys.executable, [sys.executable, "-m", "apexrl.cli", *args], env)
            finally:
                os._exit(127)
        self.pid, self.fd, self.chunks = pid, fd, []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: every process holding the slave has closed it
                return
            if not data:
                return
            self.chunks.append(data)

    @property
    def screen(self):
        return b"".join(self.chunks).decode(errors="replace")

    def ctrl_c(self):
        os.write(self.fd, b"\x03")  # VINTR: the line discipline signals the foreground process group

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.reader.join(timeout=10)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"no exit {timeout} s after Ctrl-C; screen:\n{self.screen}")

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


def _wait_training(run_dir, term, timeout, min_frames=1500):
    """Until the learner learns and an evaluation has finished: every child is past its start and
    the evaluator waits for its next request (the next one is ``--eval-interval-frames`` away)."""
    metrics = os.path.join(run_dir, "metrics.csv")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitpid(term.pid, os.WNOHANG)[0]:
            raise AssertionError(f"run ended before Ctrl-C:\n{term.screen}")
        if os.path.exists(metrics):
            with open(metrics) as f:
                rows = list(csv.DictReader(f))
            if rows and int(rows[-1]["env_frames"] or 0) >= min_frames and rows[-1]["eval_return"] != "":
                return
        time.sleep(0.1)
    raise AssertionError(f"no training progress in {timeout} s:\n{term.screen}")


def _ctrl_c_run(tmp_path, backend_args, start_timeout, exit_timeout):
    run_dir = str(tmp_path / "run")
    term = Terminal(["train", "apex-dqn", "--env", "CartPole-v1", "--run-dir", run_dir, *backend_args, *FAST])
    try:
        _wait_training(run_dir, term, start_timeout)
        workers = _descendants(term.pid)
        term.ctrl_c()
        code = term.wait(exit_timeout)
    finally:
        term.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(p) for p in workers):
        time.sleep(0.2)
    return run_dir, term.screen, code, workers


def _check(run_dir, screen, code, workers, min_workers):
    assert len(workers) >= min_workers, (workers, screen)
    assert code == 128 + signal.SIGINT, screen
    assert "interrupted by SIGINT" in screen and "--resume" in screen, screen
    assert "Traceback" not in screen and "KeyboardInterrupt" not in screen, screen
    survivors = [p for p in workers if alive(p)]
    assert not survivors, f"still running 20 s after the exit: {survivors}\n{screen}"
    assert checkpoint_dirs(run_dir)
    ckpt = load_latest(run_dir)  # complete: every file matches its manifest
    assert ckpt.state["counters"]["env_steps"] > 0


def test_ctrl_c_in_a_terminal_stops_cleanly_mp(tmp_path):
    run_dir, screen, code, workers = _ctrl_c_run(tmp_path, ["--actors", "2"], start_timeout=120, exit_timeout=60)
    _check(run_dir, screen, code, workers, min_workers=3)  # 2 actors + the evaluator (+ resource tracker)


@pytest.mark.ray
def test_ctrl_c_in_a_terminal_stops_cleanly_ray(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is part of the test install: pip install -e '.[dev,ray]'")
    run_dir, screen, code, workers = _ctrl_c_run(tmp_path, ["--backend", "ray", "--actors", "1"],
                                                 start_timeout=240, exit_timeout=120)
    _check(run_dir, screen, code, workers, min_workers=3)  # Ray's processes and workers
