"""One Tune searcher for all cells of a study, each cell with its own seeded Optuna TPE.

Running every cell in one Tuner keeps a cluster full (no waiting on the slowest cell) while each
cell still gets exactly `trials` suggestions. Trials are handed out round-robin over the cells
that have budget left; the first `iid_trials` of a cell come from TPE's random start-up phase
and are marked `iid`. TPE counts only finished trials towards its start-up, so with trials
running in parallel a few more may be drawn at random; they are not marked, and the
expected-max curves use exactly the first R.

Bundles (study/bundles.py): each Ray trial gets B configurations of one cell, asked from its TPE
one after another before any of them finishes; TPE's constant liar treats the asked but unfinished
ones as pending (it pretends they scored worst), so the B differ and the search stays
sequential-model-based with batches of B. B is `--bundle`, else sized from the configurations'
measured seconds (the cell's, else the study's). Each configuration is told to its TPE as soon as
its final report arrives, not when its bundle ends.

A cell's bundles are elastic until one of its configurations is measured (the first wave, when
nothing is: a cell's bundle holds its random start-up draws, as many as spreads the cells' draws
over all slots; later, sized from the study's measured seconds), and hand back (study/bundles.py `HANDBACK_KEY`) those it has
not started once it ran HANDBACK_S seconds; they are asked again, first in their cell's turn, under
the same ids and still pending in TPE. Short configurations fill every slot from the start (one
Ray trial each would end before the cluster's worker processes are up), while a long one, say an
hour of GLUE, holds its slot no longer than one configuration: no bundle is sized by a guess.
"""
from __future__ import annotations

import math
import zlib

import optuna
from ray import cloudpickle
from ray.tune import Callback
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

import search_spaces
from study.batch_cap import capped_overrides
from study.bundles import HANDBACK_KEY, HANDBACK_S, LENT_TO, auto_size, handed_back, unpack

METRIC, MODE = "score", "max"


def cell_seed(seed: int, task: str, optimizer: str) -> int:
    """A stable per-cell sampler seed (Python's hash() is salted per process)."""
    return (seed * 1_000_003 + zlib.crc32(f"{task}/{optimizer}".encode())) % 2**31


def tune_trial_id(base: dict, index: int) -> str:
    """The study's id of a cell's index-th tune trial: unique by construction, the same on resume."""
    return f"{base.get('phase', 'tune')}-{base['task']}-{base['optimizer']}-{index}"


class ReconcileOnResume(Callback):
    """Calls CellSearcher.reconcile with Tune's trials once, at a (resumed) run's first step. The
    callback and the searcher are pickled together in the Tuner's state, so a restored run's
    callback holds the restored searcher."""

    def __init__(self, searcher: "CellSearcher"):
        self.searcher = searcher
        self.done = False

    def on_step_begin(self, iteration, trials, **info):
        if not self.done:
            self.done = True
            self.searcher.reconcile(trials)


