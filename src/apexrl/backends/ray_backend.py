"""The ``ray`` backend: the same Ape-X program as Ray actors, on one machine or a cluster.

Placement (Horgan et al. 2018, Figure 1, with Ray as the distributed engine):

- ``N`` **actor** actors (one CPU each, spread over the nodes), each running the very same
  :class:`apexrl.runtime.actor.Actor` loop as the ``mp`` backend and writing its messages
  straight into a replay shard (actor ``i`` into shard ``i mod R``), as Ape-X actors write
  into the replay;
- ``R`` **replay shard** actors (``--replay-shards``), each a :class:`PrioritizedReplay`; the
  learner samples from them in proportion to their priority mass
  (:mod:`apexrl.replay.sharded`), so sampling stays proportional over the whole replay;
- one **learner** actor running :func:`apexrl.runtime.trainer.train` (rate limiter, evaluation
  scheduling, metrics, checkpoints) on the driver's node when it can, so the run directory is
  written where the command was started; the driver shows the progress bar and forwards
  SIGINT / SIGTERM;
- one **evaluator** actor, and a small **parameter store** actor: the learner puts each
  publication into the object store once (``ray.put``) and actors fetch the newest reference
  every ``param_update_period_frames``.

Fault tolerance uses Ray's own mechanism: actor actors are created with ``max_restarts``, so
a killed process (or a lost node) gets a new one, whose ``__init__`` pulls the newest
parameters and takes a new seed generation and new replay stream ids; a Python exception in an
actor's environment kills the actor so that Ray restarts it the same way. Restarts per actor
are bounded by ``--max-actor-restarts`` exactly as in the ``mp`` backend.

``ray`` is imported only here (``pip install apexrl[ray]``).
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

try:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("--backend ray needs Ray: pip install 'apexrl[ray]'") from exc

from apexrl.agents import get_agent
from apexrl.envs import EnvSpecInfo
from apexrl.logging import ProgressBar
from apexrl.ray_address import check_ray_address
from apexrl.backends.local import evaluator_failed, evaluator_restarts
from apexrl.backends.ray_stores import ParamStore, RayParams, RayShardedReplay, ReplayShard
from apexrl.runtime.actor import Actor, ActorMessage, ActorRestarts
from apexrl.runtime.evaluator import periodic_evaluation

log = logging.getLogger("apexrl")

# A local instance started by apexrl stays on this machine: every Ray process binds to
# 127.0.0.1, no usage statistics are sent, and the dashboard's cloud-metadata probe goes to a
# dead local proxy. These variables are set only while Ray starts its processes.
_LOCAL_RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
    "no_proxy": "127.0.0.1,localhost,::1", "NO_PROXY": "127.0.0.1,localhost,::1",
}


@contextmanager
def local_only():
    """While active, Ray processes started from this process bind to 127.0.0.1 and stay off the
    network (see ``_LOCAL_RAY_ENV``); Ray reads its node-address switch when it is imported, so
    this process's copy is switched too."""
    from ray._private import ray_constants

    old = {k: os.environ.get(k) for k in _LOCAL_RAY_ENV}
    old_switch = getattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    os.environ.update(_LOCAL_RAY_ENV)
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_switch
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def init_ray(address: str | None, num_actors: int) -> bool:
    """Connect to ``address`` or start a local Ray instance bound to 127.0.0.1; returns whether
    this call started it (and so must shut it down). Already-initialised Ray is reused."""
    if ray.is_initialized():
        return False
    if address:
        check_ray_address(address)
        ray.init(address=address, log_to_driver=True)
        return True
    with local_only():
        # logical CPUs: one per actor and one for the learner, however many cores there are
        ray.init(address="local", num_cpus=max(os.cpu_count() or 1, num_actors + 1), include_dashboard=False,
                 object_store_memory=512 * 2**20, log_to_driver=True)
    return True


