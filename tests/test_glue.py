"""The GLUE runner on the tiny T5 and synthetic GLUE-format files (offline, CPU)."""

import json
import math
import os
import random

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pandas as pd
import pytest
import torch

import optim
from runners import glue
from runners.glue import checkpoint, data, model as t5
from runners.glue.tasks import TASKS, format_input

GOOD, BAD = ["good", "great", "fine", "nice"], ["bad", "awful", "poor", "sad"]
FILLER = ["the", "movie", "was", "a", "plot", "very", "really", "and", "it"]


def _sst2_rows(n: int, seed: int) -> list[dict]:
    """SST-2 layout; the rule: the label is 1 iff the sentence holds a word from GOOD."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.randint(0, 1)
        words = [rng.choice(FILLER) for _ in range(6)]
        words.insert(rng.randint(0, 6), rng.choice(GOOD if label else BAD))
        rows.append({"sentence": " ".join(words), "label": label, "idx": i})
    return rows


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: the tiny model gains nothing from more on 2 shared cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def sst2_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sst2")
    _write_jsonl(d / "train.jsonl", _sst2_rows(600, 0))
    _write_jsonl(d / "validation.jsonl", _sst2_rows(120, 1))
    return d


def _config(d, **kw):
    return {"task": "glue-sst2", "model": "tiny", "data_dir": str(d),
            "cache_dir": str(d / "cache"), "batch_size": 16, "n_val": 100, "optimizer": "adamw",
            "lr": 3e-3, **kw}


def test_tiny_t5_learns_synthetic_task(sst2_dir):
    reports = []
    out = glue.train(_config(sst2_dir, steps=150, eval_every=50, trial_index=3, phase="confirm",
                             _study_dir="x"), reports.append)
    assert [r["step"] for r in reports] == [50, 100, 150]
    assert [r["epoch"] for r in reports] == [1, 2, 3]
    assert out["status"] == "ok" and out["chance"] == 50.0 and out["steps"] == 150
    assert out["score"] == pytest.approx(100 * out["val_acc"]) == reports[-1]["score"]
    assert out["score"] >= 80 and out["test_score"] >= 80  # chance is 50
    assert out["test_score"] == pytest.approx(100 * out["test_acc"])
    assert reports[-1]["train_loss"] < reports[0]["train_loss"]
    assert out["time_per_step"] > 0 and out["tokens_per_s"] > 0


def test_train_size_is_what_a_fair_trial_trains_on(sst2_dir):
    assert glue.train_size(_config(sst2_dir)) == 500  # 600 less the 100 held out for selection
    assert glue.train_size(_config(sst2_dir, n_train=50)) == 50
    assert glue.train_size(_config(sst2_dir, selection="dev-split")) == 600


def test_paper_protocol_reports_peak_dev_score(sst2_dir):
    reports = []
    out = glue.train(_config(sst2_dir, protocol="paper", steps=40, epochs=4, lr=1e-3),
                     reports.append)
    assert len(reports) == 4
    peak = max(reports, key=lambda r: r["score"])
    assert out["score"] == out["test_score"] == peak["score"]
    assert out["test_acc"] == peak["val_acc"]


def test_checkpoint_round_trip_resumes_same_step_and_loss(sst2_dir, tmp_path):
    cfg = _config(sst2_dir, steps=20, eval_every=10, lr=1e-3)
    full = []
    glue.train(cfg, full.append)

    class Crash(Exception):
        pass

    def crash(_):
        raise Crash

    ck = tmp_path / "ck"
    with pytest.raises(Crash):
        glue.train({**cfg, "_checkpoint_dir": str(ck)}, crash)
    saved = torch.load(ck / checkpoint.FILENAME, map_location="cpu", weights_only=False)
    assert saved["state"]["step"] == 10
    assert not [p for p in ck.iterdir() if p.name != checkpoint.FILENAME]  # no temp files left
    resumed = []
    out = glue.train({**cfg, "_checkpoint_dir": str(ck)}, resumed.append)
    assert not any(ck.iterdir())  # read once: not handed over again as a new checkpoint
    assert [(r["epoch"], r["step"]) for r in resumed] == [(2, 20)]
    assert resumed[0]["train_loss"] == pytest.approx(full[1]["train_loss"], rel=1e-6)
    assert resumed[0]["score"] == full[1]["score"]
    assert out["steps"] == 20 and out["epochs_done"] == 2


def test_divergence_stops_the_trial(sst2_dir):
    reports = []
    out = glue.train(_config(sst2_dir, optimizer="sgd", lr=1e30, steps=20, eval_every=5),
                     reports.append)
    assert out["status"] == "diverged" and out["steps"] == 5
    assert out["score"] == out["test_score"] == out["chance"] == 50.0
    assert len(reports) == 1 and not math.isfinite(reports[0]["train_loss"])


def test_mnli_reports_matched_and_mismatched(tmp_path):
    rng = random.Random(0)
    rows = [{"premise": f"p {i}", "hypothesis": f"h {i}", "label": rng.randint(0, 2), "idx": i}
            for i in range(40)]
    for split in ("train", "validation_matched", "validation_mismatched"):
        pd.DataFrame(rows).to_parquet(tmp_path / f"{split}.parquet")
    files = {s: str(tmp_path / f"{s}.parquet")
             for s in ("train", "validation_matched", "validation_mismatched")}
    out = glue.train({"task": "mnli", "data_files": files, "cache_dir": str(tmp_path / "c"),
                      "steps": 2, "eval_every": 2, "batch_size": 4}, lambda r: None)
    assert {"test_acc_m", "test_acc_mm", "val_acc"} <= set(out)
    assert out["test_score"] == pytest.approx(100 * out["test_acc_m"])
    assert out["chance"] == pytest.approx(100 / 3)
    reports = []  # the paper's scoring: the best eval by acc_m, and acc_mm at that same eval
    out = glue.train({"task": "mnli", "data_files": files, "cache_dir": str(tmp_path / "c"),
                      "protocol": "paper", "steps": 4, "epochs": 4, "batch_size": 4, "lr": 3e-3},
                     reports.append)
    best = max(reports, key=lambda r: r["score"])  # the first of equals, as the runner keeps it
    assert out["score"] == out["test_score"] == best["score"] == 100 * best["val_acc_m"]
    assert out["test_acc_mm"] == best["val_acc_mm"]


def test_file_formats_give_the_same_tokens(sst2_dir, tmp_path):
    spec = TASKS["sst2"]
    tok = t5.build("tiny", 0)[1]
    rows = _sst2_rows(30, 2)
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    frame.to_parquet(tmp_path / "a.parquet")
    _write_jsonl(tmp_path / "a.jsonl", rows)
    encoded = []
    for ext in ("csv", "tsv", "parquet", "jsonl"):
        f = str(tmp_path / f"a.{ext}")
        raw = data.load_raw(spec, data_files={"train": f, "validation": f},
                            cache_dir=str(tmp_path / "cache"))
        encoded.append(data.encode(spec, raw["train"], tok, 32, str(tmp_path / "cache")))
    for other in encoded[1:]:
        for key in ("input_ids", "lengths", "target", "label"):
            assert torch.equal(other[key], encoded[0][key])
    first = encoded[0]
    assert first["input_ids"].shape[1] <= 32 and int(first["lengths"].max()) <= 32
    # ByT5: bytes + 3, then </s> (id 1)
    text = "sst2 sentence: " + rows[0]["sentence"]
    want = [b + 3 for b in text.encode()][:31] + [1]
    assert first["input_ids"][0, : first["lengths"][0]].tolist() == want
    assert first["target"].tolist() == [r["label"] for r in rows]


def test_tokenized_cache_is_reused(tmp_path):
    spec = TASKS["sst2"]
    tok = t5.build("tiny", 0)[1]
    _write_jsonl(tmp_path / "train.jsonl", _sst2_rows(20, 3))
    _write_jsonl(tmp_path / "validation.jsonl", _sst2_rows(10, 4))
    raw = data.load_raw(spec, data_dir=str(tmp_path), cache_dir=str(tmp_path / "hf"))
    cache = tmp_path / "cache"
    first = data.encode(spec, raw["train"], tok, 64, str(cache))
    files = list(cache.glob("sst2-*.pt"))
    assert len(files) == 1
    data._MEMO.clear()
    again = data.encode(spec, raw["train"], tok, 64, str(cache))  # read from disk
    assert torch.equal(again["input_ids"], first["input_ids"])
    assert data.encode(spec, raw["train"], tok, 64, str(cache)) is again  # in-process memo
    data.encode(spec, raw["train"], tok, 16, str(cache))
    assert len(list(cache.glob("sst2-*.pt"))) == 2  # max_length is part of the key


def test_clear_errors(sst2_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown GLUE task 'glue-nope'"):
        glue.train({"task": "glue-nope"}, print)
    with pytest.raises(ValueError, match="needs 'task'"):
        glue.train({"model": "tiny"}, print)
    bad = tmp_path / "bad"
    bad.mkdir()
    pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}).to_csv(bad / "train.csv", index=False)
    pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}).to_csv(bad / "validation.csv",
                                                                index=False)
    with pytest.raises(ValueError, match="missing column.*sentence"):
        glue.train({"task": "sst2", "data_dir": str(bad), "cache_dir": str(bad / "c")}, print)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="'cola'.*train, validation.*data_files"):
        glue.train({"task": "cola", "data_dir": str(empty)}, print)
    with pytest.raises(ValueError, match="schedule 'step'"):
        glue.train(_config(sst2_dir, schedule="step"), print)
    with pytest.raises(ValueError, match="grad_accum"):
        glue.train(_config(sst2_dir, grad_accum=3), print)
    with pytest.raises(ValueError, match="steps=10 disagrees"):
        glue.train(_config(sst2_dir, steps=10, epochs=3, eval_every=5), print)
    with pytest.raises(ValueError, match="beta7"):
        glue.train(_config(sst2_dir, steps=1, beta7=0.5), print)


def test_missing_hub_data_offline_is_one_clear_error(tmp_path, monkeypatch):
    import datasets
    import huggingface_hub

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError, match="'rte'.*nyu-mll/glue.*data_files"):
        glue.train({"task": "rte"}, print)


def test_block_view_groups_by_t5_blocks():
    net, _ = t5.build("tiny", 0)
    view = t5.block_view(net)
    parts = optim.groups.partition(view, "block")
    # shared embedding, 2 encoder blocks, encoder norm, 2 decoder blocks, decoder norm (tied head)
    assert len(parts) == 7
    assert {id(p) for part in parts for _, _, p in part} == {id(p) for p in net.parameters()}
    assert {id(p) for _, _, p in parts[1]} == {id(p) for p in net.encoder.block[0].parameters()}


@pytest.mark.parametrize("name", optim.names())
def test_every_optimizer_trains_t5(name, sst2_dir):
    torch.manual_seed(0)
    net, tok = t5.build("tiny", 0)
    before = [p.detach().clone() for p in net.parameters()]
    opt = optim.build(name, t5.block_view(net))
    ids = torch.tensor(tok(["sst2 sentence: good movie"])["input_ids"])
    labels = torch.tensor(tok(["positive"])["input_ids"])
    for _ in range(2):
        loss = net(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert math.isfinite(loss.item())
    changed = [not torch.equal(b, p) for b, p in zip(before, net.parameters())]
    assert all(changed), f"{name} left {changed.count(False)} T5 tensors unchanged"
    out = glue.train(_config(sst2_dir, optimizer=name, lr=1e-3, steps=2, eval_every=1,
                             n_train=32), lambda r: None)
    assert out["status"] == "ok" and math.isfinite(out["train_loss"])


def test_swa_averages_from_its_start_and_anneals_the_lr():
    from runners.glue.swa import SWA

    net, _ = t5.build("tiny", 0)
    opt = optim.build("swa", t5.block_view(net), lr=0.1, swa_start=0.5, swa_lr=0.02)
    swa = SWA(net, opt, steps=4, eval_every=2)
    assert swa.at_eval(net, 1) is net and not swa.step_lr(2)
    first = [p.detach().clone() for p in net.parameters()]
    assert swa.at_eval(net, 2) is swa.model.module  # the start step: first average
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    assert swa.step_lr(3) and opt.param_groups[0]["lr"] == pytest.approx(0.1)
    opt.step()  # no gradients: a no-op, as schedulers expect a step between theirs
    assert swa.step_lr(4)
    # cosine annealing over one eval interval (2 steps), half way: alpha = (1 - cos(pi/2)) / 2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * 0.02 + 0.5 * 0.1)
    averaged = swa.at_eval(net, 4)
    for a, f in zip(averaged.parameters(), first):
        torch.testing.assert_close(a, f + 0.5)


def test_paper_scores_cover_table_3():
    assert set(glue.PAPER_SCORES) == {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli_m", "mnli_mm", "qnli", "rte"}
    assert all(set(row) == {"adamw", "lion", "sepnorm", "ortsepnorm"} for row in glue.PAPER_SCORES.values())


@pytest.fixture(scope="module")
def rte_dir(tmp_path_factory):
    """RTE layout: its label words ("entailment", "not_entailment") differ in token count."""
    d = tmp_path_factory.mktemp("rte")
    for name, n, seed in (("train", 200, 0), ("validation", 60, 1)):
        rows = [{"sentence1": r["sentence"], "sentence2": "it was good", "label": 1 - r["label"], "idx": r["idx"]}
                for r in _sst2_rows(n, seed)]
        _write_jsonl(d / f"{name}.jsonl", rows)
    return d


@pytest.mark.parametrize("task", ["sst2", "rte"])
def test_grad_accum_matches_one_big_batch(task, sst2_dir, rte_dir):
    """Two micro-batches train as one batch: the loss is the mean over the batch's target tokens,
    also where label words differ in length (RTE), so the searched batch size means the same on
    any machine."""
    d = {"sst2": sst2_dir, "rte": rte_dir}[task]
    runs = [glue.train(_config(d, task=f"glue-{task}", steps=3, eval_every=3, grad_accum=k), lambda r: None)
            for k in (1, 2)]
    assert runs[1]["train_loss"] == pytest.approx(runs[0]["train_loss"], rel=1e-4)
    assert runs[1]["score"] == runs[0]["score"]


def test_lr_schedules_by_hand():
    from runners.glue.loop import _lr_lambda

    lin, cos, const = (_lr_lambda(k, 2, 6) for k in ("linear", "cosine", "constant"))
    assert [lin(i) for i in (0, 1, 2, 4, 6)] == [0.5, 1.0, 1.0, 0.5, 0.0]
    assert cos(4) == pytest.approx(0.5) and cos(6) == pytest.approx(0.0)
    assert [const(i) for i in (0, 1, 5)] == [0.5, 1.0, 1.0]


def _sentencepiece_t5(d, corpus):
    """A local T5 checkpoint with the real T5 tokenizer class (SentencePiece trained in memory)."""
    import io

    import sentencepiece as spm
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=buf,
                                   vocab_size=64, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   hard_vocab_limit=False, minloglevel=2)
    d.mkdir()
    (d / "spiece.model").write_bytes(buf.getvalue())
    tok = T5Tokenizer.from_pretrained(str(d), extra_ids=0)
    cfg = T5Config(vocab_size=len(tok), decoder_start_token_id=0, **t5.TINY)
    T5ForConditionalGeneration(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return tok


def test_local_t5_directory_with_its_sentencepiece_tokenizer(sst2_dir, tmp_path):
    corpus = [f"sst2 sentence: {r['sentence']} positive negative" for r in _sst2_rows(200, 5)]
    tok = _sentencepiece_t5(tmp_path / "m", corpus)
    net, tok2 = t5.build(str(tmp_path / "m"), 1)
    assert type(tok2).__name__.startswith("T5Tokenizer") and len(tok2) == len(tok)
    targets = data.encode_targets(TASKS["sst2"], tok2)
    for row, word in zip(targets.tolist(), ("negative", "positive")):
        ids = tok2(word)["input_ids"]
        assert ids[-1] == tok2.eos_token_id and row == ids + [-100] * (len(row) - len(ids))
    out = glue.train(_config(sst2_dir, model=str(tmp_path / "m"), steps=2, eval_every=1,
                             cache_dir=str(tmp_path / "c")), lambda r: None)
    assert out["status"] == "ok" and math.isfinite(out["train_loss"])


def test_bad_model_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="model '.*empty'.*config.json"):
        t5.build(str(tmp_path / "empty"), 0)


def test_rank_scores_are_sequence_log_likelihoods():
    net, tok = t5.build("tiny", 3)
    net.eval()
    targets = data.encode_targets(TASKS["mnli"], tok)  # 3 targets of different lengths
    texts = ["mnli hypothesis: a premise: b", "mnli hypothesis: longer one premise: c d"]
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        scores = t5.rank_scores(net, enc["input_ids"], enc["attention_mask"], targets)
        for i, text in enumerate(texts):
            ids = tok([text], return_tensors="pt")["input_ids"]  # unpadded
            for c in range(3):
                labels = targets[c: c + 1]
                n = int(labels.ne(-100).sum())
                want = -net(input_ids=ids, labels=labels[:, :n]).loss * n
                torch.testing.assert_close(scores[i, c], want, rtol=1e-5, atol=1e-5)


def test_eval_count_is_exact_and_tune_trials_skip_the_test(sst2_dir):
    reports = []
    out = glue.train(_config(sst2_dir, steps=10, epochs=3, n_train=64, phase="tune"),
                     reports.append)
    assert [r["step"] for r in reports] == [4, 7, 10]  # 3 evals, the last at the last step
    assert out["epochs_done"] == 3 and out["steps"] == 10
    assert math.isnan(out["test_score"]) and not [k for k in out if k.startswith("test_")
                                                   and k != "test_score"]
    assert out["score"] == reports[-1]["score"]
    from runners.glue.loop import _eval_schedule

    assert _eval_schedule(10, None, 4) == (10, (4, 8, 10))
    assert _eval_schedule(None, 3, 5) == (15, (5, 10, 15))
    assert _eval_schedule(7, 10, None) == (7, tuple(range(1, 8)))  # never more evals than steps


def test_checkpoint_every_k_evals_and_none_at_the_end(sst2_dir, tmp_path):
    ck = tmp_path / "ck"
    seen = []

    def report(row):  # as the Ray adapter does: hand over what the runner wrote, then drop it
        saved = checkpoint.load(str(ck))
        seen.append((row["epoch"], saved["state"]["epoch"] if saved else None))

    glue.train(_config(sst2_dir, steps=8, epochs=4, n_train=64, checkpoint_every=2,
                       _checkpoint_dir=str(ck)), report)
    assert seen == [(1, None), (2, 2), (3, None), (4, None)]  # every 2nd eval, not at the last


def test_optimizer_state_is_saved_in_the_parameter_dtype():
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.bfloat16))
    opt = torch.optim.Adam([p])
    p.grad = torch.ones_like(p)
    opt.step()
    opt.state[p]["exp_avg"] = opt.state[p]["exp_avg"].float()  # an optimizer keeping wider state
    sd = checkpoint.compact_optimizer_state(opt)
    st = sd["state"][0]
    assert st["exp_avg"].dtype == st["exp_avg_sq"].dtype == torch.bfloat16
    assert st["step"].dtype == torch.float32 and float(st["step"]) == 1.0  # scalars untouched
    assert opt.state[p]["exp_avg"].dtype == torch.float32  # the live state is not changed
    fresh = torch.optim.Adam([torch.nn.Parameter(torch.ones(3, dtype=torch.bfloat16))])
    fresh.load_state_dict(sd)
    torch.testing.assert_close(next(iter(fresh.state.values()))["exp_avg"],
                               opt.state[p]["exp_avg"].bfloat16())


def test_truncation_keeps_the_second_segment():
    spec = TASKS["rte"]
    tok = t5.build("tiny", 0)[1]
    long_row = {"sentence1": "premise words " * 40, "sentence2": "the short hypothesis", "label": 0}
    short_row = {"sentence1": "a cat", "sentence2": "an animal", "label": 1}
    import datasets

    ds = datasets.Dataset.from_list([long_row, short_row])
    enc = data.encode(spec, ds, tok, 96)
    assert enc["truncated"].tolist() == [True, False]
    assert enc["lengths"].tolist()[0] == 96
    text = tok.decode(enc["input_ids"][0, :96], skip_special_tokens=True)
    assert text.startswith("rte sentence1: premise words") and text.endswith(
        " sentence2: the short hypothesis")
    plain = tok(format_input(spec, short_row))["input_ids"]  # a row that fits: the paper's string
    assert enc["input_ids"][1, : enc["lengths"][1]].tolist() == plain
    both_long = {"sentence1": "x" * 200, "sentence2": "y" * 200}  # equal cuts, both kept
    text = tok.decode(data.fit_fields(spec, both_long, tok, 96), skip_special_tokens=True)
    assert text.count("x") == text.count("y") > 20


def test_bf16_checkpoint_loads_in_float32(tmp_path):
    from transformers import ByT5Tokenizer

    net, _ = t5.build("tiny", 0)
    net.to(torch.bfloat16).save_pretrained(tmp_path / "m")
    ByT5Tokenizer().save_pretrained(tmp_path / "m")
    loaded, _ = t5.build(str(tmp_path / "m"), 0)
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    assert t5.HUB_NAMES["t5-v1_1-base"] == "google/t5-v1_1-base"


def test_dev_split_selects_on_one_half_and_tests_on_the_other(sst2_dir):
    from runners.glue.loop import _prepare, _settings

    tok = t5.build("tiny", 0)[1]
    s, spec, _ = _settings(_config(sst2_dir, selection="dev-split"))
    train, sets = _prepare(spec, s, tok)
    select, test = sets["select"]["validation"], sets["test"]["validation"]
    assert len(train["target"]) == 600 and len(select["target"]) == len(test["target"]) == 60
    rows = {tuple(r.tolist()) for r in select["input_ids"]}  # the halves are disjoint rows of dev
    assert not rows & {tuple(r.tolist()) for r in test["input_ids"]}
    out = glue.train(_config(sst2_dir, selection="dev-split", steps=2, epochs=1, n_train=32),
                     lambda r: None)
    assert out["status"] == "ok" and "test_acc" in out and out["truncated_train"] == 0
    with pytest.raises(ValueError, match="selection 'dev'"):
        glue.train(_config(sst2_dir, selection="dev"), print)
