"""One BLAS thread while a single case is assessed, restored afterwards."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from glutemed.reasoning._blas import one_blas_thread

CASES = Path(__file__).resolve().parents[2] / "src" / "glutemed" / "examples" / "cases"


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    if not _blas_threads():
        pytest.skip("no BLAS library with a thread pool is loaded")
    with threadpool_limits(limits=2, user_api="blas"):
        yield


def test_limits_inside_and_restores_after(two_blas_threads):
    assert set(_blas_threads()) == {2}
    with one_blas_thread():
        assert set(_blas_threads()) == {1}
        with one_blas_thread():  # re-entrant
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert set(_blas_threads()) == {2}


def test_restores_after_an_exception(two_blas_threads):
    with pytest.raises(ValueError), one_blas_thread():
        raise ValueError("boom")
    assert set(_blas_threads()) == {2}


def test_overlapping_blocks_in_threads_restore_once_the_last_leaves(monkeypatch):
    """The first block to enter sets the limit and the last to leave restores it (the
    bookkeeping alone, with a recording limiter in place of OpenBLAS)."""
    from glutemed.reasoning import _blas

    events: list[str] = []

    class Limiter:
        def restore_original_limits(self) -> None:
            events.append("restore")

    def limit() -> Limiter:
        events.append("limit")
        return Limiter()

    monkeypatch.setattr(_blas, "_limit", limit)
    inside = threading.Barrier(2)
    first_left = threading.Event()

    def first() -> None:
        with one_blas_thread():
            inside.wait(5)
        events.append("first left")
        first_left.set()

    def second() -> None:
        with one_blas_thread():
            inside.wait(5)
            first_left.wait(5)
            events.append("second still inside")
        events.append("second left")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert events == ["limit", "first left", "second still inside", "restore", "second left"]


def test_assess_runs_with_one_blas_thread(two_blas_threads, monkeypatch):
    from glutemed.reasoning import _engine, load_case

    seen: list[set[int]] = []
    real = _engine._assess

    def spy(*args, **kwargs):
        seen.append(set(_blas_threads()))
        return real(*args, **kwargs)

    monkeypatch.setattr(_engine, "_assess", spy)
    _engine.assess(load_case(CASES / "tendinopathy.yaml"))
    assert seen == [{1}]
    assert set(_blas_threads()) == {2}


def test_controller_rebuilt_after_an_import(monkeypatch):
    """A BLAS library loaded by a later import (SciPy's own OpenBLAS) is limited too: the
    controller that lists the libraries is built again when modules were imported since."""
    import sys
    import types

    from glutemed.reasoning import _blas

    with one_blas_thread():
        pass
    first = _blas._controller
    with one_blas_thread():
        pass
    assert _blas._controller is first  # nothing imported in between: kept
    monkeypatch.setitem(sys.modules, "glutemed_test_newly_imported", types.ModuleType("x"))
    with one_blas_thread():
        pass
    assert _blas._controller is not first
