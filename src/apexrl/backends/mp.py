"""The ``mp`` backend (default): actor processes started by a fork server (:func:`worker_context`).

Each actor process runs the same :class:`apexrl.runtime.actor.Actor` loop, pulls parameters
from shared memory (:class:`apexrl.runtime.params.SharedParams`) and sends its messages through
its own pipe. A sender thread in the actor writes to the pipe while the actor keeps stepping; a
bounded outbox of ``queue_size`` messages gives backpressure: when the learner falls behind the
actor waits instead of memory growing.

One pipe per actor is what makes crashes harmless: the learner holds only the read end, so an
actor killed in the middle of a message leaves a truncated message that ends in end-of-file on
its own pipe; it is discarded with the pipe, never inserted partly, and no lock shared with the
other actors is left held (as one shared ``multiprocessing.Queue`` would). A crashed actor (an
exception, a signal, an environment step running longer than ``--actor-timeout-s``) is
restarted with the newest parameters after a short backoff, up to ``--max-actor-restarts``
times. An evaluator process evaluates the newest published parameters on request.

Every child process starts through :func:`start_child`: it ignores SIGINT (Ctrl-C in a terminal
reaches the whole process group; the main process checkpoints and stops its children) and
exits by itself when the main process dies.
"""

from __future__ import annotations

import logging
import os
import queue as queue_lib
import signal
import threading
import time
import traceback
from multiprocessing.connection import wait
from typing import Any

import torch

from apexrl.agents import Agent, get_agent
from apexrl.backends.local import evaluator_failed, evaluator_restarts
from apexrl.envs import EnvSpecInfo
from apexrl.replay.build import agent_replay
from apexrl.runtime.actor import Actor, ActorFailure, ActorMessage, ActorRestarts, frames_per_step
from apexrl.runtime.evaluator import periodic_evaluation
from apexrl.runtime.params import SharedParams

log = logging.getLogger("apexrl")


def _child_entry(target: Any, *args: Any) -> None:
    """First code of every child process: SIGINT is ignored from here on (it arrived blocked, see
    :func:`start_child`, so a Ctrl-C during start-up is dropped too), then ``target(*args)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    target(*args)


def start_child(ctx: Any, target: Any, args: tuple[Any, ...], name: str) -> Any:
    """Start ``target(*args)`` in a daemon child process of ``ctx`` that ignores SIGINT.

    Ctrl-C in a terminal sends SIGINT to the whole foreground process group; the main process
    coordinates the stop (checkpoint, then it stops its children), so children leave SIGINT to it
    instead of dying with a ``KeyboardInterrupt`` traceback. SIGINT is blocked in this thread
    while the child is created, so the child inherits it blocked (through ``exec`` as well) and is
    covered from its first instruction, including the time a ``spawn`` child spends importing;
    a SIGINT for this process meanwhile stays pending and is delivered right after. Children still
    stop by themselves when this process dies (:class:`_ParentWatch`). The same approach as
    :mod:`multiprocessing.resource_tracker`. Every worker process of apexrl starts through here.

    Args:
        ctx: a multiprocessing context (:func:`worker_context`).
        target: a module-level function (picklable).
        args: its arguments.
        name: the process name (``apexrl-actor-0``).

    Returns:
        the started :class:`multiprocessing.Process`.
    """
    process = ctx.Process(target=_child_entry, args=(target, *args), name=name, daemon=True)
    if not hasattr(signal, "pthread_sigmask"):
        process.start()
        return process
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return process


PRELOAD = ("apexrl.backends.mp", "apexrl.nets")
"""Modules the fork server imports once (torch, Gymnasium, the runtime and the agent registry, the
networks), so that a new or restarted worker process starts without importing them again (seconds
per process on a busy 2-core machine); an agent's own policy module is then a small import."""


