"""The ``mp`` backend (default): actor processes started with ``spawn``.

Each actor process runs the same :class:`apexrl.runtime.actor.Actor` loop, pulls parameters
from shared memory (:class:`apexrl.runtime.params.SharedParams`) and puts its messages on one
bounded queue: when the learner falls behind, the queue fills and ``put`` blocks, so actors
slow down instead of memory growing. An evaluator process evaluates the newest published
parameters on request.
"""

from __future__ import annotations

import os
import queue as queue_lib
import time
import traceback
from typing import Any

import torch

from apexrl.config import ApexDQNConfig
from apexrl.envs import EnvSpecInfo
from apexrl.nets import build_dqn_network
from apexrl.runtime.actor import Actor, ActorError, ActorFailure, ActorMessage
from apexrl.runtime.evaluator import periodic_evaluation
from apexrl.runtime.params import SharedParams



class _ParentWatch:
    """True once the process that started us is gone (its children are re-parented), so a
    learner killed with SIGKILL leaves no actor running (``os.getppid`` is a cheap syscall)."""

    def __init__(self, parent: int) -> None:
        self.parent = parent  # the parent's pid, passed in: it may be gone before the child even starts

    def gone(self) -> bool:
        return os.getppid() != self.parent


def _actor_main(config: ApexDQNConfig, info: EnvSpecInfo, index: int, params: SharedParams, out: Any,
                stop: Any, parent: int) -> None:
    torch.set_num_threads(1)
    watch = _ParentWatch(parent)
    out.cancel_join_thread()  # exiting must not wait to flush into a pipe no one reads any more
    actor = None
    try:
        actor = Actor(config, info, index, params)
        while not stop.is_set() and not watch.gone():
            message = actor.step()
            if message is None:
                continue
            while not stop.is_set() and not watch.gone():
                try:
                    out.put(message, timeout=0.1)
                    break
                except queue_lib.Full:
                    continue
    except Exception as exc:  # reported to the learner, which stops the run
        try:
            out.put(ActorFailure(index, f"{type(exc).__name__}: {exc}", traceback.format_exc()), timeout=10)
        except Exception:
            pass
    finally:
        if actor is not None:
            actor.close()


def _failure(report: ActorFailure) -> ActorError:
    error = ActorError(f"actor {report.actor} failed: {report.error}")
    error.remote_traceback = report.traceback  # type: ignore[attr-defined]
    return error


class ProcessSource:
    """``num_actors`` actor processes feeding one bounded queue."""

    def __init__(self, config: ApexDQNConfig, info: EnvSpecInfo, params: SharedParams, ctx: Any) -> None:
        self.config = config
        self.queue = ctx.Queue(maxsize=config.actor.queue_size)
        self.stop_event = ctx.Event()
        self.processes = [
            ctx.Process(target=_actor_main,
                        args=(config, info, i, params, self.queue, self.stop_event, os.getpid()),
                        name=f"apexrl-actor-{i}", daemon=True)
            for i in range(config.run.num_actors)
        ]

    def start(self) -> None:
        for p in self.processes:
            p.start()

    def poll(self, max_messages: int, timeout: float) -> list[ActorMessage]:
        """Up to ``max_messages`` messages; waits up to ``timeout`` s for the first one.

        Raises:
            ActorError: an actor reported a failure or died.
        """
        if max_messages <= 0:
            if timeout > 0:
                time.sleep(timeout)
            self._check_alive()
            return []
        messages: list[ActorMessage] = []
        try:
            first = self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
            messages.append(first)
            while len(messages) < max_messages:
                messages.append(self.queue.get_nowait())
        except queue_lib.Empty:
            pass
        for m in messages:
            if isinstance(m, ActorFailure):
                raise _failure(m)
        if not messages:
            self._check_alive()
        return messages

    def _check_alive(self) -> None:
        for i, p in enumerate(self.processes):
            if p.exitcode is not None and not self.stop_event.is_set():
                try:  # a failure report may be waiting in the queue
                    m = self.queue.get(timeout=0.5)
                    if isinstance(m, ActorFailure):
                        raise _failure(m)
                except queue_lib.Empty:
                    pass
                raise ActorError(f"actor {i} exited unexpectedly with code {p.exitcode}")

    def stop(self) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + 10.0
        while any(p.is_alive() for p in self.processes) and time.monotonic() < deadline:
            try:  # drain so blocked puts return
                while True:
                    self.queue.get_nowait()
            except queue_lib.Empty:
                pass
            time.sleep(0.02)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
            p.join(timeout=2)
        self.queue.cancel_join_thread()
        self.queue.close()


def _evaluator_main(config: ApexDQNConfig, info: EnvSpecInfo, params: SharedParams, requests: Any, results: Any,
                    env_kwargs: dict[str, Any], parent: int) -> None:
    torch.set_num_threads(1)
    run = config.run
    net = build_dqn_network(config.learner, info)
    net.eval()
    watch = _ParentWatch(parent)
    results.cancel_join_thread()
    count = 0
    while not watch.gone():
        try:
            tag = requests.get(timeout=0.5)
        except queue_lib.Empty:
            continue
        if tag is None:
            return
        try:
            params.pull(net)
            returns = periodic_evaluation(net, run, count, env_kwargs)
            results.put((tag, returns))
        except Exception as exc:
            results.put((tag, f"{type(exc).__name__}: {exc}"))
        count += 1


class ProcessEvaluator:
    """An evaluator process; one evaluation at a time, requests while busy are skipped."""

    def __init__(self, config: ApexDQNConfig, info: EnvSpecInfo, params: SharedParams, ctx: Any,
                 env_kwargs: dict[str, Any]) -> None:
        self.requests = ctx.Queue()
        self.results = ctx.Queue()
        self.busy = False
        self.process = ctx.Process(target=_evaluator_main,
                                   args=(config, info, params, self.requests, self.results, env_kwargs,
                                         os.getpid()),
                                   name="apexrl-evaluator", daemon=True)
        self.process.start()

    def request(self, tag: dict[str, float]) -> bool:
        if self.busy:
            return False
        self.requests.put(tag)
        self.busy = True
        return True

    def poll(self) -> list[tuple[dict[str, float], list[float]]]:
        out = []
        try:
            while True:
                tag, returns = self.results.get_nowait()
                self.busy = False
                if isinstance(returns, str):
                    raise RuntimeError(f"evaluator failed: {returns}")
                out.append((tag, returns))
        except queue_lib.Empty:
            pass
        return out

    def stop(self) -> None:
        if self.process.is_alive():
            self.requests.put(None)
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=2)
