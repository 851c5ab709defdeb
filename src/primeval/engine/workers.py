"""Worker pools: the same command protocol served in-process, by local processes or by Ray.

A *worker* is an object made by a factory (a class importable by name, so that a spawned
process or a Ray actor can build it) with one method, ``handle(command, argument)``. A pool
holds ``n`` workers; the caller :meth:`WorkerPool.send` s commands to worker ``i`` and
:meth:`WorkerPool.receive` s replies as they arrive, from whichever worker answers first.
Replies from one worker come back in the order its commands were sent.

Three back ends:

- :class:`InlinePool` runs every command at once in this process (one worker, no
  subprocess): a run with one worker is the plain single-process search;
- :class:`ProcessPool` runs each worker in a local process (``multiprocessing`` spawn
  context, one pipe per worker, ``multiprocessing.connection.wait`` for the first reply);
- :class:`RayPool` runs each worker as a Ray actor (``ray.wait`` for the first reply); Ray is
  an optional dependency, imported only here, only when this pool is made.

A worker that dies (killed, out of memory, a crash in compiled code) shows up as a
:class:`Reply` with ``dead=True``; the caller restarts it with :meth:`WorkerPool.start` and
whatever state it kept. A command that raises in a worker comes back as a
:class:`WorkerError` reply (``error`` holds the traceback text).
"""

from __future__ import annotations

import collections
import importlib
import multiprocessing as mp
import multiprocessing.connection as mpc
import queue
import resource
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Protocol

from primeval.engine.heap import release_freed_memory


class WorkerError(RuntimeError):
    """A command that raised inside a worker, or a pool that cannot start."""


@dataclass(frozen=True)
class Reply:
    """The answer of worker ``worker`` to ``command``; ``dead`` if the worker died first."""

    worker: int
    command: str
    value: Any = None
    dead: bool = False
    error: str | None = None


class Handler(Protocol):
    def handle(self, command: str, argument: Any) -> Any: ...


def _make(factory: str) -> Handler:
    module, _, name = factory.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    handler: Handler = cls()
    return handler


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB.

    Linux: ``VmHWM`` of ``/proc/self/status``, which starts afresh in a new program;
    ``getrusage``'s ``ru_maxrss`` survives ``exec``, so a worker forked from a big parent and
    then exec'ed would report the parent's peak. Elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _call(handler: Handler, command: str, argument: Any) -> tuple[bool, Any]:
    try:
        return True, handler.handle(command, argument)
    except Exception:
        return False, traceback.format_exc()


class WorkerPool(Protocol):
    """``n`` workers serving commands; see the module docstring."""

    n: int

    def start(self, i: int) -> None:
        """(Re)start worker ``i`` as a fresh object; commands still pending for it are lost."""

    def send(self, i: int, command: str, argument: Any = None) -> None: ...

    def receive(self, timeout: float | None = None) -> list[Reply]:
        """Replies that arrived within ``timeout`` seconds (at least one if any is pending
        and ``timeout`` is None)."""

    def pending(self, i: int) -> int:
        """Commands sent to worker ``i`` and not answered yet."""

    def pids(self) -> list[int | None]: ...

    def kill(self, i: int) -> None:
        """Kill worker ``i`` (for tests); its pending commands come back as ``dead``."""

    def close(self) -> None: ...


class InlinePool:
    """Workers as plain objects in this process: each command runs when it is sent."""

    def __init__(self, factory: str, n: int = 1) -> None:
        self.factory = factory
        self.n = n
        self._workers: list[Handler | None] = [None] * n
        self._replies: collections.deque[Reply] = collections.deque()

    def start(self, i: int) -> None:
        self._workers[i] = _make(self.factory)
        self._replies = collections.deque(r for r in self._replies if r.worker != i)

    def send(self, i: int, command: str, argument: Any = None) -> None:
        worker = self._workers[i]
        assert worker is not None, "worker not started"
        ok, value = _call(worker, command, argument)
        self._replies.append(
            Reply(i, command, value) if ok else Reply(i, command, None, error=value)
        )

    def receive(self, timeout: float | None = None) -> list[Reply]:
        out = list(self._replies)
        self._replies.clear()
        return out

    def pending(self, i: int) -> int:
        return sum(1 for r in self._replies if r.worker == i)

    def pids(self) -> list[int | None]:
        return [None] * self.n

    def kill(self, i: int) -> None:
        raise WorkerError("inline workers cannot be killed")

    def close(self) -> None:
        self._workers = [None] * self.n


