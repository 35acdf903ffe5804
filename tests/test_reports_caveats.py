"""The report's opening caveats: a smoke-test budget is said so, identical results are labelled."""
from __future__ import annotations

import pandas as pd
import pytest
from synthetic_study import make_study

import reports
from reports.caveats import budget_warning, identical_results
from reports.load import load_study


def _summary(**cells):
    return pd.DataFrame([{"task": "digits", "optimizer": o, "test_mean": t, "default_mean": d} for o, (t, d) in cells.items()])


def test_quick_preset_budget_is_called_a_smoke_test():
    from study.spec import build_spec

    warning = budget_warning(build_spec("quick").to_dict(), _summary(adamw=(90.0, 85.0)))
    assert warning is not None and warning.startswith("**Smoke-test budget** (4 trials per cell, 2 epochs, 2 seeds)")
    assert "3 i.i.d. tune trials per cell" in warning and "2 seeds per setting" in warning
    assert "tuned below" not in warning


def test_each_reason_alone_triggers_the_warning():
    enough = {"trials": 32, "iid_trials": 16, "seeds": 5, "epochs": 12}
    assert budget_warning(enough, _summary(adamw=(90.0, 85.0), lion=(88.0, 80.0))) is None
    assert "1 of 2 cells" in budget_warning(enough, _summary(adamw=(80.0, 85.0), lion=(88.0, 80.0)))
    assert "7 i.i.d." in budget_warning({**enough, "iid_trials": 7}, _summary(adamw=(90.0, 85.0)))
    assert "2 seeds" in budget_warning({**enough, "seeds": 2}, _summary(adamw=(90.0, 85.0)))


def test_report_states_the_smoke_budget_only_when_small(tmp_path):
    cells = dict(tasks=("digits", "cifar10"), optimizers=("adamw", "lion"), missing=(), partial=(), history=False)
    small = make_study(tmp_path / "small", n_trials=4, iid_trials=3, seeds=2, **cells)
    large = make_study(tmp_path / "large", n_trials=16, iid_trials=8, seeds=3, **cells)
    reports.write_report(small, log=lambda _: None)
    reports.write_report(large, log=lambda _: None)
    head = (small / "report.md").read_text().split("## Headline")[0]
    assert head.count("Smoke-test budget") == 1
    assert "Smoke-test budget" not in (large / "report.md").read_text()


@pytest.fixture
def twins(tmp_path):
    """A synthetic study in which swats repeats every adamw run (same seeds, same scores)."""
    path = make_study(tmp_path / "twins", tasks=("digits",), optimizers=("adamw", "lion", "swats"), missing=(),
                      partial=(), error_every=0, history=False)
    trials = pd.read_csv(path / "trials.csv")
    twin = trials[(trials["optimizer"] == "adamw") & (trials["phase"] != "tune")].assign(optimizer="swats")
    twin["trial_id"] = twin["trial_id"] + "-twin"
    rest = trials[~((trials["optimizer"] == "swats") & (trials["phase"] != "tune"))]
    pd.concat([rest, twin]).to_csv(path / "trials.csv", index=False)
    return path


def test_identical_runs_are_labelled(twins):
    reports.write_report(twins, log=lambda _: None)
    assert "Identical by construction: adamw, swats" in (twins / "report.md").read_text().split("## Headline")[0]
    sentences = identical_results(load_study(twins).trials)
    assert len(sentences) == 1
    assert sentences[0].startswith("Identical by construction: adamw, swats score exactly the same on every run of "
                                   "digits confirm, digits default, digits paper (paper protocol)")
    assert "SWATS runs Adam until it switches to SGD" in sentences[0] and "lion" not in sentences[0]


def test_no_label_without_identical_runs_or_for_shared_chance_scores(twins):
    study = load_study(twins)
    trials = study.trials
    assert identical_results(trials[trials["optimizer"] != "swats"]) == []
    chance = trials.copy()
    diverged = chance["optimizer"].isin(["lion", "adamw"]) & (chance["phase"] == "default")
    chance.loc[diverged, ["status", "test_value"]] = ["diverged", 10.0]  # both at chance: not a construction
    assert not any("default" in s and "lion" in s for s in identical_results(chance))
