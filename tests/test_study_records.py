"""Records from Tune results: the per-epoch history of retried and final-only-scored trials."""
import numpy as np
import pandas as pd

from study.records import HISTORY_COLUMNS, history_rows

CONFIG = {"phase": "tune", "task": "digits", "optimizer": "adamw"}


def _frame(epochs, scores, final_last=True, **extra):
    frame = pd.DataFrame({"epoch": epochs, "score": scores, "final": False, **extra})
    if final_last:
        frame.loc[len(frame)] = {"epoch": epochs[-1], "score": scores[-1], "final": True,
                                 **{k: v[-1] for k, v in extra.items()}}
    return frame


def _history(frame):
    """history_rows over a trial's reports, as they come from a Tune Result's metrics DataFrame."""
    return pd.DataFrame(history_rows("t", CONFIG, frame.to_dict("records")), columns=HISTORY_COLUMNS)


def _scores(history):
    rows = history[history["key"] == "score"]
    return list(zip(rows["epoch"], rows["value"]))


def test_a_retry_from_scratch_keeps_only_its_own_epochs():
    # attempt 1 reached epoch 5 and crashed; attempt 2 started over and ended at epoch 3
    h = _history(_frame([1, 2, 3, 4, 5, 1, 2, 3], [10, 20, 30, 40, 50, 11, 21, 31]))
    assert _scores(h) == [(1, 11), (2, 21), (3, 31)]


def test_a_retry_from_a_checkpoint_keeps_the_epochs_it_resumed_from():
    # attempt 1 reported epochs 1-5 (checkpoint after 4); attempt 2 resumed at 5 and went on to 6
    h = _history(_frame([1, 2, 3, 4, 5, 5, 6], [10, 20, 30, 40, 50, 51, 61]))
    assert _scores(h) == [(1, 10), (2, 20), (3, 30), (4, 40), (5, 51), (6, 61)]


def test_unevaluated_epochs_have_no_score_in_the_history():
    frame = _frame([1, 2, 3], [0.0, 0.0, 90.0], train_loss=[2.0, 1.0, 0.5],
                   evaluated=[False, False, np.nan], chance=[10.0] * 3)
    h = _history(frame)
    assert _scores(h) == [(3, 90.0)]
    assert h.loc[h["key"] == "train_loss", "epoch"].tolist() == [1, 2, 3]
    assert set(h["key"]) == {"score", "train_loss"}  # chance is a constant of the trial (trials.csv)


def test_a_trial_waiting_for_its_retry_is_not_finished():
    """Tune's Result of a trial whose first attempt failed carries that error while the retry is
    pending or running: only a final report or Tune giving up (ERROR) ends a trial."""
    from types import SimpleNamespace

    from study.launch import finished_results

    def trial(status):
        return SimpleNamespace(status=status, ERROR="ERROR")

    def result(final, error=None):
        return SimpleNamespace(metrics={"final": final}, error=error)

    class Grid(list):
        pass

    grid = Grid([result(True), result(False, RuntimeError("attempt 1")), result(False, RuntimeError("gave up")),
                 result(False)])
    grid._experiment_analysis = SimpleNamespace(trials=[trial("TERMINATED"), trial("PENDING"), trial("ERROR"),
                                                        trial("RUNNING")])
    assert finished_results(grid) == [grid[0], grid[2]]
