"""Batch sizes capped at a GLUE task's training split, so a smoke study on a few hundred examples
runs every phase instead of failing each trial that draws batch 1024 ("training set of 400
examples is smaller than batch_size 1024").

The cap is the number of examples a fair-protocol trial trains on (runners.glue.train_size). The
tune phase searches only the batch choices up to it (the cap itself when none is); the fixed
points (default, paper) run at min(their batch, cap). `plan` prints the caps, the launch keeps
them in study.json (`batch_caps`) and the report says which cells ran capped. Vision tasks are
not capped (their runner takes any batch size).
"""
from __future__ import annotations

import json
from functools import lru_cache

import search_spaces
from search_spaces.dims import Categorical, Constant, Int
from study.tasks import parse_task, runner_config


@lru_cache(maxsize=64)
def _train_size(config_json: str) -> int | None:
    from runners.glue import train_size

    try:
        return train_size(json.loads(config_json))
    except Exception:  # noqa: BLE001 - data that does not load here: the preflight names it, no cap
        return None


def largest_batch(optimizer: str, overrides: dict | None) -> int:
    """The largest batch size `optimizer`'s search space (with overrides) can draw."""
    dim = search_spaces.space(optimizer, overrides)["batch_size"]
    if isinstance(dim, Categorical):
        return max(dim.choices)
    return dim.value if isinstance(dim, Constant) else dim.high


def batch_caps(spec) -> dict[str, int]:
    """{task: cap} for the study's GLUE tasks whose training split is smaller than some batch size
    the study would run (a search choice or a fixed point's batch)."""
    caps = {}
    for task_name in spec.tasks:
        task = parse_task(task_name)
        if task.runner != "glue":
            continue
        papers = [search_spaces.paper_point(o, task.paper, task_name) for o in spec.optimizers]
        largest = max([largest_batch(o, spec.search_space.get(o)) for o in spec.optimizers]
                      + [search_spaces.default_point(o)["batch_size"] for o in spec.optimizers]
                      + [p["batch_size"] for p in papers if p])
        config = {**runner_config(task, spec.task_config), "task": task_name}
        size = _train_size(json.dumps(config, sort_keys=True, default=str))
        if size is not None and size < largest:
            caps[task_name] = size
    return caps


def capped_overrides(optimizer: str, overrides: dict | None, cap: int | None) -> dict | None:
    """`overrides` for `optimizer` with its batch-size dimension cut at `cap` (None: unchanged)."""
    if cap is None:
        return overrides
    dim = search_spaces.space(optimizer, overrides)["batch_size"]
    if isinstance(dim, Categorical):
        kept = [c for c in dim.choices if c <= cap]
        batch = {"choices": kept} if len(kept) > 1 else (kept[0] if kept else cap)
    elif isinstance(dim, Int) and dim.low < cap:
        batch = {"low": dim.low, "high": min(dim.high, cap), "log": dim.log}
    else:
        batch = min(dim.value if isinstance(dim, Constant) else dim.low, cap)
    return {**(overrides or {}), "batch_size": batch}


def capped_point(point: dict, cap: int | None) -> dict:
    """A fixed point with its batch size at most `cap`."""
    return point if cap is None or point["batch_size"] <= cap else {**point, "batch_size": cap}


def paper_setup(base: dict) -> tuple[dict | None, str | None]:
    """(the cell's paper point, batch size capped; the registry name that builds it where that is
    not the cell's optimizer, else None), as every paper-point run takes them; (None, None) where
    the cell's paper has no point for it."""
    paper = parse_task(base["task"]).paper
    point = search_spaces.paper_point(base["optimizer"], paper, base["task"]) if paper else None
    if point is None:
        return None, None
    build = search_spaces.paper_build(base["optimizer"], paper)
    return capped_point(point, base.get("_batch_cap")), None if build == base["optimizer"] else build