# ---------------------------------------------------------------------------- actors
@ray.remote(num_cpus=1, max_concurrency=2)
class ActorWorker:
    """One Ape-X actor: the shared :class:`Actor` loop writing into replay shards. Threaded (two
    calls at a time): :meth:`busy_for` answers while :meth:`run` steps, for hang detection."""

    def __init__(self, config: Any, algo: str, info: EnvSpecInfo, index: int, store: Any, shards: list[Any],
                 start_frames: int) -> None:
        torch.set_num_threads(1)
        self.index, self.store, self.shards = index, store, shards
        self.node = ray.get_runtime_context().get_node_id()
        generation = ray.get(store.next_generation.remote(index))
        self.clock = np.zeros(index + 1)  # clock[index]: monotonic start of a running env step, or 0
        self.actor = Actor(config, algo, info, index, RayParams(store), generation=generation,
                           start_frames=start_frames, step_clock=self.clock)
        # one shard per actor (by index): a pixel stream's frames and the transitions that use them,
        # sent in different messages, must land in the same shard
        self.shard = shards[index % len(shards)]

    def pid(self) -> int:
        return os.getpid()

    def busy_for(self) -> float:
        """Seconds the environment step (or reset) now running has taken; 0 between steps. Measured
        on the worker's own clock, so it compares across nodes."""
        started = float(self.clock[self.index])
        return time.monotonic() - started if started > 0.0 else 0.0

    def node_id(self) -> str:
        return self.node

    def run(self) -> None:
        """Step and send until the learner says stop; exceptions end the call (the learner
        restarts the actor)."""
        in_flight: list[Any] = []
        while True:
            message = self.actor.step()
            if message is None:
                continue
            while True:  # the learner's rate limiter: wait while it says the actors are ahead
                may_insert, stopped = ray.get(self.store.wait_flow.remote())
                if stopped:
                    return
                if may_insert:
                    break
            message.node = self.node
            in_flight.append(self.shard.add.remote(message))
            if len(in_flight) > 2:  # backpressure: at most two messages on their way
                _, in_flight = ray.wait(in_flight, num_returns=len(in_flight) - 2)


