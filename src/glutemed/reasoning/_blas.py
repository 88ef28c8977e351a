"""One BLAS thread while a single case is assessed.

A single assessment multiplies matrices of a few hundred elements at a time. NumPy hands each
product to OpenBLAS, whose worker threads wake for it and then spin waiting for the next one:
on two cores that doubled the CPU time of an assessment (about 25 ms instead of 12 ms per
published case) without making it any faster in wall time. ``one_blas_thread`` limits BLAS to
the calling thread for the duration of the block.

The limit is process-wide (OpenBLAS has one thread count), so concurrent blocks share it: the
first block to enter sets it, the last to leave restores the previous count. With OpenBLAS 0.3.31
a count lowered from a thread other than the main one did not take effect once the main thread
had set a count itself, so a long-running process that assesses in worker threads (the web app)
sets one BLAS thread once at start, in its main thread. The vectorised batch path multiplies
large matrices and keeps its threads.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["one_blas_thread"]

_lock = threading.Lock()
_depth = 0
_controller: Any = None
_modules_seen = -1
_limiter: Any = None


def _limit() -> Any:
    global _controller, _modules_seen
    # The controller lists the BLAS libraries loaded when it is built (about 1 ms), and a
    # library is loaded by an import (SciPy's own OpenBLAS with the movement analysis, for
    # example): it is built again only when modules have been imported since.
    if len(sys.modules) != _modules_seen:  # -1 before the first build
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
        _modules_seen = len(sys.modules)
    return _controller.limit(limits=1, user_api="blas")


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS limited to one thread (re-entrant and thread-safe)."""
    global _depth, _limiter
    with _lock:
        if _depth == 0:
            _limiter = _limit()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _limiter.restore_original_limits()
                _limiter = None
