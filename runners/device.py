"""The device a trial ran on, for the records: time per step is comparable only on the same kind."""
from __future__ import annotations

import platform

import torch


def describe(device: torch.device | str) -> dict[str, str]:
    """{"device_kind": "cuda" | "cpu" | ..., "device_name": e.g. "NVIDIA H100 80GB HBM3" or the CPU's name}."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine() or device.type
    return {"device_kind": device.type, "device_name": name}
