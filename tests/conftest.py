"""Test-wide settings: one intra-op thread (the tiny models gain nothing from more on 2 shared
cores) and the device the device-aware tests run on (``--device cuda`` or ``STUDY_TEST_DEVICE``)."""
import os

import pytest
import torch

torch.set_num_threads(1)


def pytest_addoption(parser):
    parser.addoption("--device", default=os.environ.get("STUDY_TEST_DEVICE", "cpu"),
                     help="device for the optimizer/vision tests (cpu, cuda); GLUE tests use auto")


def pytest_configure(config):
    device = config.getoption("--device")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise pytest.UsageError(f"--device {device}: CUDA is not available on this machine")
    os.environ["STUDY_TEST_DEVICE"] = device
