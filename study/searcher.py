"""One Tune searcher for all cells of a study, each cell with its own seeded Optuna TPE.

Running every cell in one Tuner keeps a cluster full (no waiting on the slowest cell) while each
cell still gets exactly `trials` suggestions. Trials are handed out round-robin over the cells
that have budget left; the first `iid_trials` of a cell come from TPE's random start-up phase
and are marked `iid`. TPE counts only finished trials towards its start-up, so with trials
running in parallel a few more may be drawn at random; they are not marked, and the
expected-max curves use exactly the first R.
"""
from __future__ import annotations

import zlib

import optuna
from ray import cloudpickle
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

import search_spaces

METRIC, MODE = "score", "max"


def cell_seed(seed: int, task: str, optimizer: str) -> int:
    """A stable per-cell sampler seed (Python's hash() is salted per process)."""
    return (seed * 1_000_003 + zlib.crc32(f"{task}/{optimizer}".encode())) % 2**31


def tune_trial_id(base: dict, index: int) -> str:
    """The study's id of a cell's index-th tune trial: unique by construction, the same on resume."""
    return f"tune-{base['task']}-{base['optimizer']}-{index}"


def optuna_storage(path: str):
    """One Optuna journal file for every cell's study (`optuna.load_study(study_name="task/optimizer",
    storage=...)` and `optuna-dashboard PATH` open it); a journal, unlike SQLite, is safe on NFS."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(path))


class CellSearcher(Searcher):
    """Routes each new trial to the next cell with budget left and that cell's OptunaSearch.

    `cells` maps a cell key `task/optimizer` to the base config (task and runner keys) that every
    trial of the cell shares; the searched hyperparameters are merged into it.
    """

    def __init__(self, cells: dict[str, dict], trials: int, iid_trials: int, seed: int, overrides: dict,
                 storage_path: str | None = None):
        super().__init__(metric=METRIC, mode=MODE)
        storage = optuna_storage(storage_path) if storage_path else None
        self.cells = cells
        self.trials = trials
        self.searchers: dict[str, OptunaSearch] = {}
        for key, base in cells.items():
            sampler = optuna.samplers.TPESampler(
                n_startup_trials=iid_trials, seed=cell_seed(seed, base["task"], base["optimizer"]),
                multivariate=True, constant_liar=True,
            )
            space = search_spaces.define_by_run(base["optimizer"], overrides.get(base["optimizer"]))
            self.searchers[key] = OptunaSearch(space=space, metric=METRIC, mode=MODE, sampler=sampler, study_name=key,
                                               storage=storage)
        self.iid_trials = iid_trials
        self.suggested = {key: 0 for key in cells}
        self.owner: dict[str, str] = {}  # trial_id -> cell key

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # metric and mode are fixed at construction

    def suggest(self, trial_id: str):
        if trial_id in self.owner:
            return None  # Ray's random 8-hex id repeated: Tune asks again with a fresh one
        open_cells = [k for k, n in self.suggested.items() if n < self.trials]
        if not open_cells:
            return Searcher.FINISHED
        key = min(open_cells, key=lambda k: self.suggested[k])  # round-robin, stable order
        index = self.suggested[key]
        params = self.searchers[key].suggest(trial_id)
        self.suggested[key] += 1
        self.owner[trial_id] = key
        return {**self.cells[key], **params, "trial_index": index, "iid": index < self.iid_trials,
                "_trial_id": tune_trial_id(self.cells[key], index), "_hps": sorted(params)}

    # Intermediate results are not forwarded: no pruner uses them, and a retried trial would
    # report its epochs to Optuna twice.

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        key = self.owner.get(trial_id)
        if key is not None:
            self.searchers[key].on_trial_complete(trial_id, result=result, error=error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            cloudpickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(cloudpickle.load(f))
