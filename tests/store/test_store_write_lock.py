"""The SQLite writer turn: one writing transaction at a time across threads and processes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import glutemed.store as store


def _engine(tmp_path: Path) -> sa.Engine:
    return store.make_engine(f"sqlite:///{tmp_path / 'glutemed.sqlite3'}")


@contextlib.contextmanager
def _held_by_another_process(url: str, seconds: float) -> Iterator[None]:
    """Another process takes the writer turn of ``url`` and keeps it for ``seconds``; the body
    runs once it holds it."""
    code = (
        "import time, glutemed.store as s\n"
        f"lock = s.sqlite_write_lock(s.make_engine({url!r}))\n"
        f"lock.acquire(); print('held', flush=True); time.sleep({seconds}); lock.release()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield
    finally:
        proc.wait(20)


def test_one_lock_per_file_and_none_without_a_file(tmp_path: Path) -> None:
    a, b = _engine(tmp_path), _engine(tmp_path)
    memory = store.make_engine("sqlite://")
    try:
        lock = store.sqlite_write_lock(a)
        assert lock is not None and lock is store.sqlite_write_lock(b)
        assert lock.path.name == "glutemed.sqlite3-writelock"
        assert store.sqlite_write_lock(memory) is None
    finally:
        for e in (a, b, memory):
            e.dispose()


def test_second_thread_waits_until_the_first_releases(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    lock = store.sqlite_write_lock(engine)
    assert lock is not None
    got = threading.Event()

    def other() -> None:
        lock.acquire()
        got.set()
        lock.release()

    lock.acquire()
    t = threading.Thread(target=other)
    t.start()
    assert not got.wait(0.3)  # blocked while this thread holds the turn
    lock.release()
    assert got.wait(5)
    t.join(5)
    engine.dispose()


def test_another_process_waits_for_the_turn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'glutemed.sqlite3'}"
    with _held_by_another_process(url, 1.0):
        engine = store.make_engine(url)
        lock = store.sqlite_write_lock(engine)
        assert lock is not None
        t0 = time.monotonic()
        lock.acquire()
        waited = time.monotonic() - t0
        lock.release()
        engine.dispose()
        assert waited > 0.5  # the other process held it for a second


def test_waiting_threads_take_their_turns_in_arrival_order(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    lock = store.sqlite_write_lock(engine)
    assert lock is not None
    order: list[int] = []

    def writer(i: int) -> None:
        lock.acquire()
        order.append(i)
        lock.release()

    lock.acquire()
    threads = []
    for i in range(6):
        t = threading.Thread(target=writer, args=(i,))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5
        while len(lock._turns._waiters) < i + 1 and time.monotonic() < deadline:
            time.sleep(0.005)  # until this writer waits in line
    assert lock.locked()
    lock.release()
    for t in threads:
        t.join(5)
    assert order == list(range(6))
    assert not lock.locked()
    engine.dispose()


def test_a_writer_gives_up_with_a_typed_error_when_the_turn_is_never_released(
    tmp_path: Path,
) -> None:
    """A transaction that never ends must not block every other writer for ever."""
    engine = _engine(tmp_path)
    lock = store.sqlite_write_lock(engine)
    assert lock is not None
    lock.acquire()
    result: list[BaseException] = []

    def other() -> None:
        try:
            lock.acquire(timeout=0.3)
        except BaseException as exc:  # recorded for the assertion
            result.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join(5)
    assert result and isinstance(result[0], store.DatabaseBusyError)
    lock.release()
    # the timed-out waiter left the queue: the next writer gets the turn at once
    t0 = time.monotonic()
    lock.acquire(timeout=1.0)
    assert time.monotonic() - t0 < 0.5
    lock.release()
    # another process holds the file lock: the wait is bounded too
    with (
        pytest.raises(store.DatabaseBusyError),
        _held_by_another_process(str(engine.url), 3.0),
    ):
        lock.acquire(timeout=0.3)
    engine.dispose()
