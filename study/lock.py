"""One driver per study: a lock file in the study directory with the holder's host and pid.

`study.lock` appears atomically with its content (written to a temporary file, then hard-linked
into place, which fails if a lock exists) and is refreshed by a heartbeat thread. A second launch
or resume of the same study is refused naming the holder; a stale lock (its pid dead on this host,
or, for a driver on another host, no heartbeat for `STALE_AFTER` seconds) is taken over with a
message. A driver whose lock was taken over stops refreshing it and leaves it in place.
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
    """Why a lock no longer protects a running driver, or None if its holder looks alive.

    On this host the pid decides (a suspended driver keeps its study); elsewhere the heartbeat.
    """
    now = time.time() if now is None else now
    if holder.get("host") == socket.gethostname():
        alive = _pid_alive(int(holder.get("pid", -1)))
        return None if alive else f"pid {holder.get('pid')} is no longer running on {holder.get('host')}"
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

    def _link_new(self) -> bool:
        """Create the lock with its content in one step; False if a lock exists."""
        tmp = self.path.with_suffix(f".{socket.gethostname()}.{os.getpid()}.tmp")
        tmp.write_text(self._payload(self.started))
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _stale(self) -> tuple[dict, str | None]:
        """(holder, why it is stale or None) of the existing lock."""
        holder = read_lock(self.path.parent)
        if holder is not None:
            return holder, stale_reason(holder)
        try:  # unreadable: held, unless nobody has written it for STALE_AFTER
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return {}, "it is gone"
        return {}, f"it is unreadable and {age:.0f} s old" if age > STALE_AFTER else None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        for _ in range(2):
            if self._link_new():
                self.held = True
                self._thread = threading.Thread(target=self._beat, daemon=True, name="study-lock-heartbeat")
                self._thread.start()
                return
            holder, reason = self._stale()
            if reason is None:
                raise SpecError(f"study {self.path.parent.name!r} is in use by pid {holder.get('pid')} on "
                                f"{holder.get('host')} (lock {self.path}); wait for it or stop that driver")
            print(f"taking over the stale lock of study {self.path.parent.name!r} ({reason})",
                  file=sys.stderr, flush=True)
            self.path.unlink(missing_ok=True)
        raise SpecError(f"could not take the lock {self.path}: another driver took it at the same time")

    def _ours(self) -> bool:
        holder = read_lock(self.path.parent) or {}
        return (holder.get("host"), holder.get("pid"), holder.get("started")) == (
            socket.gethostname(), os.getpid(), self.started)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                if not self._ours():  # taken over (e.g. after this driver was suspended elsewhere)
                    print(f"warning: the lock {self.path} was taken over by another driver", file=sys.stderr,
                          flush=True)
                    return
                tmp = self.path.with_suffix(f".{socket.gethostname()}.{os.getpid()}.tmp")
                tmp.write_text(self._payload(self.started))
                os.replace(tmp, self.path)
            except OSError as exc:  # a full or flaky disk: try again at the next beat
                print(f"warning: could not refresh the lock {self.path}: {exc}", file=sys.stderr, flush=True)

    def release(self) -> None:
        if not self.held:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._ours():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> "StudyLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
