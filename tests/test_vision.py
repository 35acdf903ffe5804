"""The vision runner: learning, every optimizer, divergence, determinism, protocols, SWA, keys."""

from __future__ import annotations

import math

import pytest
import torch

import optim
from devices import TEST_DEVICE
from runners import vision, vision_data

TINY = {"dataset": "digits", "epochs": 2, "batch_size": 20, "n_train": 40, "device": TEST_DEVICE}
VOLATILE = ("wall_time", "time_per_step", "data_time", "train_time", "eval_time", "setup_time")


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine more threads spin and run ~4x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(config: dict) -> tuple[dict, list[dict]]:
    reports: list[dict] = []
    return vision.train(config, reports.append), reports


def test_adamw_learns_digits():
    out, reports = run({"dataset": "digits", "optimizer": "adamw", "lr": 1e-3, "epochs": 3,
                        "batch_size": 32, "n_train": 600, "device": TEST_DEVICE})
    assert out["status"] == "ok" and out["val_acc"] >= 0.9 and out["test_acc"] >= 0.85
    assert [r["epoch"] for r in reports] == [1, 2, 3]
    assert reports[-1]["train_loss"] < reports[0]["train_loss"]
    assert out["score"] == pytest.approx(100 * out["val_acc"])
    assert out["test_score"] == pytest.approx(100 * out["test_acc"])
    assert out["chance"] == 10.0 and out["n_train"] == 600 and out["epochs_done"] == 3
    assert out["steps"] == 3 * math.ceil(600 / 32)
    assert out["wall_time"] > out["time_per_step"] * out["steps"] > 0


@pytest.mark.parametrize("name", optim.names())
def test_every_registered_optimizer_trains_the_convnet_on_digits(name):
    out, reports = run({**TINY, "optimizer": name, "diagnostics": True})
    assert out["status"] == "ok", out
    assert math.isfinite(out["train_loss"]) and out["steps"] == 4 and len(reports) == 2
    assert 0 <= out["score"] <= 100 and 0 <= out["test_score"] <= 100
    assert any(k.startswith("diag/weight_norm/") for k in reports[-1])


def test_divergence_is_detected_within_the_first_epoch():
    out, reports = run({"dataset": "digits", "optimizer": "sgd", "lr": 1e6, "epochs": 3,
                        "batch_size": 16, "device": TEST_DEVICE})
    steps_per_epoch = math.ceil(1150 / 16)
    assert out["status"] == "diverged" and out["epochs_done"] == 1
    assert out["steps"] <= vision.CHECK_EVERY < steps_per_epoch
    assert out["score"] == out["test_score"] == out["chance"] == 10.0
    assert len(reports) == 1 and reports[0]["status"] == "diverged"


def test_same_seed_same_metrics_other_seed_differs():
    strip = lambda out: {k: v for k, v in out.items() if k not in VOLATILE}  # noqa: E731
    a, ra = run({**TINY, "optimizer": "adamw", "seed": 7})
    b, rb = run({**TINY, "optimizer": "adamw", "seed": 7})
    c, _ = run({**TINY, "optimizer": "adamw", "seed": 8})
    assert strip(a) == strip(b) and ra == rb
    assert a["train_loss"] != c["train_loss"]


