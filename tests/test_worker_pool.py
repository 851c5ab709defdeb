"""The WorkerPool contract, held by every back end: inline, local processes and Ray.

What :mod:`primeval.engine.workers` promises: replies come back (each worker's in the order
its commands were sent), a command that raises comes back as an error and leaves the worker
serving, a killed worker comes back as ``dead`` and :meth:`start` replaces it with a fresh
one, and :meth:`close` leaves no worker process behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from primeval.engine.workers import Reply, WorkerError, WorkerPool, make_pool

ECHO = "pool_handlers.Echo"
BACKENDS = [
    "inline",
    "processes",
    pytest.param("ray", marks=pytest.mark.slow),  # starting Ray takes seconds
]


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray instance for the module's Ray pools (each pool would start its own);
    its workers import the test workers from this folder."""
    ray = pytest.importorskip("ray")
    here = str(Path(__file__).parent)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, old) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "ray":
        request.getfixturevalue("ray_session")
    return name


def workers(backend: str) -> int:
    return 1 if backend == "inline" else 2


@pytest.fixture
def pool(backend: str) -> Iterator[WorkerPool]:
    p = make_pool(backend, ECHO, workers(backend))
    for i in range(p.n):
        p.start(i)
    try:
        yield p
    finally:
        p.close()


def collect(pool: WorkerPool, count: int) -> list[Reply]:
    """Receive until ``count`` replies have come (each ``receive`` blocks for at least one)."""
    out: list[Reply] = []
    while len(out) < count:
        got = pool.receive(timeout=60.0)
        assert got, f"no reply within a minute; have {out}"
        out += got
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_replies_come_back_in_each_workers_order(pool: WorkerPool) -> None:
    for k in range(5):
        for i in range(pool.n):
            pool.send(i, "echo", (i, k))
    assert sum(pool.pending(i) for i in range(pool.n)) in (0, 5 * pool.n)  # inline: answered
    replies = collect(pool, 5 * pool.n)
    assert all(not r.dead and r.error is None and r.command == "echo" for r in replies)
    for i in range(pool.n):
        assert [r.value for r in replies if r.worker == i] == [(i, k) for k in range(5)]
        assert pool.pending(i) == 0
    assert pool.receive(timeout=0.0) == []


def test_an_error_comes_back_and_the_worker_keeps_serving(pool: WorkerPool) -> None:
    pool.send(0, "raise", "on purpose")
    pool.send(0, "count")
    first, second = collect(pool, 2)
    assert first.error is not None and "asked to fail: on purpose" in first.error
    assert first.value is None and not first.dead
    assert second.error is None and second.value == 2  # the same worker object


def test_a_killed_worker_is_reported_dead_and_restarts_fresh(
    backend: str, pool: WorkerPool
) -> None:
    if backend == "inline":
        with pytest.raises(WorkerError):
            pool.kill(0)
        return
    pool.send(1, "count")
    assert [r.value for r in collect(pool, 1)] == [1]
    old = pool.pids()[0]
    for _ in range(3):
        pool.send(0, "sleep", 60.0)
        pool.send(0, "echo", "lost with the worker")
        pool.kill(0)
        (dead,) = pool.receive()  # blocks until the death is seen: never an empty answer
        assert dead.worker == 0 and dead.dead and dead.command == "sleep"
        assert pool.pending(0) == 0
        pool.start(0)
        assert pool.pids()[0] != old
        old = pool.pids()[0]
    for i in range(2):
        pool.send(i, "count")
    counts = {r.worker: r.value for r in collect(pool, 2)}
    assert counts == {0: 1, 1: 2}  # worker 0 is a fresh object; worker 1 was untouched


def test_a_restart_drops_the_commands_still_pending(backend: str, pool: WorkerPool) -> None:
    if backend == "inline":
        pool.send(0, "count")
        pool.start(0)  # the inline reply was waiting: it is dropped with the old worker
        assert pool.pending(0) == 0 and pool.receive() == []
        pool.send(0, "count")
        assert [r.value for r in collect(pool, 1)] == [1]
        return
    pool.send(0, "sleep", 60.0)
    pool.start(0)
    assert pool.pending(0) == 0
    pool.send(0, "count")
    (reply,) = collect(pool, 1)
    assert reply.value == 1 and not reply.dead


def test_close_leaves_no_worker_process(backend: str) -> None:
    p = make_pool(backend, ECHO, workers(backend))
    for i in range(p.n):
        p.start(i)
    for i in range(p.n):
        p.send(i, "pid")
    pids = [r.value for r in collect(p, p.n)]
    assert pids == [os.getpid()] * p.n if backend == "inline" else os.getpid() not in pids
    p.close()
    if backend == "inline":
        return
    end = time.monotonic() + 30
    while any(alive(pid) for pid in pids):  # Ray reaps its actors asynchronously
        assert time.monotonic() < end, f"worker processes still alive: {pids}"
        time.sleep(0.1)


def test_unknown_back_ends_and_an_inline_crowd_are_refused() -> None:
    with pytest.raises(WorkerError, match="unknown back end"):
        make_pool("threads", ECHO, 2)
    with pytest.raises(WorkerError, match="exactly one worker"):
        make_pool("inline", ECHO, 2)
