"""Bring your own optimizer, task or runner: the plugin API and how plugins are loaded.

The contract (docs/ARCHITECTURE.md, "Plugins"):

- ``register_optimizer(name, make, space, default, paper=None)``: ``make(params, **hp)`` returns a
  ``torch.optim.Optimizer`` over torch-style param groups (decay / no-decay already split by
  ``wd_exempt``); ``hp`` holds the names of ``space`` but ``batch_size`` and ``wd_exempt``.
  ``space`` is written in the YAML ``search_space:`` vocabulary (search_spaces.overrides).
- ``register_task(name, data, model=None, metric="accuracy")``: a vision task; ``data()`` returns
  ``(x_train, y_train, x_test, y_test)``; ``model(channels, classes)`` replaces the paper ConvNet.
- ``register_runner(name, train, keys=())``: a new kind of task named ``name``, trained by
  ``train(config, report) -> dict`` (the runner contract); ``keys`` are the runner keys a study's
  ``task_config`` may set for it.

A plugin is a Python file or an importable module that calls these when imported (or defines a
``register()`` that does, called when the import registered nothing), or an entry point of group
``optimizer_study.plugins`` naming a module or a ``register()`` callable. The built-in
optimizers and tasks go through the same registries (search_spaces.registry and optim.registry,
study.tasks), which keep each name's origin and refuse a name already taken. Each loaded plugin
is recorded with its source's sha256 (``manifest``): study.json keeps it, trials load the same
plugins on their workers (``ensure_loaded``), and ``--resume`` refuses a plugin that is missing or
changed (``check_manifest``).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import search_spaces
from study.errors import SpecError

ENTRY_POINT_GROUP = "optimizer_study.plugins"
NAME = re.compile(r"[a-z][a-z0-9_]*")  # no '-' or '/': task and trial ids are built from names
METRICS = ("accuracy",)  # what the vision runner scores

_loaded: dict[str, dict] = {}  # source -> manifest record, in load order
_loading: list[dict] = []  # the record of the plugin being imported (its registrations' origin)
_runners: dict[str, Callable] = {}  # plugin runner name -> train
_entry_points_done = False


# ----------------------------------------------------------------------------- the API
def register_optimizer(name: str, make: Callable, space: dict, default: dict, paper: dict | None = None) -> None:
    """Add an optimizer to the study (see the module docstring); raises SpecError on bad input."""
    import optim

    origin = _origin()
    _check_name("optimizer", name, origin)
    if not callable(make):
        raise SpecError(f"{origin}: optimizer {name!r}: make must be callable, got {type(make).__name__}")
    with _spec_error(origin):
        dims = search_spaces.parse_space(name, space)
    point = _point(name, "default", default, dims, origin)
    paper_point = None if paper is None else _point(name, "paper", paper, dims, origin)
    accepted = {k: v for k, v in point.items() if k not in search_spaces.RUNNER_KEYS}
    with _spec_error(origin):  # the name is decided here, so optim.registry takes it as given
        search_spaces.register(search_spaces.Optimizer(name, dims, point, paper_point, origin))
    optim.registry.register(name, accepted, make, origin)
    _record_name("optimizers", name)


def register_task(name: str, data: Callable, model: Callable | None = None, metric: str = "accuracy") -> None:
    """Add a vision task: ``data()`` gives ``(x_train, y_train, x_test, y_test)`` (images N x C x H x W,
    uint8 or float in [0, 1], any size, resized to 32 x 32 as every dataset; int64 labels 0..K-1);
    ``model(channels, classes)`` an ``nn.Module`` (default: the paper ConvNet)."""
    from runners import models, vision_data
    from study import tasks

    origin = _origin()
    _check_name("task", name, origin)
    if not callable(data) or (model is not None and not callable(model)):
        raise SpecError(f"{origin}: task {name!r}: data (and model, if given) must be callable")
    if metric not in METRICS:
        raise SpecError(f"{origin}: task {name!r}: metric {metric!r} is not one of {', '.join(METRICS)}")
    with _spec_error(origin):  # first: a taken name must not replace a built-in's data or model
        tasks.register(tasks.Task(name, "vision", {"dataset": name, "model": name if model else "convnet"}, {},
                                  None, (), origin))
    vision_data.register(name, data)
    if model is not None:
        models.register(name, model)
    _record_name("tasks", name)


def register_runner(name: str, train: Callable, keys: Iterable[str] = ()) -> None:
    """Add a kind of task, ``name``, run by ``train(config, report) -> dict`` (the runner contract)."""
    from study import tasks

    origin = _origin()
    _check_name("runner", name, origin)
    if not callable(train):
        raise SpecError(f"{origin}: runner {name!r}: train must be callable")
    with _spec_error(origin):
        tasks.register_runner(name, keys, origin)
    _runners[name] = train
    _record_name("runners", name)


def runner(name: str) -> Callable | None:
    """A plugin runner's ``train``, or None for a built-in runner."""
    return _runners.get(name)


