"""`--seeds auto`: the confirm, default and paper phases run in rounds of seeds until each claim is decided.

Round 1 runs `seeds` (the minimum) per cell, like a fixed study. After each round the driver
decides the claims with the report's own group-sequential rule (reports/rounds.py on the records
so far); each claim still undecided gets its cells raised to its next look (reports.sequential.
schedule: 2, 3, 5, 8, 10 for min 2, max 10), and those extra trials are the next round: more
fixed configs with fresh seeds and stable trial ids, run by one Tuner per round. study.json
records the rounds (their configs and why each cell grows), so `--resume` after a kill continues
the round where it stopped and decides again from the same records.
"""
from __future__ import annotations

from study.errors import SpecError

AUTO = (2, 10)  # `seeds: auto`: min and max seeds per cell


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise SpecError(f"seeds: {name} must be an integer, got {value!r}")
    return value


def seed_range(seeds, seeds_max, phases) -> tuple[int, int | None]:
    """(min seeds, max seeds or None for a fixed count) from `seeds` as written: an integer (fixed;
    with `seeds_max`, the minimum of an adaptive study), `auto` (2 to 10), `MIN-MAX` or
    {min: .., max: ..}; phases must include confirm. Raises SpecError with one line on anything else."""
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
    if "confirm" not in phases:
        raise SpecError("seeds: auto adds seeds where the claims are undecided, which needs the confirm phase "
                        f"(phases: {', '.join(phases)})")
    return low, high
