"""How a bundle's reports reach the driver (study/trainable.py): together, so that the driver
handles about one Tune result per bundle rather than one per epoch of each configuration."""
from __future__ import annotations

import contextlib
import json
import tempfile
import time
from pathlib import Path

from ray import tune

BUNDLE_STATE = "bundle.json"  # in a bundle's checkpoint: how many of its configurations finished
REPORT_EVERY_S = 30.0  # a bundle's reports reach the driver at least this often (and at its end)


def write_progress(directory: Path, done: int) -> None:
    """Record in a checkpoint directory that the bundle's first `done` configurations finished."""
    (directory / BUNDLE_STATE).write_text(json.dumps({"done": done}))


def take_progress(directory: Path) -> int:
    """Configurations of the bundle finished before a restart (read from, and removed from, the
    restored checkpoint, so that the runner sees only its own files); 0 without a record."""
    state = directory / BUNDLE_STATE
    if not state.is_file():
        return 0
    done = int(json.loads(state.read_text())["done"])
    state.unlink()
    return done


class Outbox:
    """A bundle's reports on their way to the driver: held, then sent as one Tune report whose
    `reports` is their JSON list (a string: Tune's loggers pass it through; the last report's keys
    are also at the top, for Tune's metric and the callbacks; study.bundles.unpack reads it).
    `every_s` = 0 sends each report at once. `shield` guards a send against the trial timeout
    (Deadline.shield), so that no report is sent twice or lost half way."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self.held: list[dict] = []
        self.sent_at = time.monotonic()
        self.shield = contextlib.nullcontext

    def due(self) -> bool:
        return time.monotonic() - self.sent_at >= self.every_s

    def holds_finals(self) -> bool:
        return any(r.get("final") is True for r in self.held)

    def add(self, metrics: dict, send: bool = False, checkpoint=None) -> float:
        """Hold `metrics`; send everything held if `send` or a checkpoint travels. Returns the
        seconds spent in `tune.report` (waiting for the driver)."""
        self.held.append(metrics)
        return self.send(checkpoint) if send or checkpoint is not None else 0.0

    def send(self, checkpoint=None) -> float:
        if not self.held:
            return 0.0
        payload = self.held[0] if len(self.held) == 1 else {**self.held[-1], "reports": json.dumps(self.held)}
        started = time.perf_counter()
        with self.shield():
            tune.report(payload, checkpoint=checkpoint)
            self.held, self.sent_at = [], time.monotonic()
        return time.perf_counter() - started

    def send_before_error(self) -> None:
        """An infrastructure error ends the Ray trial and Tune retries it: what is held goes first,
        and held final results with the progress that makes the retry skip their configurations
        (without them Tune's latest checkpoint, maybe a runner's mid-run one, stays the one to resume)."""
        if not self.holds_finals():
            self.send()
            return
        done = max(r["config_index"] for r in self.held if r.get("final") is True) + 1
        with tempfile.TemporaryDirectory(prefix="bundle-progress-") as tmp:
            write_progress(Path(tmp), done)
            self.send(tune.Checkpoint.from_directory(tmp))