# ----------------------------------------------------------------------------- loading
def load(source: str) -> dict:
    """Import a plugin file (``*.py``) or module (dotted name) once; returns its manifest record."""
    source = _normalize(source)
    if source in _loaded:
        return _loaded[source]
    if source.endswith(".py"):
        if not os.path.isfile(source):
            raise SpecError(f"plugin file not found: {source}")
        record = {"source": source, "kind": "file", "sha256": _sha256([Path(source)])}
        return _import(record, lambda: _call_register(record, _import_file(source)))
    if importlib.util.find_spec(source.split(".")[0]) is None:
        raise SpecError(f"plugin module {source!r} not found (neither a .py file nor an importable module)")
    record = {"source": source, "kind": "module", "sha256": _module_hash(source)}
    return _import(record, lambda: _call_register(record, importlib.import_module(source)))


def load_entry_points() -> list[dict]:
    """Load every installed distribution's entry points of group ``optimizer_study.plugins`` (once)."""
    global _entry_points_done
    if not _entry_points_done:
        _entry_points_done = True
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            _load_entry_point(ep.value, getattr(ep.dist, "name", None))
    return [r for r in _loaded.values() if r["kind"] == "entry_point"]


def load_all(sources: Iterable[str]) -> None:
    """The study's plugins (``--plugin``, YAML ``plugins:``) and every installed entry point."""
    for source in sources:
        load(source)
    load_entry_points()


def manifest() -> list[dict]:
    """Every plugin loaded in this process: source, kind, sha256 and what it registered."""
    return [dict(r) for r in _loaded.values()]


def ensure_loaded(records: list[dict]) -> None:
    """Load a study's plugins in this process (a trial's worker) from its manifest. A plugin file
    that is not on this machine is imported as the module Ray's runtime_env shipped (``runtime_env``)."""
    for record in records:
        if record["source"] in _loaded:
            continue
        if record["kind"] == "entry_point":
            _load_entry_point(record["source"], record.get("dist"))
        elif record["kind"] == "file" and not os.path.isfile(record["source"]):
            shipped = dict(record, optimizers=[], tasks=[], runners=[])
            _import(shipped, lambda: _call_register(shipped, _import_shipped(record["source"])))
        else:
            load(record["source"])


def runtime_env() -> dict | None:
    """Ray's runtime_env that ships the plugin files to every node of a cluster (``py_modules``: each
    file becomes a module of its own name there); installed plugins are not shipped, preflight checks
    that every node has them."""
    files = [r["source"] for r in _loaded.values() if r["kind"] == "file"]
    return {"py_modules": files} if files else None


def check_manifest(records: list[dict], study: str) -> None:
    """Refuse (SpecError) a resumed study whose plugin is missing or changed since it started."""
    for record in records:
        source = record["source"]
        try:
            now = current_hash(record)
        except (OSError, ModuleNotFoundError, ValueError) as exc:
            raise SpecError(f"--resume: plugin {source} of study {study!r} is missing ({exc}); "
                            "restore it or start a new study") from None
        if now != record["sha256"]:
            raise SpecError(f"--resume: plugin {source} of study {study!r} changed since the study started "
                            f"(sha256 {record['sha256'][:12]} -> {now[:12]}); restore it or start a new study")