def worker_context() -> Any:
    """The multiprocessing context of every apexrl worker process: ``forkserver`` where the
    platform has it (Linux, macOS), with :data:`PRELOAD` imported in the server; ``spawn``
    elsewhere (Windows). A fork server is a clean single-threaded process (no learner threads, no
    OpenMP pool, no CUDA context), so forking it is safe where forking the learner is not; each
    worker still receives its arguments by pickling, as with ``spawn``. The server starts at the
    first worker (inside :func:`start_child`, so it and its children inherit SIGINT blocked) and
    exits when this process does."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


class _ParentWatch:
    """True once the process that started us is gone, so a learner killed with SIGKILL leaves no
    actor running. A worker's parent is the fork server (``spawn``: the learner itself), which
    exits when the learner does; the worker is then re-parented and ``os.getppid`` (a cheap
    syscall) changes. ``parent`` is the learner's pid, passed in: with ``spawn`` it may be gone
    before the child even starts, so a first parent that is not the learner's server counts only
    while ``parent`` is alive."""

    CHECK_S = 0.5
    """Seconds between checks of the learner's pid (``gone`` runs at every actor step)."""

    def __init__(self, parent: int) -> None:
        self.parent = parent
        self.first = os.getppid()
        self._next_check = 0.0
        self._gone = False

    def gone(self) -> bool:
        ppid = os.getppid()
        if ppid == self.parent:
            return False
        if ppid != self.first or self._gone:
            return True
        now = time.monotonic()
        if now >= self._next_check:  # the fork server outlives the learner while we hold its pipe
            self._next_check = now + self.CHECK_S
            self._gone = not _alive(self.parent)
        return self._gone


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and is not a zombie (a learner killed while its own
    parent, a shell or a test, has not reaped it yet is a zombie, and ``kill(pid, 0)`` still
    succeeds on it)."""
    if os.path.isdir("/proc/self"):  # Linux
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False
    try:  # no /proc (macOS): existence only
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (a reused pid)
        return True
    return True


def _sender(conn: Any, outbox: queue_lib.Queue) -> None:
    """Write outbox messages to the pipe until a ``None`` or a closed pipe."""
    try:
        while True:
            message = outbox.get()
            if message is None:
                return
            conn.send(message)
    except (OSError, EOFError):  # the learner is gone or closed our pipe
        return


def _actor_main(config: Any, algo: str, info: EnvSpecInfo, index: int, params: SharedParams, conn: Any,
                stop: Any, parent: int, generation: int, start_frames: int, clock: Any) -> None:
    torch.set_num_threads(1)
    watch = _ParentWatch(parent)
    outbox: queue_lib.Queue = queue_lib.Queue(maxsize=config.actor.queue_size)
    sender = threading.Thread(target=_sender, args=(conn, outbox), daemon=True)
    sender.start()
    actor = None
    failed = False
    try:
        actor = Actor(config, algo, info, index, params, generation=generation, start_frames=start_frames,
                      step_clock=clock)
        while not stop.is_set() and not watch.gone():
            message = actor.step()
            if message is None:
                continue
            while not stop.is_set() and not watch.gone() and sender.is_alive():
                try:
                    outbox.put(message, timeout=0.1)
                    break
                except queue_lib.Full:
                    continue
    except Exception as exc:  # reported to the learner, which restarts us or stops the run
        clock[index] = 0.0
        failed = True
        try:
            outbox.put(ActorFailure(index, f"{type(exc).__name__}: {exc}", traceback.format_exc()), timeout=10)
        except queue_lib.Full:
            pass
    finally:
        try:
            outbox.put_nowait(None)
        except queue_lib.Full:
            pass
        if failed:  # deliver the report; on a normal stop nobody reads any more
            sender.join(timeout=10)
        if actor is not None:
            actor.close()


class _Slot:
    """One actor position: its process, the read end of its pipe, and bookkeeping."""

    def __init__(self) -> None:
        self.process: Any = None
        self.conn: Any = None
        self.generation = -1
        self.frames = 0  # emulator frames received from this position (continues ε decay on restart)
        self.restart_at: float | None = None


class ProcessSource:
    """``num_actors`` actor processes, one pipe each, restarted when they crash or hang.

    Args:
        config: the run's configuration (``num_actors``, ``max_actor_restarts``,
            ``actor_timeout_s``).
        algo: the agent's registered name (actor processes look it up).
        info: environment shapes.
        params: shared parameters the actors pull from.
        ctx: the workers' multiprocessing context (:func:`worker_context`).
        generation: first generation of seeds (a resumed run passes a new one so actors do not
            replay the episodes of the interrupted run).
        start_frames: emulator frames already taken by the whole run (split evenly between actors
            to continue an ε decay after a resume).
    """

    def __init__(self, config: Any, algo: str, info: EnvSpecInfo, params: SharedParams, ctx: Any,
                 generation: int = 0, start_frames: int = 0) -> None:
        self.config = config
        self.algo = algo
        self.info = info
        self.params = params
        self.ctx = ctx
        n = config.run.num_actors
        self.stop_event = ctx.Event()
        self.clock = ctx.Array("d", n, lock=False)  # per actor: start time of a running env step, or 0
        self.restarts = ActorRestarts(n, config.actor.max_actor_restarts)
        self.fps = frames_per_step(info.kind)
        self.slots = [_Slot() for _ in range(n)]
        for slot in self.slots:
            slot.generation = generation - 1
            slot.frames = start_frames // n

    def _spawn(self, index: int) -> None:
        slot = self.slots[index]
        slot.generation += 1
        reader, writer = self.ctx.Pipe(duplex=False)
        self.clock[index] = 0.0
        process = start_child(self.ctx, _actor_main, (self.config, self.algo, self.info, index, self.params, writer,
                                                      self.stop_event, os.getpid(), slot.generation, slot.frames,
                                                      self.clock), name=f"apexrl-actor-{index}")
        writer.close()  # only the child holds the write end: its death means end-of-file here
        slot.process, slot.conn, slot.restart_at = process, reader, None

    def _discard(self, index: int, join_s: float) -> None:
        """Kill actor ``index`` if it still runs and drop its pipe (with any partial message)."""
        slot = self.slots[index]
        if slot.process is not None:
            if slot.process.is_alive():
                slot.process.kill()
            slot.process.join(timeout=join_s)
        if slot.conn is not None:
            slot.conn.close()
        slot.process = slot.conn = None

    def start(self) -> None:
        for i in range(len(self.slots)):
            self._spawn(i)

    def _crashed(self, index: int, error: str) -> None:
        slot = self.slots[index]
        self._discard(index, join_s=5)
        self.clock[index] = 0.0
        delay = self.restarts.crashed(index, error)  # raises ActorError in a crash loop
        log.warning("actor %d crashed (%s); %s in %.1f s", index, error, self.restarts.describe(index), delay)
        slot.restart_at = time.monotonic() + delay

    def _receive(self, index: int, out: list[ActorMessage]) -> bool:
        """Read one message of actor ``index`` into ``out``; False if the pipe ended (crash handled)."""
        slot = self.slots[index]
        try:
            message = slot.conn.recv()
        except (EOFError, OSError):
            code = slot.process.exitcode if slot.process is not None else None
            if slot.process is not None and code is None:
                slot.process.join(timeout=1)
                code = slot.process.exitcode
            self._crashed(index, f"process exited with code {code}")
            return False
        if isinstance(message, ActorFailure):
            self._crashed(index, message.error)
            return False
        slot.frames += message.env_steps * self.fps
        self.restarts.delivered(index)
        out.append(message)
        return True

    def _supervise(self) -> None:
        now = time.monotonic()
        timeout = self.config.actor.actor_timeout_s
        for i, slot in enumerate(self.slots):
            if slot.process is None:
                if slot.restart_at is not None and now >= slot.restart_at:
                    self._spawn(i)
                continue
            started = self.clock[i]
            if started > 0.0 and now - started > timeout:
                self._crashed(i, f"environment step hung for more than {timeout:g} s (--actor-timeout-s)")
            elif slot.process.exitcode is not None and not slot.conn.poll(0):
                self._crashed(i, f"process exited with code {slot.process.exitcode}")

    def poll(self, max_messages: int, timeout: float) -> list[ActorMessage]:
        """Up to ``max_messages`` messages; waits up to ``timeout`` s for the first one.

        Crashed or hung actors are restarted here (after their backoff).

        Raises:
            ActorError: an actor is in a crash loop (``max_actor_restarts`` failures in a row
                without delivering experience; :class:`~apexrl.runtime.actor.ActorRestarts`).
        """
        self._supervise()
        if max_messages <= 0:
            if timeout > 0:
                time.sleep(timeout)
            return []
        messages: list[ActorMessage] = []
        wait_s = timeout
        while len(messages) < max_messages:
            conns = {slot.conn: i for i, slot in enumerate(self.slots) if slot.conn is not None}
            if not conns:
                if wait_s > 0:
                    time.sleep(wait_s)
                break
            ready = wait(list(conns), timeout=wait_s)
            if not ready:
                break
            for conn in ready:
                if len(messages) >= max_messages:
                    break
                self._receive(conns[conn], messages)
            wait_s = 0.0
        return messages

    def stop(self) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + 10.0
        while any(s.process is not None and s.process.is_alive() for s in self.slots) \
                and time.monotonic() < deadline:
            for slot in self.slots:  # drain so blocked sends return
                try:
                    while slot.conn is not None and slot.conn.poll(0):
                        slot.conn.recv()
                except (EOFError, OSError):
                    pass
            time.sleep(0.02)
        for i in range(len(self.slots)):
            self._discard(i, join_s=2)


def _evaluator_main(config: Any, algo: str, info: EnvSpecInfo, params: SharedParams, requests: Any, results: Any,
                    env_kwargs: dict[str, Any], parent: int) -> None:
    torch.set_num_threads(1)
    run = config.run
    net = get_agent(algo).build_network(config, info)
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
            returns = periodic_evaluation(algo, net, run, tag.get("index", count), env_kwargs, tag)
            results.put((tag, returns))
        except Exception as exc:
            results.put((tag, (f"{type(exc).__name__}: {exc}", traceback.format_exc())))
        count += 1


class ProcessEvaluator:
    """An evaluator process; one evaluation at a time, requests while busy are skipped.

    Supervised like the actors (:class:`~apexrl.runtime.actor.ActorRestarts`, ``role="evaluator"``):
    an evaluation that raised is logged with its traceback; a process that died (killed, crashed)
    is started again after a back-off; ``--max-evaluator-restarts`` failures in a row without a
    finished evaluation stop the run with the last error.
    """

    def __init__(self, config: Any, algo: str, info: EnvSpecInfo, params: SharedParams, ctx: Any,
                 env_kwargs: dict[str, Any]) -> None:
        self.ctx = ctx
        self.args = (config, algo, info, params)
        self.env_kwargs = env_kwargs
        self.restarts = evaluator_restarts(config)
        self.busy = False
        self.count = 0
        self.restart_at: float | None = None
        self.process: Any = None
        self._spawn()

    def _spawn(self) -> None:
        self.requests = self.ctx.Queue()
        self.results = self.ctx.Queue()
        self.busy = False
        self.restart_at = None
        self.process = start_child(self.ctx, _evaluator_main, (*self.args, self.requests, self.results,
                                                               self.env_kwargs, os.getpid()), name="apexrl-evaluator")

    def _died(self) -> None:
        code = self.process.exitcode
        self.process.join(timeout=1)
        delay = evaluator_failed(self.restarts, f"evaluator process exited with code {code}", None)
        self.process, self.busy = None, False
        self.restart_at = time.monotonic() + delay

    def request(self, tag: dict[str, float]) -> bool:
        """Ask for an evaluation of the newest published parameters; False while one runs (or while
        the evaluator waits to be started again)."""
        if self.process is None:
            if self.restart_at is None or time.monotonic() < self.restart_at:
                return False
            self._spawn()
        elif self.process.exitcode is not None:
            self._died()
            return False
        if self.busy:
            return False
        self.requests.put({**tag, "index": self.count})
        self.count += 1
        self.busy = True
        return True

    def poll(self) -> list[tuple[dict[str, float], list[float]]]:
        """Finished evaluations ``[(tag, returns)]``.

        Raises:
            ActorError: the evaluator is in a crash loop.
        """
        out = []
        if self.process is None:
            return out
        try:
            while True:
                tag, returns = self.results.get_nowait()
                self.busy = False
                tag = {k: v for k, v in tag.items() if k != "index"}
                if isinstance(returns, tuple):  # (error, traceback): the evaluation raised
                    delay = evaluator_failed(self.restarts, *returns)
                    if delay > 0:
                        self.busy = True  # no new request before the back-off
                        self.restart_at = time.monotonic() + delay
                    continue
                self.restarts.delivered(0)
                out.append((tag, returns))
        except queue_lib.Empty:
            pass
        if self.busy and self.restart_at is not None and time.monotonic() >= self.restart_at:
            self.busy, self.restart_at = False, None
        if self.process.exitcode is not None:
            self._died()
        return out

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.is_alive():
            self.requests.put(None)
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=2)


class MPBackend:
    """``--backend mp`` (default): ``num_actors`` actor processes and an evaluator process started
    from a fork server (:func:`worker_context`); parameters in shared memory (:class:`~apexrl.runtime.params.SharedParams`);
    the replay and the learner in this process."""

    name = "mp"

    def __init__(self) -> None:
        self.ctx = worker_context()

    def actor_processes(self, config: Any) -> int:
        """Actor processes started besides the learner's: ``--actors``."""
        return int(config.run.num_actors)

    def replay(self, config: Any, info: EnvSpecInfo, agent: Agent) -> Any:
        """The run's replay (:func:`apexrl.replay.build.agent_replay`)."""
        return agent_replay(agent, config, info, seed=config.run.seed)

    def params(self, network: Any) -> SharedParams:
        """Shared-memory parameters shaped like ``network``."""
        return SharedParams(network, self.ctx)

    def source(self, config: Any, algo: str, info: EnvSpecInfo, params: Any, generation: int,
               start_frames: int) -> ProcessSource:
        """The experience source: the actor processes."""
        return ProcessSource(config, algo, info, params, self.ctx, generation=generation, start_frames=start_frames)

    def evaluator(self, config: Any, algo: str, info: EnvSpecInfo, params: Any, network: Any,
                  env_kwargs: dict[str, Any]) -> ProcessEvaluator:
        """An evaluator process reading the published parameters."""
        return ProcessEvaluator(config, algo, info, params, self.ctx, env_kwargs)

    def placement_summary(self) -> dict[str, Any]:
        """Where things ran (one machine: nothing to say)."""
        return {}
