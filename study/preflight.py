"""Before any trial: on every node that can run one, check that the study's plugins import there
(the same versions as the driver's), that the tasks' data loads there and that the storage is writable, so that a node without data fails the launch with one line instead
of failing every trial it runs (each three times) while the study spends its budget.

The check is one small Ray task per node (pinned with NodeAffinitySchedulingStrategy, zero CPUs so
it never waits behind running trials).
"""
from __future__ import annotations

import socket
import uuid
from pathlib import Path

from study import plugins
from study.errors import SpecError
from study.spec import StudySpec, is_uri
from study.tasks import OFFLINE_DATASETS, parse_task, runner_config


def missing_data(task_name: str, task_config: dict) -> str | None:
    """What this machine lacks to run `task_name` (None when its data loads)."""
    task = parse_task(task_name)
    config = runner_config(task, task_config)
    try:
        if task.runner == "vision":
            dataset = config["dataset"]
            if dataset in OFFLINE_DATASETS:
                return None  # built in memory: nothing to check (and no torch import on every node)
            from runners import vision_data

            if dataset in vision_data.PLUGINS:
                vision_data.load(dataset)  # the plugin's data(), checked as the runner loads it
                return None
            data_dir = config.get("data_dir") or vision_data.default_data_dir()
            if vision_data.cache_path(dataset, data_dir).is_file():
                return None
            vision_data.load(dataset, data_dir)  # builds the cache from raw files, never downloads
        elif task.runner == "glue":
            from runners.glue import data, tasks

            data.load_raw(tasks.resolve_task(task_name), config.get("data_dir"), config.get("data_files"),
                          config.get("cache_dir"))
    except Exception as exc:  # noqa: BLE001 - any failure to load is what the check reports
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"data of task {task_name} not loadable: {line}"
    return None


def unwritable_storage(storage: str) -> str | None:
    """Why `storage` (a path) cannot take the study's files on this machine, or None."""
    try:
        Path(storage).mkdir(parents=True, exist_ok=True)
        probe = Path(storage) / f".preflight-{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return f"storage {storage} is not writable: {exc.strerror or exc}"
    return None


def missing_plugin(manifest: list[dict]) -> str | None:
    """Why this machine cannot load one of the study's plugins (None when it loads them all)."""
    try:
        plugins.ensure_loaded(manifest)
    except SpecError as exc:
        return str(exc)
    for record in manifest:  # loaded here, but maybe another version than the driver's
        try:
            same = plugins.current_hash(record, shipped=True) == record["sha256"]
        except (OSError, ModuleNotFoundError) as exc:
            return f"plugin {record['source']}: {exc}"
        if not same:
            return f"plugin {record['source']} differs from the driver's (sha256)"
    return None


def check_node(tasks: list[str], task_config: dict, storage: str | None, manifest: list[dict] = ()) -> str | None:
    """Run on one node: the first problem found, or None."""
    problem = missing_plugin(list(manifest))
    if problem:
        return problem
    for task in tasks:
        problem = missing_data(task, task_config)
        if problem:
            return problem
    return unwritable_storage(storage) if storage else None


def trial_nodes(resources: dict) -> list[dict]:
    """The alive nodes on which a trial of `resources` fits."""
    import ray

    return [n for n in ray.nodes() if n.get("Alive")
            and n["Resources"].get("CPU", 0) >= resources["CPU"]
            and n["Resources"].get("GPU", 0) >= resources.get("GPU", 0)]


def preflight(spec: StudySpec, resources: dict) -> int:
    """Check every node that can run a trial; raise SpecError naming the first node with a problem.
    Returns how many nodes were checked (0 on an autoscaling cluster whose trial nodes are not up)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    storage = None if is_uri(spec.storage) else spec.storage
    check = ray.remote(num_cpus=0)(check_node)
    nodes = trial_nodes(resources)
    pending = {
        check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
        .remote(spec.tasks, spec.task_config, storage, plugins.manifest()): node
        for node in nodes
    }
    for ref, node in pending.items():
        problem = ray.get(ref)
        if problem:
            raise SpecError(f"preflight: node {node.get('NodeManagerAddress')} ({node['NodeID'][:8]}): {problem}")
    return len(nodes)