def check_optimizer(name: str) -> None:
    """Build a plugin optimizer at its default point on a tiny model and take one step (before any
    trial runs): SpecError naming the plugin if ``make`` or ``step`` fails."""
    import optim
    import torch

    entry = search_spaces.registry.get(name)
    if entry.origin == search_spaces.registry.BUILT_IN:
        return
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3))
    hp = {k: v for k, v in search_spaces.default_point(name).items() if k not in search_spaces.RUNNER_KEYS}
    try:
        opt = optim.build(name, model, **hp)
        model(torch.randn(5, 4)).square().mean().backward()
        opt.step()
    except Exception as exc:  # noqa: BLE001 - whatever the plugin raises is what the user must see
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SpecError(f"optimizer {name!r} ({entry.origin}) fails at its default point: {line}") from None


def check_task(name: str) -> None:
    """Load a plugin vision task's data once and check its shapes and labels (SpecError)."""
    from runners import vision_data
    from study import tasks

    task = tasks.parse_task(name)
    if task.origin == search_spaces.registry.BUILT_IN or task.runner != "vision":
        return
    try:
        vision_data.load(name)
    except Exception as exc:  # noqa: BLE001
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SpecError(f"task {name!r} ({task.origin}): {line}") from None


def forget(record: dict) -> None:
    """Unregister what a plugin registered (its import failed half-way; tests)."""
    import optim
    from runners import models, vision_data
    from study import tasks

    for name in record.get("optimizers", []):
        search_spaces.unregister(name)
        optim.registry.unregister(name)
    for name in record.get("tasks", []) + record.get("runners", []):
        tasks.unregister(name)
        vision_data.unregister(name)
        models.unregister(name)
        _runners.pop(name, None)
    _loaded.pop(record["source"], None)


# ----------------------------------------------------------------------------- internals
def _origin() -> str:
    if _loading:
        record = _loading[-1]
        return f"plugin {record['source']}" + (f" (entry point of {record['dist']})" if record.get("dist") else "")
    return "plugin (registered at runtime)"


def _record_name(kind: str, name: str) -> None:
    if _loading:
        _loading[-1].setdefault(kind, []).append(name)


