"""The protocol ladder (issue 24): from a paper's protocol to the fair one, one factor per rung.

A ladder is an ordered list of rungs. The first is the paper's protocol (BASE); each later rung
changes factors of the rung before it: exactly one, unless the rung says `together: true` (then
the report names the factors it changes together). Every claim is judged at every rung with the
report's statistics (reports/ladder.py), so the rung where a verdict first changes names the factor
that changed it.

Rungs are data: `ladder:` in a preset or YAML file is a list of mappings
`{name, change: {factor: value, ...}, together: bool, source: str}`, or `default` (DEFAULT_LADDER).

Factors (each rung's resolved factors are BASE with every change so far applied):

- `scoring`: `paper` (the paper's own scoring: ThermoLion's accuracy on its own training images,
  protocol `paper`; SepNorm's peak GLUE dev score) | `held-out` (the fair protocol: the held-out test
  split; config protocol `fair`). A task whose paper scores held-out data anyway (SepNorm's vision
  rows) has no `paper` protocol: there both values score held-out data, and the rung says so.
- `tuning`: `paper` (the paper's point) | `all` (the tune phase's best config: every searched
  hyperparameter, as the confirm phase) | a list of names, tuned alone by their own tune phase
  (`tune-<names>`, the study's trial budget and epochs, at the paper's batch size) with every other
  hyperparameter at the paper point. A tuned rung's runs take fresh seeds, as the confirm phase.
- `budget`: `paper` (the paper's training budget: ThermoLion 12 epochs, SepNorm GLUE 50k steps; a
  paper that states none gets the study's epochs, and the rung says so) | `study` (the study's
  `epochs`) | `<k>x` (k times the paper's budget).
- `schedule`: `paper` (as the paper trains: both papers use a constant lr; where a paper states
  none, the study's) | `constant` | `cosine`.

Every rung runs the paper's implementation (`search_spaces.paper_build`) on the cells that have a
paper point, with the study's `seeds` fresh seeds. A rung's trial whose config equals (IDENTITY) a
trial the study already planned or ran (the paper phase under either protocol, a confirm run, an
earlier ladder's run) is that trial: it is not run again.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import search_spaces
from study.batch_cap import paper_setup
from study.errors import SpecError, did_you_mean
from study.tasks import parse_task

FACTORS = ("scoring", "tuning", "budget", "schedule")
BASE = {"scoring": "paper", "tuning": "paper", "budget": "paper", "schedule": "paper"}
SCORINGS = ("paper", "held-out")
SCHEDULES = ("paper", "constant", "cosine")
RUNG_KEYS = ("name", "change", "together", "source")
MULTIPLE = re.compile(r"^(\d+(?:\.\d+)?)x$")
# The lr schedule each paper states (`_paper_key`); SepNorm's vision rows state none.
PAPER_SCHEDULE = {"thermolion": "constant", "sepnorm-glue": "constant"}
# What each factor's change means, in words (the report's first sentence and method section).
FACTOR_WORDS = {
    "scoring": {"held-out": "scoring on held-out data", "paper": "scoring as the paper scores"},
    "tuning": {"all": "tuning every searched hyperparameter", "paper": "the paper's fixed hyperparameters"},
    "budget": {"paper": "the paper's training budget", "study": "the study's training budget"},
    "schedule": {"cosine": "a cosine schedule", "constant": "a constant lr", "paper": "the paper's schedule"},
}
DEFAULT_LADDER = [
    {"name": "paper", "source": "the paper's protocol: its points, budget and scoring (the `paper` phase)"},
    {"name": "held-out", "change": {"scoring": "held-out"},
     "source": "the suite's fair protocol: scored on a held-out test split, not on the images trained on"},
    {"name": "lr-tuned", "change": {"tuning": ["lr"]},
     "source": "Wen et al. 2025 (arXiv 2509.02046): speedups shrink under per-optimizer lr tuning; "
               "Sivaprasad et al. 2020: equal tuning budgets"},
    {"name": "tuned", "change": {"tuning": "all"},
     "source": "Dodge et al. 2019, Sivaprasad et al. 2020: every searched hyperparameter tuned with an equal budget"},
    {"name": "budget", "change": {"budget": "2x", "schedule": "cosine"}, "together": True,
     "source": "Kaddour et al. 2023 (No train no gain) and Wen et al. 2025: gains shrink with longer, annealed runs"},
]
# Config keys that do not change what a trial trains or scores: two configs equal but for these
# are one trial (eval_each_epoch changes only how often the validation split is scored).
NOT_IDENTITY = {"phase", "_trial_id", "rung", "_hps", "iid", "trial_index", "eval_each_epoch", "_cpus",
                "_study_dir", "_fault_rate", "_trial_timeout", "_round"}


@dataclass
class Rung:
    """One resolved rung: its factors (all of them), which it changed, why, and its notes."""

    name: str
    factors: dict
    changed: tuple[str, ...] = ()
    source: str = ""
    together: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "factors": self.factors, "changed": list(self.changed), "source": self.source,
                "together": self.together, "notes": self.notes, "change": change_words(self)}


def tuning_key(value) -> str:
    """`paper`, `all`, or the names tuned alone joined by `+` (a list's order does not matter)."""
    return value if isinstance(value, str) else "+".join(sorted(value))


def tune_phase(value) -> str:
    """The tune phase of a rung that tunes `value` (a list of names) alone: `tune-lr`."""
    return "tune-" + tuning_key(value).replace("+", "-")


def _check_value(rung: str, factor: str, value, optimizers=()) -> object:
    where = f"ladder rung {rung!r}: {factor}"
    if factor == "scoring" and value not in SCORINGS:
        raise SpecError(f"{where} must be one of {', '.join(SCORINGS)}, got {value!r}")
    if factor == "schedule" and value not in SCHEDULES:
        raise SpecError(f"{where} must be one of {', '.join(SCHEDULES)}, got {value!r}")
    if factor == "budget" and value not in ("paper", "study") and not (isinstance(value, str) and MULTIPLE.match(value)):
        raise SpecError(f"{where} must be paper, study or a multiple of the paper's budget like 2x, got {value!r}")
    if factor == "tuning":
        if isinstance(value, str) and value in ("paper", "all"):
            return value
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise SpecError(f"{where} must be paper, all or a list of hyperparameter names, got {value!r}")
        known = set().union(*(search_spaces.space(o) for o in optimizers)) if optimizers else set()
        for name in names:
            if known and name not in known:
                raise SpecError(f"{where}: no optimizer of the study searches {name!r}"
                                f"{did_you_mean(name, sorted(known))}")
        return sorted(set(names))
    return value


def parse_ladder(value, optimizers=()) -> list[Rung]:
    """Validate a `ladder:` value (None, `default` or a list of rung mappings) into resolved rungs.

    Raises SpecError with one line for: a value that is not a list of mappings, a rung without a
    unique name, an unknown key or factor, a bad factor value, a later rung that changes nothing,
    or one that changes several factors without `together: true`.
    """
    if value is None or value == []:
        return []
    if value == "default":
        value = DEFAULT_LADDER
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise SpecError(f"ladder must be `default` or a list of rungs ({{name, change, together, source}}), got {value!r}")
    rungs: list[Rung] = []
    factors = dict(BASE)
    for i, raw in enumerate(value):
        name = raw.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise SpecError(f"ladder rung {i + 1} needs a name (a plain word such as held-out), got {name!r}")
        if any(r.name == name for r in rungs):
            raise SpecError(f"ladder rung {name!r} appears twice: rung names must be unique")
        for key in raw:
            if key not in RUNG_KEYS:
                raise SpecError(f"ladder rung {name!r}: unknown key {key!r}{did_you_mean(key, RUNG_KEYS)}; "
                                f"keys: {', '.join(RUNG_KEYS)}")
        change = raw.get("change") or {}
        if not isinstance(change, dict):
            raise SpecError(f"ladder rung {name!r}: change must be a mapping factor -> value, got {change!r}")
        together = raw.get("together", False)
        if not isinstance(together, bool):
            raise SpecError(f"ladder rung {name!r}: together must be true or false, got {together!r}")
        for factor in change:
            if factor not in FACTORS:
                raise SpecError(f"ladder rung {name!r}: unknown factor {factor!r}{did_you_mean(factor, FACTORS)}; "
                                f"factors: {', '.join(FACTORS)}")
        new = {f: _check_value(name, f, v, optimizers) for f, v in change.items()}
        changed = tuple(f for f in FACTORS if f in new and new[f] != factors[f])
        if rungs:
            if not changed:
                raise SpecError(f"ladder rung {name!r} changes nothing from rung {rungs[-1].name!r}")
            if len(changed) > 1 and not together:
                raise SpecError(f"ladder rung {name!r} changes {len(changed)} factors ({', '.join(changed)}): a rung "
                                "changes one, or says `together: true`")
        factors = {**factors, **new}
        source = raw.get("source", "")
        rungs.append(Rung(name, dict(factors), changed, str(source), together))
    return rungs


def change_words(rung: Rung) -> str:
    """What a rung changes, in words: `scoring on held-out data`, `tuning lr alone`, ..."""
    parts = []
    for factor in rung.changed:
        value = rung.factors[factor]
        if factor == "tuning" and value not in ("paper", "all"):
            parts.append(f"tuning {', '.join(value)} alone")
        elif factor == "budget" and MULTIPLE.match(str(value)):
            parts.append(f"a {value} longer training budget")
        else:
            parts.append(FACTOR_WORDS[factor].get(value, f"{factor} {value}"))
    return " with ".join(parts) if parts else "the paper's protocol"


# --- trial configs -------------------------------------------------------------------------------


def identity(config: dict) -> str:
    """What a trial trains and scores, as text: two configs with the same identity are one trial."""
    own = {k: v for k, v in config.items() if k not in NOT_IDENTITY}
    own.setdefault("schedule", "constant")  # both runners' default
    return json.dumps(own, sort_keys=True, default=str)


def _paper_key(task) -> str:
    return f"{task.paper}-glue" if task.runner == "glue" else task.paper


def cell_settings(spec, rung: Rung, base: dict) -> tuple[dict, list[str]]:
    """(the runner keys of the rung's protocol, notes) for one cell."""
    task = parse_task(base["task"])
    f, keys, notes = rung.factors, {}, []
    if f["scoring"] == "paper" and "paper" not in task.paper_protocols:
        notes.append(f"{task.paper} scores held-out data on {base['task']}: `scoring: paper` is the held-out split")
    keys["protocol"] = "paper" if f["scoring"] == "paper" and "paper" in task.paper_protocols else "fair"
    budget = dict(search_spaces.paper_budget(task.paper, base["task"], spec.task_config.get("paper_steps")))
    budget.pop("schedule", None)  # the schedule factor's
    if f["budget"] != "study":
        if not budget:
            notes.append(f"the {task.paper} paper states no training budget for {base['task']}: the study's "
                         f"{spec.epochs} epochs")
        keys.update(budget)
        match = MULTIPLE.match(str(f["budget"]))
        if match:
            k = float(match.group(1))
            unit = "steps" if "steps" in budget else "epochs"
            keys[unit] = max(1, round(k * float(budget.get(unit, base.get(unit) or spec.epochs))))
    paper_schedule = PAPER_SCHEDULE.get(_paper_key(task))
    if f["schedule"] == "paper":
        if paper_schedule is None:
            notes.append(f"the {task.paper} paper states no lr schedule for {base['task']}: the study's")
        else:
            keys["schedule"] = paper_schedule
    else:
        keys["schedule"] = f["schedule"]
    return keys, notes


def rung_configs(spec, rung: Rung, cells: dict[str, dict], best: dict, seeds: list[int]) -> list[dict]:
    """The trials of one rung: per cell with a paper point and per seed, a fixed-phase config with
    `rung` set. `best` maps (tuning_key, cell key) -> the tuned hyperparameters (only the tuned
    names for a subset); a cell without them (no tune trial ended ok) has no runs at that rung."""
    out = []
    for key, base in cells.items():
        point, build = paper_setup(base)
        if point is None:
            continue
        tuning = rung.factors["tuning"]
        if tuning == "paper":
            hps = dict(point)
        else:
            tuned = best.get((tuning_key(tuning), key))
            if tuned is None:
                continue
            hps = {**point, **tuned}
        keys, _ = cell_settings(spec, rung, base)
        for seed in seeds:
            config = {**base, **hps, **keys, "phase": "ladder", "seed": seed, "iid": False, "_hps": sorted(hps),
                      "rung": rung.name}
            if build:
                config["_build"] = build
            config["_trial_id"] = f"ladder-{rung.name}-{base['task']}-{base['optimizer']}-s{seed}"
            out.append(config)
    return out


def subset_cells(spec, tuning, cells: dict[str, dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """The cells of a `tune-<names>` phase and their search-space overrides (keyed by cell): the
    paper point with only `tuning`'s names searched, at the study's epochs, under the fair protocol."""
    phase = tune_phase(tuning)
    out, overrides = {}, {}
    for key, base in cells.items():
        point, build = paper_setup(base)
        if point is None:
            continue
        opt = base["optimizer"]
        user = dict(spec.search_space.get(opt, {}))
        pinned = {n: point[n] for n in search_spaces.space(opt, user or None) if n in point and n not in tuning}
        cell = {**base, **point, "phase": phase}
        if build:
            cell["_build"] = build
        out[f"{key}/{phase}"] = cell
        overrides[f"{key}/{phase}"] = {**user, **pinned}
    return out, overrides


def subset_best(rows, cells: dict[str, dict], tuning) -> dict:
    """{(tuning_key, cell key): {name: value}} from a `tune-<names>` phase's records: each cell's
    best ok trial (study.records.best_row)."""
    from study.records import best_row

    out = {}
    for key, base in cells.items():
        row = best_row(rows, base["task"], base["optimizer"])
        if row is None:
            continue
        out[(tuning_key(tuning), key)] = {n: _plain(row[f"hp_{n}"]) for n in tuning if f"hp_{n}" in row}
    return out


def _plain(value):
    """A CSV cell as the plain Python value a config holds (numpy scalars are not JSON)."""
    return value.item() if hasattr(value, "item") else value


def ladder_plan(spec, cells: dict[str, dict], existing: list[dict], best: dict, seeds: list[int]
                ) -> tuple[list[Rung], dict[str, list[str]], list[dict]]:
    """(rungs, {rung: its trial ids}, configs still to run). A rung's config equal to one in
    `existing` (planned or run) takes that trial's id and is not run again."""
    rungs = parse_ladder(spec.ladder, spec.optimizers)
    known = {identity(c): c["_trial_id"] for c in existing}
    ids: dict[str, list[str]] = {}
    to_run: list[dict] = []
    for rung in rungs:
        notes = set()
        for base in cells.values():
            keys, own = cell_settings(spec, rung, base)
            notes.update(own)
            epochs = keys.get("epochs", base.get("epochs"))
            if rung.factors["tuning"] != "paper" and "steps" not in keys and epochs != spec.epochs:
                notes.add(f"hyperparameters selected by tune trials of the study's {spec.epochs} epoch(s), "
                          f"then run for {epochs} (a cheaper proxy of the rung's budget)")
        rung.notes = sorted(notes)
        ids[rung.name] = []
        for config in rung_configs(spec, rung, cells, best, seeds):
            found = known.get(identity(config))
            if found is None:
                known[identity(config)] = found = config["_trial_id"]
                to_run.append(config)
            ids[rung.name].append(found)
    return rungs, ids, to_run


# --- running and planning ------------------------------------------------------------------------


def fresh_seeds(spec) -> list[int]:
    """Every rung's seeds: the confirm phase's fresh seeds (runs of one seed pair across rungs)."""
    from study.launch import fresh_seed

    return [fresh_seed(spec, i) for i in range(spec.seeds)]


def tuned_best(spec, state: dict, cells: dict[str, dict]) -> dict:
    """{(tuning_key, cell key): hps} of every tuning the study's records can answer: `all` from the
    tune phase (its best ok trial, as the confirm phase picks it), each `tune-<names>` phase's best."""
    from study import records

    best = {}
    study_dir = spec.study_dir
    tune_rows = records.read_phase(study_dir, "tune")
    for key, base in cells.items():
        row = records.best_row(tune_rows, base["task"], base["optimizer"])
        if row is not None and row["trial_id"] in state.get("tune_hps", {}):
            best[("all", key)] = state["tune_hps"][row["trial_id"]]
    for tuning in subsets(parse_ladder(spec.ladder, spec.optimizers)):
        best.update(subset_best(records.read_phase(study_dir, tune_phase(tuning)), cells, tuning))
    return best


def subsets(rungs: list[Rung]) -> list[list[str]]:
    """The distinct name lists the rungs tune alone (each gets one `tune-<names>` phase)."""
    out: dict[str, list[str]] = {}
    for rung in rungs:
        tuning = rung.factors["tuning"]
        if tuning not in ("paper", "all"):
            out.setdefault(tuning_key(tuning), tuning)
    return list(out.values())


def run_ladder(spec, state: dict, cells: dict[str, dict], resources: dict, resume: bool,
               retry_errored: bool = False) -> None:
    """Run what the ladder still needs, after the study's own phases: each `tune-<names>` phase not
    done, then one fixed Tuner (`ladder-<n>`) over the rungs' trials no phase has run. State in
    study.json under `ladder`: the resolved rungs, each rung's trial ids, the Tuners run."""
    from study import records
    from study.launch import _record, _save_state, run_fixed_phase, run_tune_phase

    study_dir = spec.study_dir
    rungs = parse_ladder(spec.ladder, spec.optimizers)
    if any(r.factors["tuning"] == "all" for r in rungs) and state["phases"].get("tune") != "done":
        raise SpecError("ladder: a rung tunes every hyperparameter (tuning: all), so the study needs its tune phase")
    state["spec"]["ladder"] = spec.ladder  # a ladder added on --resume
    for tuning in subsets(rungs):
        phase = tune_phase(tuning)
        if state["phases"].get(phase) == "done":
            continue
        sub, overrides = subset_cells(spec, tuning, cells)
        results = run_tune_phase(spec, sub, resources, resume, retry_errored, phase=phase, overrides=overrides)
        _record(study_dir, phase, results, expected=spec.trials * len(sub))
        state["phases"][phase] = "done"
        _save_state(study_dir, state)
    ladder = state.setdefault("ladder", {"runs": []})
    pending = ladder.get("pending")
    if pending is None:
        existing = (list(state.get("fixed_configs", [])) + [c for r in state.get("rounds", []) for c in r["configs"]]
                    + [c for run in ladder["runs"] for c in run["configs"]])
        rungs, ids, to_run = ladder_plan(spec, cells, existing, tuned_best(spec, state, cells), fresh_seeds(spec))
        ladder.update(rungs=[r.to_dict() for r in rungs], trials=ids)
        pending = ladder["pending"] = {"name": f"ladder-{len(ladder['runs']) + 1}", "configs": to_run} if to_run else None
        _save_state(study_dir, state)
        records.write_rungs(study_dir, ids)
    if pending:
        name = pending["name"]
        print(f"[ladder] {len(pending['configs'])} trials of rungs not run yet "
              f"({', '.join(dict.fromkeys(c['rung'] for c in pending['configs']))})", flush=True)
        results = run_fixed_phase(spec, pending["configs"], resources, resume, retry_errored, name=name)
        _record(study_dir, name, results, expected=len(pending["configs"]), label=f"ladder ({name})")
        ladder["runs"].append(pending)
        ladder["pending"] = None
        state["phases"][name] = "done"
        _save_state(study_dir, state)


def plan_rungs(spec, cells: dict[str, dict], existing: list[dict]) -> tuple[list[Rung], dict, list[dict]]:
    """For `plan`: the ladder's rungs, their trial ids and the configs it would run (tune-<names>
    trials included, phase `tune-<names>`). Every cell counts as tuned: `all` at the default point,
    as study.plan counts the confirm phase, and a name tuned alone at a value no other run has."""
    rungs = parse_ladder(spec.ladder, spec.optimizers)
    best = {}
    for key, base in cells.items():
        best[("all", key)] = search_spaces.default_point(base["optimizer"])
        for tuning in subsets(rungs):
            best[(tuning_key(tuning), key)] = {n: f"<tuned {n}>" for n in tuning}
    tune_runs = [{**c, "phase": tune_phase(t)} for t in subsets(rungs)
                 for c in subset_cells(spec, t, cells)[0].values() for _ in range(spec.trials)]
    rungs, ids, to_run = ladder_plan(spec, cells, existing, best, fresh_seeds(spec))
    return rungs, ids, tune_runs + to_run