def optuna_storage(path: str):
    """The Optuna journal file holding every cell's study (`optuna.load_study(study_name="task/optimizer",
    storage=optuna_storage(path))` and `optuna-dashboard PATH` open it); a journal, unlike SQLite, is
    safe on NFS."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(path))


class CellSearcher(Searcher):
    """Routes each new trial to the next cell with budget left and that cell's OptunaSearch.

    `cells` maps a cell key `task/optimizer` to the base config (task and runner keys) that every
    trial of the cell shares; the searched hyperparameters are merged into it. The cells' Optuna
    studies live in memory (TPE reads them on every suggestion); with `storage_path`, each
    checkpoint copies the newly finished trials into that journal file, one append per trial (a
    journal storage used directly syncs the file ~13 times per trial, in the driver's loop).
    """

    def __init__(self, cells: dict[str, dict], trials: int, iid_trials: int, seed: int, overrides: dict,
                 storage_path: str | None = None, bundle: int | None = None, slots: int = 1):
        super().__init__(metric=METRIC, mode=MODE)
        self.memory = optuna.storages.InMemoryStorage()
        self.storage_path = storage_path
        self.exported: dict[str, set[int]] = {key: set() for key in cells}  # trial numbers in the journal
        self.cells = cells
        self.trials = trials
        self.searchers: dict[str, OptunaSearch] = {}
        for key, base in cells.items():
            sampler = optuna.samplers.TPESampler(
                n_startup_trials=iid_trials, seed=cell_seed(seed, base["task"], base["optimizer"]),
                multivariate=True, constant_liar=True,
            )
            space = search_spaces.define_by_run(base["optimizer"], capped_overrides(
                base["optimizer"], overrides.get(key, overrides.get(base["optimizer"])), base.get("_batch_cap")))
            self.searchers[key] = OptunaSearch(space=space, metric=METRIC, mode=MODE, sampler=sampler, study_name=key,
                                               storage=self.memory)
        self.iid_trials = iid_trials
        self.suggested = {key: 0 for key in cells}
        self.owner: dict[str, tuple[str, list[str]]] = {}  # Ray trial id -> (cell key, its configs' ids)
        self.told: set[str] = set()  # configuration ids whose result reached their TPE
        self.bundle, self.slots = bundle, slots
        self.seconds: dict[str, list[float]] = {key: [] for key in cells}  # measured seconds per configuration
        self.returned: dict[str, list[dict]] = {key: [] for key in cells}  # handed back, to be asked again
        self.elastic: dict[str, list[dict]] = {}  # Ray trial id -> the configs of its elastic bundle

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # metric and mode are fixed at construction

    def suggest(self, trial_id: str):
        if trial_id in self.owner:
            return None  # Ray's random 8-hex id repeated: Tune asks again with a fresh one
        open_cells = [k for k, n in self.suggested.items() if n < self.trials or self.returned[k]]
        if not open_cells:  # an elastic bundle still out may yet hand some back: ask again later
            return None if self.elastic else Searcher.FINISHED
        key = min(open_cells, key=lambda k: self.suggested[k] - len(self.returned[k]))  # round-robin, stable order
        size, elastic = self.bundle_size(key)
        configs, self.returned[key] = self.returned[key][:size], self.returned[key][size:]
        while len(configs) < size and self.suggested[key] < self.trials:
            index = self.suggested[key]
            config_id = tune_trial_id(self.cells[key], index)
            params = self.searchers[key].suggest(config_id)  # an Optuna ask, pending until told
            self.suggested[key] += 1
            configs.append({**self.cells[key], **params, "trial_index": index, "iid": index < self.iid_trials,
                            "_trial_id": config_id, "_hps": sorted(params)})
        self.owner[trial_id] = (key, [c["_trial_id"] for c in configs])
        if len(configs) == 1:
            return configs[0]  # one: a plain config, as trackers log it
        if not elastic:
            return {"bundle": configs}
        self.elastic[trial_id] = configs
        return {"bundle": configs, HANDBACK_KEY: HANDBACK_S, LENT_TO: trial_id}

    def bundle_size(self, key: str) -> tuple[int, bool]:
        """(configurations, elastic): --bundle; else the size rule of study/bundles.py from the
        cell's measured seconds; a cell not measured yet gets an elastic bundle, sized from the
        study's measured seconds (a guess: another task may be far faster) or, nothing measured
        yet, of the cell's start-up draws."""
        if self.bundle:
            return self.bundle, False
        remaining = sum(self.trials - n + len(self.returned[k]) for k, n in self.suggested.items())
        if self.seconds[key]:
            return auto_size(sum(self.seconds[key]) / len(self.seconds[key]), remaining, self.slots), False
        study = [s for v in self.seconds.values() for s in v]
        if study:
            return auto_size(sum(study) / len(study), remaining, self.slots), True
        draws = len(self.returned[key]) + max(0, self.iid_trials - self.suggested[key])
        share = math.ceil(self.iid_trials * len(self.cells) / max(1, self.slots))  # every slot gets some
        return max(1, min(draws, share)), True

    # Intermediate results are not forwarded: no pruner uses them, and a retried trial would
    # report its epochs to Optuna twice. A configuration's final report is told once.

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        for report in unpack(result):  # a bundle's report may carry several configurations' results
            if report.get("final") is True:
                self._tell(trial_id, report.get("config_id"), report)

    def _tell(self, trial_id: str, config_id: str | None, result: dict | None, error: bool = False) -> None:
        key, ids = self.owner.get(trial_id, (None, []))
        if config_id not in ids or config_id in self.told:
            return
        self.told.add(config_id)
        self.searchers[key].on_trial_complete(config_id, result=result, error=error)
        seconds = (result or {}).get("config_time_s")
        if isinstance(seconds, (int, float)) and math.isfinite(seconds):
            self.seconds[key].append(float(seconds))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """The bundle ended: configurations it handed back are asked again; those without a final
        report otherwise failed (Tune gave up)."""
        key, ids = self.owner.get(trial_id, (None, []))
        back = handed_back(result or {}) if not error else set()
        for report in unpack(result or {}) if not error else ():
            if report.get("final") is True:
                self._tell(trial_id, report.get("config_id"), report)
        lent = self.elastic.pop(trial_id, [])  # a restarted bundle may hand back one an earlier attempt finished: it runs again
        if lent:
            self.returned[key] += [c for c in lent if c["_trial_id"] in back]
        for config_id in ids:
            if config_id not in back:
                self._tell(trial_id, config_id, None, error=True)

    def reconcile(self, trials) -> None:
        """Elastic bundles that Tune's restored state has ended but this (restored) searcher never
        heard end: their state files are saved one after the other, so a driver killed between
        the two leaves them apart. Without this their hand-backs would never be asked again."""
        for trial in trials:
            if trial.trial_id in self.elastic and trial.status in (trial.TERMINATED, trial.ERROR):
                self.on_trial_complete(trial.trial_id, trial.last_result, error=trial.status == trial.ERROR)

    def export(self) -> None:
        """Copy the cells' newly finished Optuna trials into the journal file."""
        if not self.storage_path:
            return
        journal = None  # opened (the whole file replayed) only when there is something to add
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED)
        for key in self.cells:
            source = optuna.load_study(study_name=key, storage=self.memory)
            new = [t for t in source.get_trials(deepcopy=False, states=finished) if t.number not in self.exported[key]]
            if new:
                journal = journal or optuna_storage(self.storage_path)
                target = optuna.create_study(study_name=key, storage=journal, direction=source.direction,
                                             load_if_exists=True)
                target.add_trials(new)
                self.exported[key].update(t.number for t in new)

    def save(self, checkpoint_path: str) -> None:
        self.export()
        with open(checkpoint_path, "wb") as f:
            cloudpickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(cloudpickle.load(f))
        self.__dict__.setdefault("returned", {key: [] for key in self.cells})  # a checkpoint from before hand-backs
        self.__dict__.setdefault("elastic", {})
