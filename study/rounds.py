"""`--seeds auto`: the confirm, default and paper phases run in rounds of seeds until each claim is decided.

Round 1 runs `seeds` (the minimum) per cell, like a fixed study. After each round the driver
decides the claims with the report's own group-sequential rule (reports/rounds.py on the records
so far; the curated claims of reports/data); each claim still undecided gets its cells raised to
its next look (reports.sequential.
schedule: 2, 3, 5, 8, 10 for min 2, max 10), and those extra trials are the next round: more
fixed configs with fresh seeds and stable trial ids, run by one Tuner per round. study.json
records the rounds (their configs and why each cell grows), so `--resume` after a kill continues
the round where it stopped and decides again from the same records.
"""
from __future__ import annotations

from study.errors import SpecError

AUTO = (2, 10)  # `seeds: auto`: min and max seeds per cell
# the design's spending table (reports/sequential.py) underflows to NaN rows past this (e.g. 22 of 100 levels at 2-40)
MAX_SEEDS = 30


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise SpecError(f"seeds: {name} must be an integer, got {value!r}")
    return value


def seed_range(seeds, seeds_max, phases) -> tuple[int, int | None]:
    """(min seeds, max seeds or None for a fixed count) from `seeds` as written: an integer (fixed;
    with `seeds_max`, the minimum of an adaptive study), `auto` (2 to 10), `MIN-MAX` or
    {min: .., max: ..}, max at most MAX_SEEDS; phases must include confirm. Raises SpecError with one line on anything else."""
    if isinstance(seeds, str) and seeds.strip() == "auto":
        seeds, seeds_max = AUTO
    elif isinstance(seeds, str) and "-" in seeds.strip().lstrip("-"):
        low, _, high = seeds.strip().partition("-")
        seeds, seeds_max = _count("min", low), _count("max", high)
    elif isinstance(seeds, dict):
        unknown = set(seeds) - {"min", "max"}
        if unknown or not seeds:
            raise SpecError(f"seeds: a mapping takes min and max, got {', '.join(map(str, unknown)) or 'neither'}")
        seeds, seeds_max = _count("min", seeds.get("min", AUTO[0])), _count("max", seeds.get("max", AUTO[1]))
    if seeds_max is None:
        return seeds, None  # a fixed count: study.spec checks it
    low, high = _count("min", seeds), _count("max", seeds_max)
    if low < 2:
        raise SpecError(f"seeds: min must be >= 2 (a claim's interval needs 2 paired seeds), got {low}")
    if low > high:
        raise SpecError(f"seeds: min ({low}) must be <= max ({high})")
    if high > MAX_SEEDS:
        raise SpecError(f"seeds: max must be <= {MAX_SEEDS} (the sequential design's tables are exact up to there), got {high}")
    if "confirm" not in phases:
        raise SpecError("seeds: auto adds seeds where the claims are undecided, which needs the confirm phase "
                        f"(phases: {', '.join(phases)})")
    return low, high


def claim_label(row) -> str:
    """`thermolion > adam on mnist5k (fair)`: a claim as the progress line names it."""
    sign = {"similar": "~", "time": "time within margin of"}.get(row.kind, ">")
    return f"{row.optimizer} {sign} {row.baseline} on {row.task} ({row.setting})"


def _cell(config: dict) -> tuple:
    return config["phase"], config["task"], config["optimizer"], config["protocol"]


def next_round(spec, state: dict, trials) -> tuple[list[dict], list[str], int]:
    """The configs of the next round, why they run, and the looks the claims will then have had:
    for each claim still undecided after the rounds so far, its cells in its setting's phase (fair:
    confirm; paper: the paper protocol's runs where the cell has them, as the report reads them)
    raised to its next look's seed count. No configs when every claim is decided or at max."""
    from reports.claims import alias_claims, curated_claims
    from reports.rounds import claim_rounds
    from reports.user_claims import read_file, with_user_claims
    from study.launch import fixed_trial_id, fresh_seed

    rounds = state.get("rounds", [])
    cells: dict[tuple, list[dict]] = {}
    for config in [c for r in [state["fixed_configs"], *(r["configs"] for r in rounds)] for c in r]:
        cells.setdefault(_cell(config), []).append(config)
    done = rounds[-1]["looks"] if rounds else 1
    claims = with_user_claims(alias_claims(curated_claims(), trials["task"]), read_file(spec.claims))
    while True:
        grow = claim_rounds(trials, spec.seeds, spec.seeds_max, done=done, claims=claims)
        grow = grow[grow["next_seeds"].notna()]
        target: dict[tuple, int] = {}
        for row in grow.itertuples():
            phase = "confirm" if row.setting == "fair" else "paper"
            mine = [c for c in cells if c[0] == phase and c[1] == row.task and c[2] in (row.optimizer, row.baseline)]
            if phase == "paper" and any(c[3] == "paper" for c in mine):
                mine = [c for c in mine if c[3] == "paper"]
            for cell in mine:
                target[cell] = max(target.get(cell, 0), int(row.next_seeds))
        configs = [{**cells[cell][0], "seed": fresh_seed(spec, i), "_round": len(rounds) + 2}
                   for cell, n in target.items() for i in range(len(cells[cell]), n)]
        if configs or grow.empty:
            why = [f"{claim_label(row)}: {row.why}" for row in grow.itertuples()]
            return [{**c, "_trial_id": fixed_trial_id(c)} for c in configs], why, done + 1
        done += 1  # the cells already hold the next look's seeds (a phase that started with more): look again


def _trials(study_dir):
    import pandas as pd

    from reports.load import normalize_trials

    return normalize_trials(pd.read_csv(study_dir / "trials.csv", dtype={"trial_id": str}))


def run_rounds(spec, state: dict, resources: dict, resume: bool, retry_errored: bool = False) -> None:
    """After round 1 (the fixed phases at `seeds`), run rounds until no claim asks for more seeds.

    Each round is written to study.json (its name, configs and reasons) before its Tuner starts,
    and its records to records/<name>.csv when it ends, so a resumed driver restores the round
    in flight from Ray's state and then decides from the same records as before.
    """
    from study.launch import _record, _save_state, phase_names, run_fixed_phase

    rounds = state.setdefault("rounds", [])
    _save_state(spec.study_dir, state)
    while True:
        current = rounds[-1] if rounds else None
        if current is None or (spec.study_dir / "records" / f"{current['name']}.csv").exists():
            configs, why, looks = next_round(spec, state, _trials(spec.study_dir))
            if not configs:
                return
            current = {"name": f"fixed_r{len(rounds) + 2}", "looks": looks, "configs": configs, "why": why}
            rounds.append(current)
            _save_state(spec.study_dir, state)
        label = f"{phase_names(spec, 'fixed')} round {len(rounds) + 1}"
        print(f"[{label}] {len(current['configs'])} more trials:", flush=True)
        for line in current["why"]:
            print(f"[{label}] {line}", flush=True)
        results = run_fixed_phase(spec, current["configs"], resources, resume, retry_errored, name=current["name"])
        _record(spec.study_dir, current["name"], results, expected=len(current["configs"]), label=label)