def _serve(factory: str, conn: mpc.Connection) -> None:
    """A worker process: answer commands until ``stop`` or the coordinator goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    release_freed_memory()
    handler = _make(factory)
    while True:
        try:
            command, argument = conn.recv()
        except (EOFError, OSError):
            return
        if command == "__stop__":
            return
        ok, value = _call(handler, command, argument)
        try:
            conn.send((ok, value))
        except (BrokenPipeError, OSError):
            return


class _Sender(threading.Thread):
    """Sends one worker's commands from a queue: a large command (migrants) must not block
    the coordinator while the worker is itself blocked sending a large reply."""

    def __init__(self, conn: mpc.Connection) -> None:
        super().__init__(daemon=True)
        self.conn = conn
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.start()

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            try:
                self.conn.send(item)
            except OSError:  # the worker died: receive() reports it
                return

    def finish(self, wait: float) -> None:
        self.queue.put(None)
        self.join(wait)


class ProcessPool:
    """Each worker in a local process started with the spawn method (no forked state)."""

    def __init__(self, factory: str, n: int) -> None:
        self.factory = factory
        self.n = n
        self._ctx = mp.get_context("spawn")
        self._procs: list[Any] = [None] * n
        self._conns: list[mpc.Connection | None] = [None] * n
        self._sent: list[collections.deque[str]] = [collections.deque() for _ in range(n)]
        self._senders: list[_Sender | None] = [None] * n

    def start(self, i: int) -> None:
        self._stop(i, wait=0.5)
        ours, theirs = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=_serve, args=(self.factory, theirs), name=f"primeval-worker-{i}", daemon=True
        )
        proc.start()
        theirs.close()
        self._procs[i], self._conns[i] = proc, ours
        self._senders[i] = _Sender(ours)
        self._sent[i].clear()

    def send(self, i: int, command: str, argument: Any = None) -> None:
        sender = self._senders[i]
        assert sender is not None, "worker not started"
        self._sent[i].append(command)
        sender.queue.put((command, argument))

    def _dead(self, i: int) -> Reply:
        command = self._sent[i][0] if self._sent[i] else ""
        self._sent[i].clear()
        sender, conn = self._senders[i], self._conns[i]
        if sender is not None:
            sender.finish(1.0)
        if conn is not None:
            conn.close()
        self._conns[i], self._senders[i] = None, None
        return Reply(i, command, dead=True)

    def receive(self, timeout: float | None = None) -> list[Reply]:
        waiting: dict[Any, int] = {}
        for i in range(self.n):
            conn, proc = self._conns[i], self._procs[i]
            if conn is not None and self._sent[i]:
                waiting[conn] = i
                waiting[proc.sentinel] = i
        if not waiting:
            return []
        ready = mpc.wait(list(waiting), timeout)
        out: list[Reply] = []
        for i in sorted({waiting[r] for r in ready}):
            conn = self._conns[i]
            assert conn is not None
            try:
                while self._sent[i] and conn.poll():
                    ok, value = conn.recv()
                    command = self._sent[i].popleft()
                    out.append(
                        Reply(i, command, value) if ok else Reply(i, command, None, error=value)
                    )
            except (EOFError, ConnectionResetError, OSError):
                out.append(self._dead(i))
                continue
            if self._sent[i] and self._procs[i].sentinel in ready:
                self._procs[i].join(5)  # exited, maybe not yet reaped: is_alive() would say so
            if self._sent[i] and not self._procs[i].is_alive():
                out.append(self._dead(i))
        return out

    def pending(self, i: int) -> int:
        return len(self._sent[i])

    def pids(self) -> list[int | None]:
        return [p.pid if p is not None else None for p in self._procs]

    def kill(self, i: int) -> None:
        proc = self._procs[i]
        if proc is not None:
            proc.kill()

    def _stop(self, i: int, wait: float) -> None:
        proc, conn, sender = self._procs[i], self._conns[i], self._senders[i]
        if sender is not None:
            sender.queue.put(("__stop__", None))
            sender.finish(wait)
        if proc is not None:
            proc.join(wait)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        if conn is not None:
            conn.close()
        self._procs[i], self._conns[i], self._senders[i] = None, None, None

    def close(self) -> None:
        for i in range(self.n):
            self._stop(i, wait=5)


class RayPool:
    """Each worker as a Ray actor, on a local Ray instance or an existing cluster."""

    def __init__(self, factory: str, n: int, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise WorkerError("the ray back end needs Ray: pip install 'primeval[ray]'") from None
        self._ray: Any = ray
        self.factory = factory
        self.n = n
        self._started_ray = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address is None:
                kwargs["num_cpus"] = max(n, 1)
            ray.init(address=address, **kwargs)
            self._started_ray = True

        class _Actor:
            def __init__(self, factory: str) -> None:
                release_freed_memory()
                self.handler = _make(factory)

            def handle(self, command: str, argument: Any) -> tuple[bool, Any]:
                return _call(self.handler, command, argument)

            def pid(self) -> int:
                import os

                return os.getpid()

        self._actor_cls = ray.remote(num_cpus=1, max_restarts=0)(_Actor)
        self._actors: list[Any] = [None] * n
        self._pids: list[int | None] = [None] * n
        self._refs: dict[Any, tuple[int, str]] = {}

    def start(self, i: int) -> None:
        old = self._actors[i]
        if old is not None:
            self._ray.kill(old)
        self._refs = {r: v for r, v in self._refs.items() if v[0] != i}
        actor: Any = self._actor_cls.remote(self.factory)
        self._actors[i] = actor
        self._pids[i] = int(self._ray.get(actor.pid.remote()))

    def send(self, i: int, command: str, argument: Any = None) -> None:
        self._refs[self._actors[i].handle.remote(command, argument)] = (i, command)

    def receive(self, timeout: float | None = None) -> list[Reply]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out: list[Reply] = []
        for i in sorted({self._refs[r][0] for r in ready if r in self._refs}):
            # An actor runs its calls in order: every call of worker i sent before a ready
            # one is done too; answer them in order.
            mine = [r for r, v in self._refs.items() if v[0] == i]
            last = max(mine.index(r) for r in ready if r in mine)
            for ref in mine[: last + 1]:
                command = self._refs.pop(ref)[1]
                try:
                    ok, value = self._ray.get(ref)
                except self._ray.exceptions.RayActorError:
                    self._refs = {r: v for r, v in self._refs.items() if v[0] != i}
                    self._actors[i] = None
                    out.append(Reply(i, command, dead=True))
                    break
                out.append(Reply(i, command, value) if ok else Reply(i, command, None, error=value))
        return out

    def pending(self, i: int) -> int:
        return sum(1 for v in self._refs.values() if v[0] == i)

    def pids(self) -> list[int | None]:
        return list(self._pids)

    def kill(self, i: int) -> None:
        actor = self._actors[i]
        if actor is not None:
            self._ray.kill(actor, no_restart=True)

    def close(self) -> None:
        for actor in self._actors:
            if actor is not None:
                self._ray.kill(actor)
        self._actors = [None] * self.n
        if self._started_ray:
            self._ray.shutdown()


def make_pool(backend: str, factory: str, n: int, ray_address: str | None = None) -> WorkerPool:
    """``inline`` (one worker, this process), ``processes`` or ``ray``."""
    if backend == "inline":
        if n != 1:
            raise WorkerError("the inline back end runs exactly one worker")
        return InlinePool(factory, n)
    if backend == "processes":
        return ProcessPool(factory, n)
    if backend == "ray":
        return RayPool(factory, n, ray_address)
    raise WorkerError(f"unknown back end {backend!r} (inline, processes or ray)")
