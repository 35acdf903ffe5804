"""What the study shows on the console: commands the user can paste, and Ray's logs kept off it.

Ray logs on the driver through the `ray` logger (trial tracebacks, its own `Tuner.restore` resume
hint on Ctrl-C, `Failed to fetch metrics` warnings: ray/tune/execution/tune_controller.py,
ray/tune/tune.py, ray/tune/analysis/experiment_analysis.py). Importing ray gives that logger a
stderr handler (ray/_private/log.py) and `ray.init(configure_logging=False)` removes it, which
leaves Python's last-resort handler: warnings and tracebacks on stderr. While a study runs, the
`ray` logger writes to the study's log file instead; trial workers already log to Ray's session
directory (`log_to_driver=False`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import shlex
import sys
from pathlib import Path

LOG_NAME = "study.log"  # in the study directory: Ray's driver log (trial tracebacks, warnings)
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def python_command(executable: str | None = None, cwd: str | None = None) -> str:
    """How to run this Python again: `.venv/bin/python` for the project's venv seen from the project
    root, else the running interpreter's path (a bare `python` may lack the dependencies)."""
    executable = executable or sys.executable or "python"
    cwd = Path(cwd or os.getcwd())
    venv_python = PROJECT_ROOT / ".venv" / "bin" / Path(executable).name
    if Path(executable) == venv_python and cwd.resolve() == PROJECT_ROOT:
        return f".venv/bin/{Path(executable).name}"
    return shlex.quote(executable)


def study_command(*args: str) -> str:
    """A `python -m study ...` command line for the user, with the running interpreter."""
    return " ".join([python_command(), "-m", "study", *(shlex.quote(str(a)) for a in args)])


class _StudyLog(logging.FileHandler):
    """The study's log file, opened at the first record once the study directory exists; records
    before that are dropped, so a launch refused before it starts writes nothing."""

    def __init__(self, path: Path):
        super().__init__(path, encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if os.path.isdir(os.path.dirname(self.baseFilename)):
            super().emit(record)


_active: list[logging.Handler] = []  # the study log's handler while `ray_logs_to` is open


def attach_ray_logs() -> None:
    """(Re)attach the study log to the `ray` logger: `ray.init(configure_logging=False)` clears its
    handlers (ray/_private/worker.py), after which Ray's warnings would reach stderr via Python's
    last-resort handler. Call it after every `ray.init`."""
    ray_logger = logging.getLogger("ray")
    ray_logger.handlers[:] = _active[-1:]
    ray_logger.propagate = False


@contextlib.contextmanager
def ray_logs_to(path: Path):
    """Send the driver's Ray (and Python warnings) log records to `path` instead of the console."""
    import ray  # noqa: F401  (importing ray installs its stderr handler, which is swapped here)

    handler = _StudyLog(path)
    loggers = [logging.getLogger("ray"), logging.getLogger("py.warnings")]
    saved = [(lg, lg.handlers[:], lg.propagate) for lg in loggers]
    _active.append(handler)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").handlers[:] = [handler]
    logging.getLogger("py.warnings").propagate = False
    attach_ray_logs()
    try:
        yield path
    finally:
        _active.remove(handler)
        for lg, handlers, propagate in saved:
            lg.handlers[:] = handlers
            lg.propagate = propagate
        logging.captureWarnings(False)
        handler.close()
