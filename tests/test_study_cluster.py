"""Multi-node code paths on one machine: a head and a worker node (ray.cluster_utils.Cluster), and a
second worker that is lost while trials run (chaos)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from study.cli import main
from study.cluster import check_storage, filesystem_type, plan_resources
from study.errors import SpecError
from study.spec import StudySpec, validate

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_node_cluster(tmp_path_factory):
    """A head and a worker node; each has its own STUDY_DATA_DIR (`cluster.data_dirs`), both empty."""
    import os

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from ray.cluster_utils import Cluster

    data = tmp_path_factory.mktemp("node-data")
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "env_vars": {"STUDY_DATA_DIR": str(data / "head")}})
    worker = cluster.add_node(num_cpus=1, env_vars={"STUDY_DATA_DIR": str(data / "worker")})
    cluster.wait_for_nodes()
    cluster.data_dirs = {"head": data / "head", "worker": data / "worker"}
    cluster.worker_id = worker.node_id
    yield cluster
    import ray

    ray.shutdown()
    cluster.shutdown()


def test_node_local_storage_is_refused_on_two_nodes(two_node_cluster, tmp_path, capsys):
    storage = tmp_path / "studies"
    code = main(["launch", "--address", two_node_cluster.address, "--storage", str(storage),
                 "--optimizers", "adamw", "--trials", "1", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert "node-local" in err and "2 nodes" in err and str(storage) in err
    assert not storage.exists()


def test_shared_storage_study_runs_across_two_nodes(two_node_cluster, tmp_path, capsys):
    import ray

    code = main(["launch", "--address", two_node_cluster.address, "--storage", str(tmp_path),
                 "--storage-is-shared", "--name", "two-nodes", "--optimizers", "adamw,sgd", "--trials", "2",
                 "--iid-trials", "2", "--epochs", "1", "--phases", "tune"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert sum(node["Alive"] for node in ray.nodes()) == 2
    assert ray.cluster_resources()["CPU"] == 2
    trials = pd.read_csv(tmp_path / "two-nodes" / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "ok").all()


def test_preflight_names_the_node_without_data(two_node_cluster, tmp_path, capsys):
    """mnist is cached on the head only: the launch stops before any trial, naming the worker."""
    from runners import vision_data

    head_cache = vision_data.cache_path("mnist", two_node_cluster.data_dirs["head"])
    head_cache.parent.mkdir(parents=True)
    head_cache.write_bytes(b"cached")  # preflight trusts an existing cache file; no trial reads it here
    code = main(["launch", "--address", two_node_cluster.address, "--storage", str(tmp_path), "--storage-is-shared",
                 "--name", "no-data", "--tasks", "mnist", "--optimizers", "adamw", "--trials", "1", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert "preflight" in err and two_node_cluster.worker_id[:8] in err and "mnist" in err
    assert not (tmp_path / "no-data").exists()


def test_storage_check_units(tmp_path):
    spec = validate(StudySpec(storage=str(tmp_path)))
    check_storage(spec, nodes=1)  # one node: any path is fine
    with pytest.raises(SpecError, match="node-local"):
        check_storage(spec, nodes=3)
    spec.storage_is_shared = True
    check_storage(spec, nodes=3)
    check_storage(validate(StudySpec(storage="s3://bucket/studies")), nodes=3)
    assert filesystem_type(str(tmp_path)) != "unknown"


def _nodes(*specs):
    return [{"Alive": True, "Resources": {"CPU": c, **({"GPU": g} if g else {})}} for c, g in specs]


def test_resources_fit_on_one_node_and_never_ask_for_missing_gpus(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "nodes", lambda: _nodes((16.0, 0)))
    assert plan_resources(validate(StudySpec())) == {"CPU": 1.0, "GPU": 0.0}
    with pytest.raises(SpecError, match="fits on no node"):
        plan_resources(validate(StudySpec(cpus_per_trial=32)))
    # a CPU-only head and four 8-CPU/1-GPU workers: size by the GPU nodes, not the cluster's total
    monkeypatch.setattr(ray, "nodes", lambda: _nodes((16.0, 0), *[(8.0, 1.0)] * 4))
    assert plan_resources(validate(StudySpec())) == {"CPU": 8.0, "GPU": 1.0}
    assert plan_resources(validate(StudySpec(gpus_per_trial=0.25))) == {"CPU": 2.0, "GPU": 0.25}
    with pytest.raises(SpecError, match="<= 1"):
        plan_resources(validate(StudySpec(gpus_per_trial=2)))


@pytest.fixture
def plugin_state():
    """Plugins loaded by a test are forgotten after it (the registries are process-wide)."""
    from study import plugins

    before = set(plugins._loaded)
    yield plugins
    for source, record in list(plugins._loaded.items()):
        if source not in before:
            plugins.forget(record)


def test_plugin_file_travels_to_both_nodes(two_node_cluster, tmp_path, capsys, monkeypatch, plugin_state):
    """The plugin file is deleted once Ray has shipped it (runtime_env py_modules): preflight and
    every trial on both nodes load the shipped copy."""
    import ray

    from study import cluster

    ray.shutdown()  # connect again, with the plugin's runtime_env
    plugin = tmp_path / "plugin_src" / "shipped_signsgd.py"
    plugin.parent.mkdir()
    plugin.write_text((ROOT / "tests" / "plugins" / "signsgd.py").read_text()
                      .replace('"signsgd"', '"shipped"').replace('"flaky"', '"shipped_flaky"'))
    connect = cluster.connect

    def connect_then_delete(spec):
        connect(spec)
        plugin.unlink()

    monkeypatch.setattr("study.launch.connect", connect_then_delete)
    code = main(["launch", "--address", two_node_cluster.address, "--storage", str(tmp_path / "s"),
                 "--storage-is-shared", "--name", "shipped", "--plugin", str(plugin), "--optimizers", "shipped",
                 "--trials", "2", "--iid-trials", "2", "--epochs", "1", "--phases", "tune",
                 "--max-concurrent", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "2 node(s) passed preflight" in out
    trials = pd.read_csv(tmp_path / "s" / "shipped" / "trials.csv")
    assert len(trials) == 2 and (trials["status"] == "ok").all()
    ray.shutdown()


def test_preflight_names_the_node_and_the_plugin_it_lacks(two_node_cluster, tmp_path, capsys, monkeypatch,
                                                         plugin_state):
    """An installed (module) plugin is not shipped: a node that cannot import it fails preflight."""
    module_dir = tmp_path / "only_here"
    module_dir.mkdir()
    (module_dir / "driver_only_plugin.py").write_text((ROOT / "tests" / "plugins" / "signsgd.py").read_text()
                                                      .replace('"signsgd"', '"driver_only"')
                                                      .replace('"flaky"', '"driver_only_flaky"'))
    monkeypatch.syspath_prepend(str(module_dir))  # the driver's path only: no node's workers see it
    storage = tmp_path / "s"
    code = main(["launch", "--address", two_node_cluster.address, "--storage", str(storage), "--storage-is-shared",
                 "--plugin", "driver_only_plugin", "--optimizers", "driver_only", "--trials", "1", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert "preflight: node" in err and "driver_only_plugin" in err
    assert not any(storage.glob("*/study.json"))


def test_a_worker_node_lost_mid_study_keeps_the_budget_exact(two_node_cluster, tmp_path, capsys):
    """Chaos: a second worker joins (head + 2 workers, one trial slot each); once a trial runs on every
    node, that worker is removed. Its trial is retried on the nodes left, every planned trial is
    recorded once (none lost, none twice) and the report's notes name the retried trial."""
    import threading
    import time
    from unittest import mock

    import ray

    from reports.caveats import retried_trials
    from reports.load import load_study
    from study import launch as launch_module

    extra = two_node_cluster.add_node(num_cpus=1, env_vars={"STUDY_DATA_DIR": str(tmp_path / "data")})
    two_node_cluster.wait_for_nodes()
    starts, original = tmp_path / "starts.txt", launch_module.cell_configs

    def sleeping(spec, resources):  # 3 s per trial, each start logged
        return {key: {**base, "_runner": "tests.sleep_runner", "sleep_s": 1.0, "starts": str(starts)}
                for key, base in original(spec, resources).items()}

    def remove_when_all_busy():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if starts.exists() and len(starts.read_text().split()) >= 3:  # 3 slots, 3 nodes: one runs on `extra`
                time.sleep(0.5)
                two_node_cluster.remove_node(extra)
                return
            time.sleep(0.1)

    remover = threading.Thread(target=remove_when_all_busy)
    args = ["launch", "--address", two_node_cluster.address, "--storage", str(tmp_path), "--storage-is-shared",
            "--name", "chaos", "--optimizers", "adam,lion", "--trials", "3", "--iid-trials", "3", "--epochs", "3",
            "--phases", "tune"]
    with mock.patch.object(launch_module, "cell_configs", sleeping), \
            mock.patch("reports.write_report", return_value={}):
        remover.start()
        code = main(args)
        remover.join()
    out = capsys.readouterr().out
    assert code == 0, out
    assert sum(node["Alive"] for node in ray.nodes()) == 2  # the worker is gone
    study_dir = tmp_path / "chaos"
    trials = pd.read_csv(study_dir / "trials.csv")
    planned = {f"tune-digits-{o}-{i}" for o in ("adam", "lion") for i in range(3)}
    assert trials["trial_id"].is_unique and set(trials["trial_id"]) == planned  # exact budget
    assert (trials["status"] == "ok").all()
    retries = pd.read_csv(study_dir / "retries.csv")
    assert len(retries) >= 1 and set(retries["trial_id"]) <= planned
    started = starts.read_text().split()
    for trial_id in retries["trial_id"]:  # the lost attempt, then the retry that finished elsewhere
        assert started.count(trial_id) >= 2
    (sentence,) = retried_trials(load_study(study_dir).retries)
    assert all(f"`{t}`" in sentence for t in retries["trial_id"])
