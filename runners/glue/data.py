"""GLUE data: raw splits from the Hub or local files, tokenized once into a disk cache.

Sources, in order of precedence:

* ``data_files``: ``{split: path or [paths]}`` in GLUE's column layout (the Hub's: text columns
  named as in ``tasks.TASKS`` plus ``label``), as CSV, TSV, JSON lines or parquet;
* ``data_dir``: a directory holding ``<split>.<ext>`` or ``<split>-*.parquet`` files, directly or
  under ``<data_dir>/<task>/`` (a snapshot of the ``nyu-mll/glue`` repository works as it is);
* neither: ``datasets.load_dataset("nyu-mll/glue", task)``, which uses the Hugging Face cache.

Tokenized splits are cached as torch tensors under ``cache_dir`` (default ``$GLUE_CACHE_DIR`` or
``~/.cache/optimizer-study/glue``), keyed by the dataset fingerprint, the tokenizer and
``max_length``: the first trial tokenizes, every later trial on that machine loads the tensors.

Truncation keeps every segment: an input longer than ``max_length`` tokens is shortened by
cutting its longest text field first (the "longest_first" rule of pair truncation in BERT and
Hugging Face tokenizers), so RTE's or QNLI's second sentence is never dropped the way cutting
the whole string from the right would drop it. Examples that fit are tokenized exactly as the
T5 paper's input string; the ``truncated`` flag counts those that did not.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from .tasks import TaskSpec, format_input, label_class

_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json",
             ".parquet": "parquet"}
_CACHE_VERSION = 2
_MEMO: dict[str, dict[str, torch.Tensor]] = {}


def _how_to(spec: TaskSpec) -> str:
    splits = ", ".join(("train",) + spec.eval_splits)
    return (f"provide it with config 'data_files' ({{split: path}} for splits {splits}; CSV/TSV/"
            f"JSON lines/parquet with columns {', '.join(spec.columns)}, label) or 'data_dir' (a "
            f"directory with <split>.<ext> files), or download nyu-mll/glue ({spec.name}) into "
            "the Hugging Face cache while online")


def _files_in_dir(spec: TaskSpec, data_dir: str) -> dict[str, list[str]]:
    """``{split: [files]}`` found in ``data_dir`` or ``data_dir/<task>``."""
    found: dict[str, list[str]] = {}
    for root in (Path(data_dir) / spec.name, Path(data_dir)):
        for split in ("train",) + spec.eval_splits:
            if split in found:
                continue
            hits = [root / f"{split}{ext}" for ext in _BUILDERS]
            hits = [h for h in hits if h.is_file()][:1] or sorted(root.glob(f"{split}-*.parquet"))
            if hits:
                found[split] = [str(h) for h in hits]
    return found


def _load_files(spec: TaskSpec, files: dict, cache_dir: str | None) -> dict:
    import datasets

    need = ("train",) + spec.eval_splits
    missing = [s for s in need if s not in files]
    if missing:
        raise FileNotFoundError(
            f"GLUE task {spec.name!r}: no data for split(s) {', '.join(missing)}; {_how_to(spec)}")
    files = {s: [str(p) for p in ([files[s]] if isinstance(files[s], (str, Path)) else files[s])]
             for s in need}
    exts = {Path(p).suffix.lower() for ps in files.values() for p in ps}
    builders = {_BUILDERS.get(e) for e in exts}
    if None in builders or len(builders) != 1:
        raise ValueError(f"GLUE task {spec.name!r}: data files must all be one of "
                         f"{', '.join(_BUILDERS)}, got extensions {sorted(exts)}")
    for p in (p for ps in files.values() for p in ps):
        if not Path(p).is_file():
            raise FileNotFoundError(f"GLUE task {spec.name!r}: data file {p} does not exist")
    kwargs = {"delimiter": "\t"} if exts == {".tsv"} else {}
    if cache_dir:  # keep the Arrow conversion next to our own cache, not in ~/.cache
        kwargs["cache_dir"] = str(Path(cache_dir) / "hf-datasets")
    return dict(datasets.load_dataset(builders.pop(), data_files=files, **kwargs))


def load_raw(spec: TaskSpec, data_dir: str | None = None, data_files: dict | None = None,
             cache_dir: str | None = None) -> dict:
    """``{split: datasets.Dataset}`` for ``train`` and the task's validation split(s)."""
    if data_files:
        raw = _load_files(spec, data_files, cache_dir)
    elif data_dir:
        raw = _load_files(spec, _files_in_dir(spec, data_dir), cache_dir)
    else:
        import datasets

        try:
            raw = dict(datasets.load_dataset("nyu-mll/glue", spec.name))
        except Exception as exc:  # offline with no cache, hub errors: one actionable message
            raise FileNotFoundError(
                f"GLUE task {spec.name!r}: could not load nyu-mll/glue ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); {_how_to(spec)}") from None
    for split in ("train",) + spec.eval_splits:
        cols = set(raw[split].column_names)
        missing = [c for c in spec.columns + ("label",) if c not in cols]
        if missing:
            raise ValueError(f"GLUE task {spec.name!r}, split {split!r}: missing column(s) "
                             f"{', '.join(missing)} (has {', '.join(sorted(cols))})")
    return raw


