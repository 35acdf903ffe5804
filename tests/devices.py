"""The device the device-aware tests run on: ``pytest --device cuda`` (conftest) or ``STUDY_TEST_DEVICE``."""
import os

TEST_DEVICE = os.environ.get("STUDY_TEST_DEVICE", "cpu")
