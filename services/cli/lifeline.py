"""Children that do not outlive the process that started them.

``kill -9`` of ``txflow up`` (or a closed terminal that kills it) runs none of
its clean-up: without help, Redis, ingest and the workers would go on running.
On Linux a child asks the kernel for a signal when its parent dies
(``PR_SET_PDEATHSIG``), set between fork and exec, so it covers programs
that cannot watch a pipe, like ``redis-server``.

The kernel sends it when the parent *thread* that forked the child ends, not
the process: a child started from a short-lived thread would be stopped when
that thread returns. Only children started from the main thread get it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


@functools.cache
def _libc() -> ctypes.CDLL | None:
    # Loaded in the parent: loading a library between fork and exec can deadlock.
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` giving the child ``sig`` when this process dies; ``None`` where
    that cannot be had (not Linux, or not the main thread: see the module's docstring)."""
    libc = _libc()
    if libc is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()
    prctl = libc.prctl

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sig)

    return arm