def _check_name(kind: str, name: Any, origin: str) -> None:
    """A plugin's names only: whether one is taken is its registry's to say (``_spec_error``)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SpecError(f"{origin}: {kind} name {name!r} must be lowercase letters, digits and _ (a letter first)")


@contextlib.contextmanager
def _spec_error(origin: str) -> Iterator[None]:
    """A registry's ``ValueError`` (a bad space, a name already taken) as the one line the user
    sees, naming the plugin."""
    try:
        yield
    except ValueError as exc:
        raise SpecError(f"{origin}: {exc}") from None


def _point(name: str, what: str, point: Any, dims: dict, origin: str) -> dict:
    """A full point of ``dims`` from a plugin's ``default``/``paper``: given names checked inside
    their dimension, constants filled in, ``wd_exempt`` False unless given."""
    if not isinstance(point, dict):
        raise SpecError(f"{origin}: optimizer {name!r}: {what} must be a mapping name -> value, got {point!r}")
    unknown = sorted(set(point) - set(dims))
    if unknown:
        raise SpecError(f"{origin}: optimizer {name!r}: {what} names {', '.join(map(str, unknown))}, "
                        f"not in its space ({', '.join(dims)})")
    out = {k: d.value for k, d in dims.items() if isinstance(d, search_spaces.Constant)}
    if dims["wd_exempt"].contains(False):
        out.setdefault("wd_exempt", False)
    out.update(point)
    missing = [k for k in dims if k not in out and not (k == "batch_size" and dims[k].contains(128))]
    if missing:  # batch_size may be left out where 128, every default point's, is in the space
        raise SpecError(f"{origin}: optimizer {name!r}: {what} lacks {', '.join(missing)}")
    for key, value in out.items():
        if not dims[key].contains(value):
            raise SpecError(f"{origin}: optimizer {name!r}: {what} {key}={value!r} is outside its space "
                            f"{dims[key].describe()}")
    return out


def _normalize(source: str) -> str:
    if not isinstance(source, str) or not source.strip():
        raise SpecError(f"plugin must be a .py file or a dotted module name, got {source!r}")
    source = source.strip()
    return os.path.abspath(os.path.expanduser(source)) if source.endswith(".py") or os.sep in source else source


def _import(record: dict, do_import: Callable[[], Any]) -> dict:
    """Import a plugin with its registrations attributed to it; undo them all if it fails."""
    _loading.append(record)
    _loaded[record["source"]] = record
    try:
        do_import()
    except SpecError:
        forget(record)
        raise
    except BaseException as exc:  # noqa: BLE001 - the plugin's own exception line is the message
        forget(record)
        line = (str(exc).strip().splitlines() or [""])[0][:300]
        raise SpecError(f"plugin {record['source']} failed to import: {type(exc).__name__}: {line}") from None
    finally:
        _loading.pop()
    return record


def _call_register(record: dict, module) -> None:
    """A plugin that registered nothing on import but defines ``register()``: call it."""
    if not any(record.get(k) for k in ("optimizers", "tasks", "runners")) and callable(getattr(module, "register", None)):
        module.register()


def _import_file(path: str):
    name = f"optimizer_study_plugin_{Path(path).stem}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _import_shipped(source: str):
    """A plugin file shipped by ``runtime_env``: importable under its file's stem on this node."""
    name = Path(source).stem
    if importlib.util.find_spec(name) is None:
        raise ModuleNotFoundError(f"plugin file {source} is neither on this node nor shipped to it")
    return importlib.import_module(name)


def _load_entry_point(value: str, dist: str | None) -> dict:
    """An entry point's value: ``module`` (registers on import) or ``module:callable`` (called)."""
    if value in _loaded:
        return _loaded[value]
    module_name, _, attr = value.partition(":")
    record = {"source": value, "kind": "entry_point", "dist": dist, "sha256": ""}

    def do_import() -> None:
        record["sha256"] = _module_hash(module_name)
        module = importlib.import_module(module_name)
        if attr:
            target = module
            for part in attr.strip().split("."):
                target = getattr(target, part)
            target()

    return _import(record, do_import)


def current_hash(record: dict, shipped: bool = False) -> str:
    """The sha256 a plugin's manifest record would have here, now (raises if it is missing); with
    ``shipped``, a plugin file not on this machine is hashed as the module Ray shipped."""
    if record["kind"] == "file":
        if not os.path.isfile(record["source"]):
            if shipped:
                return _module_hash(Path(record["source"]).stem)
            raise FileNotFoundError(f"no file {record['source']}")
        return _sha256([Path(record["source"])])
    module_name = record["source"].partition(":")[0]
    if importlib.util.find_spec(module_name.split(".")[0]) is None:
        raise ModuleNotFoundError(f"module {module_name} is not installed")
    return _module_hash(module_name)


def _module_hash(module_name: str) -> str:
    """sha256 of a module's source (a package: every .py file under it), without importing it."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        raise ModuleNotFoundError(f"module {module_name} has no source file")
    origin = Path(spec.origin)
    if not spec.submodule_search_locations:
        return _sha256([origin])  # a single file: the same digest as that file loaded by path
    return _sha256(sorted(origin.parent.rglob("*.py")), root=origin.parent)


def _sha256(files: list[Path], root: Path | None = None) -> str:
    digest = hashlib.sha256()
    for file in files:
        if root is not None:
            digest.update(str(file.relative_to(root)).encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()
