"""GLUE metrics against hand-computed values; task-name and label handling."""

import numpy as np
import pytest

from runners.glue import TASKS, chance, compute, resolve_task
from runners.glue.tasks import format_input, label_class

# labels/preds with TP=2, FP=1, FN=1, TN=1
LABELS = [1, 1, 0, 0, 1]
PREDS = [1, 0, 0, 1, 1]


def test_classification_metrics_by_hand():
    mrpc = compute(TASKS["mrpc"], PREDS, LABELS)
    assert mrpc["acc"] == pytest.approx(3 / 5)
    assert mrpc["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    # MCC = (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (2 - 1) / sqrt(3*3*2*2)
    assert compute(TASKS["cola"], PREDS, LABELS)["mcc"] == pytest.approx(1 / 6)
    assert set(compute(TASKS["qqp"], PREDS, LABELS)) == {"f1", "acc"}
    assert compute(TASKS["mnli"], [0, 1, 2, 2], [0, 1, 1, 2])["acc"] == pytest.approx(0.75)


def test_correlation_metrics_by_hand():
    # deviations (-1.5,-.5,.5,1.5) and (-3,-1,0,4): r = 11 / sqrt(5 * 26)
    out = compute(TASKS["stsb"], [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 5.0, 9.0])
    assert out["pearson"] == pytest.approx(11 / np.sqrt(130))
    assert out["spearman"] == pytest.approx(1.0)
    # rank differences (0, 1, -1, 0): rho = 1 - 6 * 2 / (4 * (16 - 1))
    assert compute(TASKS["stsb"], [1, 2, 3, 4], [1, 3, 2, 4])["spearman"] == pytest.approx(0.8)
    # a collapsed (constant) model scores 0, not NaN
    assert compute(TASKS["stsb"], [2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == {"pearson": 0.0,
                                                                       "spearman": 0.0}


def test_chance_levels():
    assert chance(TASKS["cola"], LABELS) == 0.0
    assert chance(TASKS["stsb"], [1.0, 2.0]) == 0.0
    assert chance(TASKS["sst2"], LABELS) == pytest.approx(50.0)
    assert chance(TASKS["mnli"], [0, 1, 2]) == pytest.approx(100 / 3)
    labels = [1, 1, 0, 1]  # p = 3/4: F1 of always-positive = 2p / (1 + p)
    assert chance(TASKS["mrpc"], labels) == pytest.approx(100 * 1.5 / 1.75)
    assert chance(TASKS["qqp"], labels) == pytest.approx(100 * compute(TASKS["qqp"], [1] * 4,
                                                                       labels)["f1"])


def test_metric_input_errors():
    with pytest.raises(ValueError, match="cola"):
        compute(TASKS["cola"], [1, 0], [1, 0, 1])


def test_task_names_and_targets():
    assert resolve_task("glue-cola") is TASKS["cola"]
    assert resolve_task("SST-2") is TASKS["sst2"]
    assert resolve_task("glue/mnli").eval_splits == ("validation_matched", "validation_mismatched")
    with pytest.raises(ValueError, match="'glue-colaa'"):
        resolve_task("glue-colaa")
    stsb = TASKS["stsb"]
    assert stsb.n_classes == 26 and stsb.label_words[19] == "3.8"
    assert label_class(stsb, 3.79) == 19 and label_class(stsb, 5.0) == 25
    assert label_class(TASKS["rte"], 1) == 1
    assert format_input(TASKS["mrpc"], {"sentence1": "a b", "sentence2": "c"}) == \
        "mrpc sentence1: a b sentence2: c"
