"""Hyperparameter importance per cell with Optuna's PED-ANOVA, from the recorded rows.

The tune rows are turned into an in-memory Optuna study (optuna.trial.create_trial) with
distributions inferred from the `hp_*` columns: text / bool columns and numeric ones with at most
MAX_CHOICES distinct values are categorical; other numeric ones are float, log-scaled when
positive and spanning more than a factor of 20 (so log-searched lr and weight decay are judged on
a log scale). Importances are computed only from MIN_TRIALS scored trials on (PED-ANOVA's top
TARGET_QUANTILE then holds >= 10 trials); below that the report says "not enough trials". No
training is run and no storage is touched.
"""
from __future__ import annotations

import warnings

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

MAX_CHOICES = 8
TARGET_QUANTILE = 0.2  # PED-ANOVA compares the top 20% of trials with all of them
MIN_TRIALS = 50  # so that the top group holds at least 10 trials; with fewer, importances are noise
MAX_TRIALS = 100  # a fixed-seed sample beyond this: Optuna copies each trial into its storage (~1 ms each)


def infer_distribution(col: pd.Series) -> BaseDistribution | None:
    """The Optuna distribution a column of sampled values came from, or None if it is constant."""
    values = col.dropna()
    uniques = pd.unique(values)
    if len(uniques) < 2:
        return None
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any() or values.dtype == bool or len(uniques) <= MAX_CHOICES:
        choices = sorted(uniques.tolist(), key=lambda v: (str(type(v)), v))
        return CategoricalDistribution([v.item() if isinstance(v, np.generic) else v for v in choices])
    low, high = float(numeric.min()), float(numeric.max())
    return FloatDistribution(low, high, log=low > 0 and high / low > 20)


def _param(value, dist: BaseDistribution):
    if isinstance(dist, CategoricalDistribution):
        return value.item() if isinstance(value, np.generic) else value
    return float(value)


def param_importances(rows: pd.DataFrame) -> dict[str, float]:
    """{hp name (without `hp_`): importance} for one cell's tune rows (`value` is the score).

    Rows with no score (errored) are left out; diverged rows are already at chance; at most
    MAX_TRIALS rows are used. Returns {} when
    fewer than MIN_TRIALS rows or no varying hyperparameter.
    """
    rows = rows[np.isfinite(rows["value"].to_numpy(dtype=float))]
    if len(rows) > MAX_TRIALS:
        rows = rows.sample(MAX_TRIALS, random_state=0)
    dists = {c[3:]: d for c in rows.columns if c.startswith("hp_") and (d := infer_distribution(rows[c])) is not None}
    if len(rows) < MIN_TRIALS or not dists:
        return {}
    trials = []
    for rec in rows[[f"hp_{n}" for n in dists] + ["value"]].itertuples(index=False):
        hp = dict(zip(dists, rec[:-1]))
        present = {n: _param(v, dists[n]) for n, v in hp.items() if not (isinstance(v, float) and np.isnan(v))}
        trials.append(optuna.trial.create_trial(params=present, distributions={n: dists[n] for n in present}, value=float(rec[-1])))
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per cell
    try:
        study = optuna.create_study(direction="maximize")
        study.add_trials(trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning and degenerate-KDE warnings
            return optuna.importance.get_param_importances(study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(target_quantile=TARGET_QUANTILE))
    finally:
        optuna.logging.set_verbosity(verbosity)