class RaySource:
    """The trainer's source over Ray actor actors: restarts crashed ones, returns receipts."""

    def __init__(self, runtime: RayRuntime, start_frames: int) -> None:
        config = runtime.config
        n = config.run.num_actors
        self.runtime = runtime
        self.store = runtime.store
        self.replay = runtime.replay
        self.restarts = ActorRestarts(n, config.actor.max_actor_restarts)
        self.workers = [
            ActorWorker.options(max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD")
            .remote(config, runtime.algo, runtime.info, i, self.store, runtime.shards, start_frames // n)
            for i in range(n)]
        self.runs: dict[Any, int] = {}
        self.restart_at: dict[int, float] = {}
        self.may_insert = True
        self.empty = np.zeros(0, dtype=np.float32)
        self._last_supervise = 0.0
        self.retrying = [False] * n
        self.probes: dict[Any, int] = {}  # busy_for() calls in flight -> actor index
        self.hung: dict[int, str] = {}  # actors killed because a step hung -> the error to report
        self._last_probe = 0.0

    def start(self) -> None:
        for i, w in enumerate(self.workers):
            self.runs[w.run.remote()] = i

    def _supervise(self) -> None:
        now = time.monotonic()
        if now - self._last_supervise < 0.1:
            return
        self._last_supervise = now
        if self.runs:
            ready, _ = ray.wait(list(self.runs), num_returns=len(self.runs), timeout=0)
            for ref in ready:
                i = self.runs.pop(ref)
                try:
                    ray.get(ref)
                    error = "actor loop ended"
                except ray.exceptions.ActorUnavailableError as exc:
                    if self.retrying[i]:  # asked again while Ray was still restarting it
                        self.restart_at[i] = now + 0.5
                        continue
                    error = f"actor process died: {str(exc).splitlines()[0]}"
                except ray.exceptions.RayActorError as exc:  # the process died; Ray restarts it
                    error = f"actor process died: {str(exc).splitlines()[0]}"
                except Exception as exc:  # the environment raised: restart the actor the same way
                    cause = getattr(exc, "cause", None) or exc
                    error = f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
                    ray.kill(self.workers[i], no_restart=False)
                error = self.hung.pop(i, None) or error  # killed by _check_hangs: say why
                self.retrying[i] = True  # until it sends data again
                delay = self.restarts.crashed(i, error)  # raises ActorError in a crash loop
                log.warning("actor %d crashed (%s); %s in %.1f s", i, error, self.restarts.describe(i), delay)
                self.restart_at[i] = now + delay
        for i, due in list(self.restart_at.items()):
            if now >= due:
                del self.restart_at[i]
                self.runs[self.workers[i].run.remote()] = i
        self._check_hangs(now)

    def _check_hangs(self, now: float) -> None:
        """Once a second, ask every running actor how long its current env step has taken; one past
        ``--actor-timeout-s`` is killed (Ray restarts it) and counted as a crash, as in ``mp``."""
        timeout = self.runtime.config.actor.actor_timeout_s
        if self.probes:
            ready, _ = ray.wait(list(self.probes), num_returns=len(self.probes), timeout=0)
            for ref in ready:
                i = self.probes.pop(ref)
                try:
                    busy = float(ray.get(ref))
                except Exception:  # the worker is gone or restarting: its run() call reports it
                    continue
                if busy > timeout and i not in self.hung:
                    self.hung[i] = f"environment step hung for more than {timeout:g} s (--actor-timeout-s)"
                    ray.kill(self.workers[i], no_restart=False)
        if now - self._last_probe >= 1.0:
            self._last_probe = now
            waiting = set(self.probes.values())
            for i in set(self.runs.values()) - waiting - set(self.hung):
                self.probes[self.workers[i].busy_for.remote()] = i

    def poll(self, max_messages: int, timeout: float) -> list[ActorMessage]:
        """Receipts of messages actors inserted since the last call (the items are in the shards).

        Raises:
            ActorError: an actor is in a crash loop (``max_actor_restarts`` failures in a row
                without delivering experience; :class:`~apexrl.runtime.actor.ActorRestarts`).
        """
        self._supervise()
        want = max_messages > 0
        if want != self.may_insert:
            self.store.set_flow.remote(want)
            self.may_insert = want
        deadline = time.monotonic() + timeout
        while not self.replay.receipts:
            if time.monotonic() - self.replay._last_drain >= 0.02:
                self.replay.drain()
            if self.replay.receipts or time.monotonic() >= deadline:
                break
            time.sleep(min(0.005, max(0.0, deadline - time.monotonic())))
        receipts, self.replay.receipts = self.replay.receipts, []
        out = []
        for actor, env_steps, episodes, count, node in receipts:
            self.retrying[actor] = False
            self.restarts.delivered(actor)
            self.runtime.record(actor, node, count)
            out.append(ActorMessage(actor=actor, items=None, priorities=self.empty, env_steps=env_steps,
                                    episodes=episodes, inserted=count, node=node))
        return out

    def stop(self) -> None:
        self.store.set_flow.remote(False, True)
        if self.runs:
            ray.wait(list(self.runs), num_returns=len(self.runs), timeout=10)
        for w in self.workers:
            ray.kill(w, no_restart=True)


# ---------------------------------------------------------------------------- evaluator
@ray.remote(num_cpus=0)
class EvaluatorWorker:
    def __init__(self, config: Any, algo: str, info: EnvSpecInfo, store: Any, env_kwargs: dict[str, Any]) -> None:
        torch.set_num_threads(1)
        self.config, self.algo, self.env_kwargs = config, algo, env_kwargs
        self.net = get_agent(algo).build_network(config, info)
        self.net.eval()
        self.params = RayParams(store)
        self.count = 0

    def evaluate(self, tag: dict[str, float]) -> tuple[dict[str, float], list[float]]:
        self.params.pull(self.net)
        returns = periodic_evaluation(self.algo, self.net, self.config.run, self.count, self.env_kwargs, tag)
        self.count += 1
        return tag, returns


class RayEvaluator:
    """One evaluation at a time in an evaluator actor; requests while busy are skipped. Supervised
    like the ``mp`` evaluator: a failed evaluation is logged with its error, a dead worker is
    created again after a back-off, ``--max-evaluator-restarts`` failures in a row stop the run."""

    def __init__(self, runtime: RayRuntime, env_kwargs: dict[str, Any]) -> None:
        self.runtime, self.env_kwargs = runtime, env_kwargs
        self.restarts = evaluator_restarts(runtime.config)
        self.worker: Any = self._worker()
        self.pending: Any = None
        self.restart_at: float | None = None

    def _worker(self) -> Any:
        r = self.runtime
        return EvaluatorWorker.options(max_restarts=0).remote(r.config, r.algo, r.info, r.store, self.env_kwargs)

    def request(self, tag: dict[str, float]) -> bool:
        if self.pending is not None:
            return False
        if self.restart_at is not None:
            if time.monotonic() < self.restart_at:
                return False
            self.restart_at = None
        self.pending = self.worker.evaluate.remote(tag)
        return True

    def poll(self) -> list[tuple[dict[str, float], list[float]]]:
        """Finished evaluations.

        Raises:
            ActorError: the evaluator is in a crash loop.
        """
        if self.pending is None or not ray.wait([self.pending], timeout=0)[0]:
            return []
        ref, self.pending = self.pending, None
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError as exc:  # the worker process died: a new one
            self.restart_at = time.monotonic() + evaluator_failed(
                self.restarts, f"evaluator actor died: {str(exc).splitlines()[0]}", None)
            self.worker = self._worker()
            return []
        except Exception as exc:  # the evaluation raised inside the worker
            cause = getattr(exc, "cause", None) or exc
            self.restart_at = time.monotonic() + evaluator_failed(
                self.restarts, f"{type(cause).__name__}: {cause}", str(exc))
            return []
        self.restarts.delivered(0)
        return [result]

    def stop(self) -> None:
        ray.kill(self.worker, no_restart=True)


# ---------------------------------------------------------------------------- runtime
class RayRuntime:
    """The backend object the training loop receives inside the Ray learner actor: it creates the
    parameter store and the replay shards (:meth:`replay`), then the source and evaluator (the
    interface of :mod:`apexrl.backends`)."""

    name = "ray"

    def __init__(self) -> None:
        self.config: Any = None
        self.algo = ""
        self.info: Any = None
        self.actor_nodes: dict[str, set[int]] = collections.defaultdict(set)
        self.inserted_per_node: dict[str, int] = collections.defaultdict(int)

    def actor_processes(self, config: Any) -> int:
        """Actor processes (Ray actors, on any node) besides the learner."""
        return int(config.run.num_actors)

    def replay(self, config: Any, info: EnvSpecInfo, agent: Any) -> RayShardedReplay:
        """Start the parameter store and ``--replay-shards`` shards (each one the agent's replay,
        :func:`apexrl.replay.build.agent_replay`); returns the learner's view."""
        self.config, self.info = config, info
        run = config.run
        self.store = ParamStore.remote(0)
        shards = run.replay_shards
        capacity = -(-config.replay.replay_capacity // shards)
        self.shards = [ReplayShard.options(scheduling_strategy="SPREAD").remote(config, info, capacity,
                                                                                 run.seed * 7919 + j, agent.name)
                       for j in range(shards)]
        self.replay = RayShardedReplay(self.shards, seed=run.seed)
        # β of the combined batch's importance weights (annealed by the trainer when asked)
        self.replay.importance_sampling_exponent = (config.replay.importance_sampling_exponent
                                                    if config.replay.prioritized else 0.0)
        self.replay.drain()  # the shards are up (a replay too big for a node fails here, naming the bytes)
        return self.replay

    def params(self, network: nn.Module) -> RayParams:
        """Publications go through the parameter store (one ``ray.put`` each)."""
        return RayParams(self.store)

    def source(self, config: Any, algo: str, info: EnvSpecInfo, params: Any, generation: int,
               start_frames: int) -> RaySource:
        """The actor actors, writing into the shards."""
        self.algo = algo
        ray.get(self.store.set_base_generation.remote(generation))  # resumed actors get new seeds
        return RaySource(self, start_frames)

    def evaluator(self, config: Any, algo: str, info: EnvSpecInfo, params: Any, network: nn.Module,
                  env_kwargs: dict[str, Any]) -> RayEvaluator:
        """An evaluator actor reading the parameter store."""
        self.algo = algo
        return RayEvaluator(self, env_kwargs)

    def record(self, actor: int, node: str, count: int) -> None:
        self.actor_nodes[node].add(actor)
        self.inserted_per_node[node] += count

    def placement_summary(self) -> dict[str, Any]:
        return {"actors_per_node": {n: len(a) for n, a in self.actor_nodes.items()},
                "inserted_per_node": dict(self.inserted_per_node), "replay_shards": len(self.shards)}


@ray.remote(num_cpus=1, max_concurrency=2)
class LearnerWorker:
    """Runs :func:`apexrl.runtime.trainer.train` with the Ray runtime; a second thread answers
    progress and stop requests."""

    def __init__(self) -> None:
        self.stop_requests: list[int] = []
        self.snapshot: dict[str, Any] = {}

    def train(self, config: Any, algo: str, resume: str | None) -> dict[str, Any]:
        import warnings

        from apexrl.runtime.trainer import train

        # sampled arrays arrive zero-copy and read-only from the object store; the learner only reads them
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")

        return train(config, get_agent(algo), RayRuntime(), resume, stop_requests=self.stop_requests,
                     progress_hook=self._progress)

    def _progress(self, row: dict[str, Any]) -> None:
        self.snapshot = dict(row)

    def progress(self) -> dict[str, Any]:
        return self.snapshot

    def request_stop(self, signum: int) -> None:
        self.stop_requests.append(signum)


class RayBackend:
    """``--backend ray`` on the driver: :meth:`launch` runs the training loop in a Ray learner actor,
    with a :class:`RayRuntime` as its backend."""

    name = "ray"

    def launch(self, config: Any, algo: str, resume: str | None) -> dict[str, Any]:
        """Run the whole training on Ray (:func:`run_on_ray`); returns its summary."""
        return run_on_ray(config, algo, resume)


def run_on_ray(config: Any, algo: str, resume: str | None) -> dict[str, Any]:
    """Driver side of ``--backend ray``: start or join Ray, run the learner actor on this node
    when possible, show progress, forward SIGINT / SIGTERM, return the summary.

    Raises:
        the learner's own exception (``ValueError``, ``ActorError``, ``LearnerError``, …).
    """
    import dataclasses

    run = config.run
    started = init_ray(run.ray_address, run.num_actors)
    inner = dataclasses.replace(config, run=dataclasses.replace(run, progress=False))
    old_handlers = {}
    try:
        here = ray.get_runtime_context().get_node_id()
        learner = LearnerWorker.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=True)).remote()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old_handlers[sig] = signal.signal(
                    sig, lambda signum, frame: learner.request_stop.remote(signum))
        ref = learner.train.remote(inner, algo, resume)
        progress = ProgressBar(run.total_env_frames, run.log_interval_s) if run.progress else None
        try:
            while not ray.wait([ref], timeout=0.5)[0]:
                if progress is not None:
                    progress.update(ray.get(learner.progress.remote()))
        finally:
            if progress is not None:
                progress.close()
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        if started:
            ray.shutdown()
