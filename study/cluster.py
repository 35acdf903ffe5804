"""Joining Ray (local or a cluster), sizing trial resources, and the shared-storage check."""
from __future__ import annotations

import os

from study.errors import SpecError
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
        # A private single-machine Ray needs no token (Ray 2.60 turns token auth on by default).
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True, configure_logging=False)
    except ConnectionError as exc:
        raise SpecError(f"cannot reach a Ray cluster at {address!r}: {exc}") from None
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


def plan_resources(spec: StudySpec) -> dict:
    """Per-trial resources from the spec, sized from ray.cluster_resources() where unset.

    Never asks for GPUs the cluster does not have (trials would stay pending forever).
    """
    import ray

    total = ray.cluster_resources()
    cpus, gpus = total.get("CPU", 1.0), total.get("GPU", 0.0)
    gpu = spec.gpus_per_trial if spec.gpus_per_trial is not None else (1.0 if gpus >= 1 else 0.0)
    if gpu > 0 and gpus == 0:
        raise SpecError(f"--gpus-per-trial {gpu:g} but the Ray cluster has no GPU")
    if gpu > gpus:
        raise SpecError(f"--gpus-per-trial {gpu:g} exceeds the cluster's {gpus:g} GPUs")
    if spec.cpus_per_trial is not None:
        cpu = spec.cpus_per_trial
    elif gpu > 0:
        cpu = max(1.0, float(int(cpus / max(1.0, gpus / gpu))))
    else:
        cpu = 1.0
    if cpu > cpus:
        raise SpecError(f"--cpus-per-trial {cpu:g} exceeds the cluster's {cpus:g} CPUs")
    return {"CPU": cpu, "GPU": gpu}
