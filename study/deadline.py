"""A trial's time limit (`--trial-timeout`): TrialTimeout raised in the training thread, never
while a report is on its way to the driver."""
from __future__ import annotations

import contextlib
import ctypes
import threading


class TrialTimeout(BaseException):
    """Raised in the training thread when a trial passes its `_trial_timeout` (a BaseException, so
    that a runner's `except Exception` cannot swallow it)."""


def _set_async_exc(thread: int, exc) -> None:
    """Raise `exc` in `thread` at its next Python instruction (None clears a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exc) if exc else None)


class Deadline:
    """Raise TrialTimeout in the thread that enters it after `seconds` (None: never), only while
    inside the block.

    The timer raises only while the block runs (a lock and a flag), and leaving the block clears
    a timeout that was set but not yet raised: it can never escape the block, nor reach a later
    trial of the same (reused) thread. Inside `shield()` (a report on its way to the driver) an
    expiry waits and is raised when the shield ends, so that a report is never half sent.
    """

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.lock = threading.Lock()
        self.inside = self.shielded = self.expired = False

    def __enter__(self) -> "Deadline":
        if self.seconds:
            self.thread, self.inside = threading.get_ident(), True
            self.timer = threading.Timer(self.seconds, self._expire)
            self.timer.daemon = True
            self.timer.start()
        return self

    def _expire(self) -> None:
        with self.lock:
            if self.shielded:
                self.expired = True
            elif self.inside:
                _set_async_exc(self.thread, TrialTimeout)

    def __exit__(self, *exc) -> None:
        if not self.seconds:
            return
        with self.lock:
            self.inside = False
        self.timer.cancel()
        _set_async_exc(self.thread, None)

    @contextlib.contextmanager
    def shield(self):
        with self.lock:
            self.shielded = True
        try:
            yield
        finally:
            with self.lock:
                self.shielded, fire = False, self.expired and self.inside
            if fire:
                raise TrialTimeout
