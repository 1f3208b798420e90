"""MediaPipe's native log lines kept off the terminal.

MediaPipe's C++ logging (``W0000 ... Feedback manager``, ``INFO: Created TensorFlow Lite XNNPACK delegate``)
writes straight to file descriptor 2, past Python's ``sys.stderr``. :func:`quiet_native` points that descriptor
at ``/dev/null`` while a graph is built and runs its first frame (when those lines come), unless
:func:`set_verbose` (``bharnet --verbose``) asked for them."""
from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import threading

_VERBOSE = bool(os.environ.get("BHARNET_VERBOSE"))


def set_verbose(verbose: bool) -> None:
    """Let MediaPipe's native log lines through (True) or keep them off the terminal (False, the default)."""
    global _VERBOSE
    _VERBOSE = verbose


@contextlib.contextmanager
def quiet_native():
    """Silence file descriptor 2 for the duration (a no-op when verbose, or where fd 2 cannot be duplicated).

    Python's own ``sys.stderr`` is flushed first, so nothing written before is lost; an exception raised inside
    still propagates (its traceback is printed later, after the descriptor is restored)."""
    if _VERBOSE:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# absl / glog lines ("W0000 00:00:1796171399.320186   23249 inference_feedback_manager.cc:114] ..."), TFLite's
# "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." and absl's note about its own initialisation.
NATIVE_LOG = re.compile(rb"^(?:[WI]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\]|INFO: Created TensorFlow Lite|"
                        rb"WARNING: All log messages before absl::InitializeLog)")
_FILTER: dict = {}


def _pump(read_fd: int, write_fd: int) -> None:
    """Copy ``read_fd`` to ``write_fd``, leaving out whole lines that are MediaPipe's informational logs.
    A partial line that cannot be one of them (a progress bar's ``\r`` update) is passed on at once."""
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            return
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        out = b"".join(line + b"\n" for line in lines if not NATIVE_LOG.match(line))
        if pending and not (pending[:1] in (b"W", b"I") and len(pending) < 200):
            out += pending  # cannot be (the start of) a native log line: do not hold a progress bar back
            pending = b""
        if out:
            with contextlib.suppress(OSError):
                os.write(write_fd, out)
    if pending and not NATIVE_LOG.match(pending):
        with contextlib.suppress(OSError):
            os.write(write_fd, pending)


def filter_native_logs(verbose: bool = False) -> None:
    """For a command-line run: route file descriptor 2 through a filter that drops MediaPipe's informational
    log lines (which its graphs write from their own threads, at any frame) and passes everything else,
    Python's warnings, errors and progress bars included. Idempotent; ``verbose`` leaves fd 2 alone."""
    set_verbose(verbose)
    if verbose or _FILTER:
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
    except (OSError, ValueError):
        return
    thread = threading.Thread(target=_pump, args=(read_fd, real), name="bharnet-stderr", daemon=True)
    thread.start()
    _FILTER.update(real=real, thread=thread)

    def restore() -> None:  # at exit: close the pipe's write end so that the pump drains it, then stop
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            os.dup2(real, 2)
        thread.join(timeout=2)

    atexit.register(restore)