def _tokenizer_id(tokenizer) -> str:
    probe = tokenizer("probe: Ünïcode 123 sentence1 entailment")["input_ids"]
    return f"{type(tokenizer).__name__}|{tokenizer.name_or_path}|{len(tokenizer)}|{probe}"


def encode(spec: TaskSpec, ds, tokenizer, max_length: int, cache_dir: str | None = None
           ) -> dict[str, torch.Tensor]:
    """Tokenize one split into CPU tensors, through the disk cache.

    Returns ``input_ids`` (N, L) int32 right-padded with the pad id (L: the longest row; batches
    are cropped to their own longest row), ``lengths`` (N,) int64, ``target`` (N,) int64 (index
    into the label words), ``label`` (N,) float64 (the raw label, for the metrics) and
    ``truncated`` (N,) bool (the row was cut to ``max_length``).
    """
    key = hashlib.sha256(
        f"{_CACHE_VERSION}|{spec.name}|{ds._fingerprint}|{_tokenizer_id(tokenizer)}|{max_length}"
        .encode()).hexdigest()[:24]
    if key in _MEMO:
        return _MEMO[key]
    root = Path(cache_dir or os.environ.get("GLUE_CACHE_DIR")
                or Path.home() / ".cache" / "optimizer-study" / "glue")
    path = root / f"{spec.name}-{key}.pt"
    if path.is_file():
        out = torch.load(path, weights_only=True)
    else:
        out = _tokenize(spec, ds, tokenizer, max_length)
        root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(out, tmp)
        os.replace(tmp, path)  # atomic: concurrent trials never read a partial file
    _MEMO[key] = out
    return out


def _tokenize(spec: TaskSpec, ds, tokenizer, max_length: int) -> dict[str, torch.Tensor]:
    labels = [float(x) for x in ds["label"]]
    if not spec.regression:
        bad = sorted({x for x in labels if x not in range(spec.n_classes)})
        if bad:
            raise ValueError(f"GLUE task {spec.name!r}: labels must be class ids 0.."
                             f"{spec.n_classes - 1}, found {bad[:5]}")
    rows = [dict(zip(spec.columns, vals)) for vals in zip(*(ds[c] for c in spec.columns))]
    ids = tokenizer([format_input(spec, r) for r in rows])["input_ids"]
    truncated = [len(x) > max_length for x in ids]
    for i in (i for i, cut in enumerate(truncated) if cut):
        ids[i] = fit_fields(spec, rows[i], tokenizer, max_length)
    lengths = torch.tensor([len(x) for x in ids], dtype=torch.int64)
    input_ids = torch.full((len(ids), int(lengths.max())), tokenizer.pad_token_id,
                           dtype=torch.int32)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.int32)
    return {
        "input_ids": input_ids,
        "lengths": lengths,
        "target": torch.tensor([label_class(spec, x) for x in labels], dtype=torch.int64),
        "label": torch.tensor(labels, dtype=torch.float64),
        "truncated": torch.tensor(truncated, dtype=torch.bool),
    }


def fit_fields(spec: TaskSpec, row: dict, tokenizer, max_length: int) -> list[int]:
    """The input ids of ``row`` in at most ``max_length`` tokens, cutting the longest text field
    first (by its own token count) until the whole input fits; only when the task prefix and
    field names alone are too long is the input cut from the right."""
    fields = {c: str(row[c]) for c in spec.columns}
    pieces = {c: tokenizer(fields[c], add_special_tokens=False)["input_ids"] for c in fields}
    while True:
        ids = tokenizer(format_input(spec, fields))["input_ids"]
        excess = len(ids) - max_length
        if excess <= 0:
            return ids
        longest = max(pieces, key=lambda c: len(pieces[c]))
        if not pieces[longest]:
            return ids[: max_length - 1] + ids[-1:]  # keep the closing </s>
        n = len(pieces[longest])
        tied = sum(len(v) == n for v in pieces.values())
        others = max([len(v) for v in pieces.values() if len(v) < n], default=0)
        # by the excess or down to the runner-up, whichever cuts less; tied fields share the cut
        keep = n - -(-excess // tied) if tied > 1 else max(n - excess, others)
        keep = max(0, min(keep, n - 1))
        pieces[longest] = pieces[longest][:keep]
        fields[longest] = tokenizer.decode(pieces[longest], skip_special_tokens=True)


def encode_targets(spec: TaskSpec, tokenizer) -> torch.Tensor:
    """The label words tokenized as decoder targets: (n_classes, Lt) int64, padded with -100."""
    ids = tokenizer(list(spec.label_words))["input_ids"]
    out = torch.full((len(ids), max(map(len, ids))), -100, dtype=torch.int64)
    for i, x in enumerate(ids):
        out[i, : len(x)] = torch.tensor(x)
    return out


def subset(data: dict[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rows ``idx`` of every tensor of a tokenized split."""
    return {k: v[idx] for k, v in data.items()}


def holdout(n: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train_idx, val_idx): a fixed (seed-independent) split of the training set, so that every
    trial of a study selects on the same held-out examples."""
    if not 0 < n_val < n:
        raise ValueError(f"n_val must be in 1..{n - 1} for a training set of {n}, got {n_val}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return perm[n_val:], perm[:n_val]