def _shortcut_data(n_first: int) -> vision_data.VisionData:
    """Training images whose class is the row of a bright stripe (learnt at once); the 100 images
    after the first ``n_first`` and the test set carry shifted labels, so scoring them would show."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n_first + 100,), generator=g)
    x = torch.zeros(len(y), 1, 32, 32, dtype=torch.uint8)
    for i, label in enumerate(y.tolist()):
        x[i, 0, 3 * label:3 * label + 3] = 255
    y_shifted = y.clone()
    y_shifted[n_first:] = (y[n_first:] + 1) % 10
    return vision_data.VisionData("shortcut", x, y_shifted, x[:200], (y[:200] + 1) % 10, 10, 1)


def test_paper_protocol_trains_and_scores_the_first_training_images(monkeypatch):
    assert vision.splits.PAPER_N_TRAIN == 5000
    monkeypatch.setattr(vision.splits, "PAPER_N_TRAIN", 400)  # 5000 is slow on a shared CPU
    monkeypatch.setattr(vision.vision_data, "load", lambda name, data_dir=None: _shortcut_data(400))
    out, _ = run({"dataset": "mnist", "optimizer": "adamw", "lr": 3e-3, "protocol": "paper",
                  "epochs": 4, "batch_size": 50, "n_train": 50, "device": TEST_DEVICE})
    assert out["n_train"] == 400 and out["steps"] == 32  # the first 400, n_train ignored
    assert out["val_acc"] == out["train_acc"] >= 0.95  # scored on the images it trained on
    assert out["test_acc"] <= 0.1  # the official test split is still reported beside it


def test_paper_protocol_defaults_to_the_notebooks_batch_and_epochs():
    cfg, _ = vision.split_config({"dataset": "cifar10", "protocol": "paper"})
    assert (cfg["batch_size"], cfg["epochs"]) == (1024, 12)
    cfg, _ = vision.split_config({"dataset": "cifar10", "protocol": "paper", "batch_size": 256})
    assert cfg["batch_size"] == 256


def test_runner_keys_bookkeeping_and_optimizer_hyperparameters_are_separated():
    cfg, hp = vision.split_config({"task": "digits", "dataset": "digits", "optimizer": "sgd",
                                   "lr": 0.1, "momentum": 0.9, "phase": "tune", "iid": True,
                                   "trial_index": 3, "_cell": "x", "diagnostics": True})
    assert hp == {"lr": 0.1, "momentum": 0.9} and cfg["diagnostics"] is True
    with pytest.raises(ValueError, match="bogus"):
        run({**TINY, "optimizer": "sgd", "bogus": 1.0})


@pytest.mark.parametrize("key,value", [("dataset", "imagenet"), ("model", "vgg11"),
                                       ("protocol", "holdout"), ("schedule", "step")])
def test_bad_input_is_named(key, value):
    with pytest.raises(ValueError, match=repr(value)):
        run({**TINY, "optimizer": "adamw", key: value})


def test_cosine_schedule_reaches_zero_and_constant_stays():
    _, reports = run({**TINY, "optimizer": "sgd", "lr": 0.1, "schedule": "cosine"})
    total = 4
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * (s - 1) / total)) for s in (2, 4)]
    assert [r["lr"] for r in reports] == pytest.approx(expected)
    _, reports = run({**TINY, "optimizer": "sgd", "lr": 0.1})
    assert [r["lr"] for r in reports] == [0.1, 0.1]


@pytest.mark.parametrize("extra", [{"optimizer": "thermolion", "protocol": "paper", "batch_size": 1024},
                                   {"model": "resnet20", "optimizer": "swa", "lr": 0.1, "swa_start": 0.25}])
def test_final_only_evaluation_trains_the_same_and_scores_the_last_epoch(extra, monkeypatch):
    """eval_each_epoch=False (the ThermoLion paper phase): identical training and final scores,
    one validation pass instead of one per epoch, and epochs without a score say so."""
    passes = []
    real = vision.correct_count

    def counting(model, x, y, amp):
        passes.append(len(x))
        return real(model, x, y, amp)

    monkeypatch.setattr(vision, "correct_count", counting)
    config = {**TINY, "epochs": 3, **extra}  # the ResNet case on TINY's 40 fair-protocol images: the paper
    # protocol trains on every digits image, ~1 min of ResNet-20 on a CPU core
    every, every_reports = run(config)
    every_passes, passes[:] = list(passes), []
    final, final_reports = run({**config, "eval_each_epoch": False})
    strip = lambda out: {k: v for k, v in out.items() if k not in VOLATILE}  # noqa: E731
    assert strip(final) == strip(every)
    assert len(every_passes) == len(passes) + 2  # one validation pass instead of three; the other passes stay
    assert [r["train_loss"] for r in final_reports] == [r["train_loss"] for r in every_reports]
    assert [r.get("evaluated", True) for r in final_reports] == [False, False, True]
    assert "score" not in final_reports[0] and final_reports[-1]["score"] == every_reports[-1]["score"]


def test_swa_averages_from_the_start_epoch_and_recomputes_batchnorm(monkeypatch):
    calls = {"update": 0, "bn": 0}
    real_bn = torch.optim.swa_utils.update_bn

    class Spy(torch.optim.swa_utils.AveragedModel):
        def update_parameters(self, model):
            calls["update"] += 1
            super().update_parameters(model)

    def update_bn(loader, model, device=None):
        calls["bn"] += isinstance(model, Spy)  # the averaged model gets its BN statistics
        real_bn(loader, model, device)

    monkeypatch.setattr(torch.optim.swa_utils, "AveragedModel", Spy)
    monkeypatch.setattr(torch.optim.swa_utils, "update_bn", update_bn)
    out, reports = run({**TINY, "model": "resnet20", "optimizer": "swa", "lr": 0.1,
                        "swa_start": 0.5, "swa_lr": 0.02, "epochs": 4, "n_train": 60,
                        "batch_size": 30})
    assert out["status"] == "ok" and calls == {"update": 2, "bn": 2}  # epochs 3 and 4 of 4
    assert [r["lr"] for r in reports] == pytest.approx([0.1, 0.1, 0.02, 0.02])


def test_batchnorm_nets_report_momentum_tracing():
    out, reports = run({**TINY, "model": "resnet20", "optimizer": "sgd", "momentum": 0.9,
                        "lr": 0.05, "n_train": 60, "batch_size": 30, "diagnostics": True})
    assert out["status"] == "ok"
    assert reports[-1]["diag/momentum_tracing"] >= 0
    _, reports = run({**TINY, "optimizer": "sgd", "momentum": 0.9, "diagnostics": True})
    assert "diag/momentum_tracing" not in reports[-1]  # the ConvNet has no BatchNorm


def test_compile_optimizer_compiles_in_the_setup_and_trains_as_the_eager_step(monkeypatch):
    """``compile_optimizer``: Lion takes its compiled step, compiled by ``warm_up`` (with the trial's
    step count) before its first step; AdamW, which has none, runs as it is. The compiler is
    replaced by the eager function here (the compiled numerics: tests/test_optim_compiled.py)."""
    warmed = []
    real_warm_up = optim.Lion.warm_up

    def warm_up(self, steps):
        warmed.append((steps, self.compiled, len(self.state)))
        real_warm_up(self, steps)

    monkeypatch.setattr(optim.lion, "compiled", lambda fn: fn)
    monkeypatch.setattr(optim.Lion, "warm_up", warm_up)
    ours, _ = run({**TINY, "optimizer": "lion", "compile_optimizer": True})
    ref, _ = run({**TINY, "optimizer": "lion"})
    assert warmed == [(4, True, 0)]  # 2 epochs of 2 batches, before any step
    assert ours["train_loss"] == pytest.approx(ref["train_loss"], rel=1e-5)
    assert run({**TINY, "optimizer": "adamw", "compile_optimizer": True})[0]["status"] == "ok"
