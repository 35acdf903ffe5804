"""One driver per study: a lock file in the study directory with the holder's host and pid.

`study.lock` is created atomically (O_EXCL) and refreshed by a heartbeat thread. A second launch or
resume of the same study is refused naming the holder; a stale lock (its pid dead on this host,
or no heartbeat for `STALE_AFTER` seconds, e.g. a driver on another host that was killed) is taken
over with a message.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from study.errors import SpecError

LOCK_FILE = "study.lock"
HEARTBEAT = 30.0  # seconds between refreshes of the lock's heartbeat
STALE_AFTER = 10 * HEARTBEAT


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_lock(study_dir: Path) -> dict | None:
    """The holder {host, pid, started, heartbeat}, or None when the study is not locked."""
    try:
        return json.loads((study_dir / LOCK_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def stale_reason(holder: dict, now: float | None = None) -> str | None:
    """Why a lock no longer protects a running driver, or None if its holder looks alive."""
    now = time.time() if now is None else now
    if holder.get("host") == socket.gethostname() and not _pid_alive(int(holder.get("pid", -1))):
        return f"pid {holder.get('pid')} is no longer running on {holder.get('host')}"
    age = now - float(holder.get("heartbeat", 0))
    if age > STALE_AFTER:
        return f"its last heartbeat was {age:.0f} s ago"
    return None


class StudyLock:
    """`with StudyLock(study_dir):` holds the study for this process (see the module docstring)."""

    def __init__(self, study_dir: Path):
        self.path = Path(study_dir) / LOCK_FILE
        self.held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _payload(self, started: float) -> str:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started,
                           "heartbeat": time.time()})

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = read_lock(self.path.parent) or {}
                reason = stale_reason(holder) if holder else "the lock file is unreadable"
                if reason is None:
                    raise SpecError(f"study {self.path.parent.name!r} is in use by pid {holder.get('pid')} on "
                                    f"{holder.get('host')} (lock {self.path}); wait for it or stop that driver")
                print(f"taking over the stale lock of study {self.path.parent.name!r} ({reason})",
                      file=sys.stderr, flush=True)
                self.path.unlink(missing_ok=True)
                continue
            self.started = time.time()
            with os.fdopen(fd, "w") as f:
                f.write(self._payload(self.started))
            self.held = True
            self._thread = threading.Thread(target=self._beat, daemon=True, name="study-lock-heartbeat")
            self._thread.start()
            return
        raise SpecError(f"could not take the lock {self.path}: another driver took it at the same time")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(self._payload(self.started))
            os.replace(tmp, self.path)

    def release(self) -> None:
        if not self.held:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> "StudyLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
