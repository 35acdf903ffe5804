"""Test-wide settings: one intra-op thread (the tiny models gain nothing from more on 2 shared
cores), the device the device-aware tests run on (``--device cuda`` or ``STUDY_TEST_DEVICE``) and
the backend of the compiled optimizer steps."""
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
    import optim._common

    # Compiled optimizer steps: inductor's C++ code generation costs minutes per process on a small
    # CPU, so CPU runs capture the same graphs with aot_eager; ThermoLion's compiled reference tests
    # keep inductor (tests/test_optim_reference.py), and so does a CUDA run.
    optim._common.COMPILE_BACKEND = os.environ.get(
        "STUDY_TEST_COMPILE_BACKEND", "inductor" if device.startswith("cuda") else "aot_eager")
