"""Joining Ray (local or a cluster), sizing trial resources, and the shared-storage check."""
from __future__ import annotations

import os
import sys

from study.errors import SpecError
from study.presets import GPU_PRESETS
from study.spec import StudySpec, is_uri

# Filesystems every node of a cluster can see (as reported in /proc/mounts).
SHARED_FS = ("nfs", "nfs4", "cifs", "smb3", "lustre", "gpfs", "beegfs", "glusterfs", "cephfs", "ceph",
             "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "fuse.sshfs", "9p", "virtiofs")


def connect(spec: StudySpec) -> None:
    """Start a local Ray (`address="local"`) or join the cluster at --address / RAY_ADDRESS."""
    import ray

    address = spec.address or os.environ.get("RAY_ADDRESS") or "local"
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's own tables off (verbose=0): we print progress
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if address == "local":
        # A private single-machine Ray needs no token (Ray 2.59+ turns token auth on for local clusters).
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from study import plugins

    try:  # on a cluster, plugin files travel to every node (a local Ray's workers read them in place)
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 configure_logging=False, runtime_env=None if address == "local" else plugins.runtime_env())
    except (ConnectionError, RuntimeError, ray.exceptions.AuthenticationError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"cannot join the Ray cluster at {address!r}: {first}") from None
    check_storage(spec, alive_nodes())


def alive_nodes() -> int:
    import ray

    return sum(1 for node in ray.nodes() if node.get("Alive"))


def filesystem_type(path: str) -> str:
    """The type of the filesystem holding `path` (longest mount point prefix in /proc/mounts)."""
    path = os.path.realpath(path)
    best, fstype = "", "unknown"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) >= 3 and (path == parts[1] or path.startswith(parts[1].rstrip("/") + "/")):
                    if len(parts[1]) > len(best):
                        best, fstype = parts[1], parts[2]
    except OSError:
        pass
    return fstype


def check_storage(spec: StudySpec, nodes: int) -> None:
    """On several nodes the storage must be shared: refuse a node-local path with a clear message."""
    if nodes <= 1 or spec.storage_is_shared or is_uri(spec.storage):
        return
    existing = spec.storage
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    fstype = filesystem_type(existing)
    if fstype not in SHARED_FS:
        raise SpecError(
            f"--storage {spec.storage} is on a node-local filesystem ({fstype}) but the cluster has {nodes} "
            "nodes: use a shared path (NFS) or s3://..., or pass --storage-is-shared if every node mounts it"
        )


def node_resources() -> list[dict]:
    """CPU and GPU counts of each alive node."""
    import ray

    return [{"CPU": n["Resources"].get("CPU", 0.0), "GPU": n["Resources"].get("GPU", 0.0)}
            for n in ray.nodes() if n.get("Alive")]


def plan_resources(spec: StudySpec) -> dict:
    """Per-trial resources from the spec, sized per node where unset.

    A trial must fit on one node, and an auto-sized trial never asks for GPUs the cluster does not
    have (trials would stay pending forever). With GPUs, each GPU node's CPUs are split evenly among
    the trials its GPUs hold, sized by the smallest GPU node. An explicit `--gpus-per-trial` is
    used as given even when no GPU node is up yet (an autoscaling cluster starts them on demand).
    """
    nodes = node_resources()
    max_gpus = max((n["GPU"] for n in nodes), default=0.0)
    explicit_gpu = spec.gpus_per_trial is not None
    gpu = spec.gpus_per_trial if explicit_gpu else (1.0 if max_gpus >= 1 else 0.0)
    if spec.cpus_per_trial is not None:
        cpu = spec.cpus_per_trial
    elif gpu > 0 and max_gpus >= gpu:
        gpu_nodes = [n for n in nodes if n["GPU"] >= gpu]
        cpu = max(1.0, min(float(int(n["CPU"] / int(n["GPU"] / gpu))) for n in gpu_nodes))
    else:
        cpu = 1.0
    fits = [n for n in nodes if n["CPU"] >= cpu and n["GPU"] >= gpu]
    if not fits and not (explicit_gpu and gpu > 0):
        raise SpecError(f"a trial of {cpu:g} CPU and {gpu:g} GPU fits on no node of the cluster")
    if not fits:
        print(f"warning: no node with {gpu:g} GPU and {cpu:g} CPU is up yet; trials wait until the "
              "cluster (autoscaler) starts one", file=sys.stderr, flush=True)
    if gpu == 0 and spec.preset in GPU_PRESETS and spec.cpus_per_trial is None:
        print(f"WARNING: preset {spec.preset!r} is sized for GPUs but the Ray cluster has none: every trial "
              "runs on CPU. Pass --gpus-per-trial to wait for GPU nodes of an autoscaling cluster.",
              file=sys.stderr, flush=True)
    return {"CPU": cpu, "GPU": gpu}


def trial_slots(resources: dict) -> int:
    """How many trials of `resources` the alive nodes run at once (each trial on one node)."""
    slots = 0
    for node in node_resources():
        fit = [int(node["CPU"] / resources["CPU"] + 1e-9)]
        if resources.get("GPU", 0) > 0:
            fit.append(int(node["GPU"] / resources["GPU"] + 1e-9))
        slots += min(fit)
    return slots
