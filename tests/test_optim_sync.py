"""No optimizer step reads a device value on the host (a host sync stalls the GPU's queue).

On CUDA (``pytest --device cuda``) every step runs under ``torch.cuda.set_sync_debug_mode("error")``,
which raises on any synchronizing call. Elsewhere the same steps run on the ``meta`` device, whose
tensors have no data: ``.item()``, ``.tolist()``, ``bool(t)`` or a copy to the host raise there too,
so the check also runs (and can fail) on a CPU-only machine.
"""

import contextlib

import pytest
import torch
from torch import nn

import optim
from devices import TEST_DEVICE

CHECK_DEVICE = TEST_DEVICE if TEST_DEVICE.startswith("cuda") else "meta"


def small_net() -> nn.Module:
    """Conv + BatchNorm + linear: matrices, filters, vectors and scalars-per-channel, as the study's models."""
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 16), nn.LayerNorm(16), nn.Linear(16, 10))


@contextlib.contextmanager
def sync_is_an_error():
    if CHECK_DEVICE.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode("default")
    else:
        yield


def fill_grads(model: nn.Module, gen_seed: int) -> None:
    for i, p in enumerate(model.parameters()):
        if CHECK_DEVICE == "meta":
            p.grad = torch.empty_like(p)
        else:
            g = torch.Generator(device=p.device).manual_seed(gen_seed * 100 + i)
            p.grad = torch.randn(p.shape, generator=g, device=p.device)


@pytest.mark.parametrize("name", optim.names())
def test_step_makes_no_host_sync(name):
    if name == "swats" and CHECK_DEVICE == "meta":
        pytest.skip("SWATS reads its switch decision a step late through an asynchronous copy, which "
                    "meta tensors cannot make; test_optim_fidelity counts its host reads on the CPU")
    torch.manual_seed(0)
    model = small_net().to(CHECK_DEVICE)
    opt = optim.build(name, model, lr=1e-3, weight_decay=0.1)
    for step in range(6):  # the first step (lazy state) and later ones (e.g. SWATS's switch test)
        fill_grads(model, step)
        with sync_is_an_error():
            opt.step()
            opt.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", optim.registry.COMPILED)
def test_compiled_step_makes_no_host_sync(name, monkeypatch):
    """``compiled=True``: the host code around the graph and the multi-tensor function with its
    hyperparameters as 0-d device tensors. Meta tensors cannot be compiled, so there the function
    runs as it is (a data-dependent branch on a hyperparameter would raise); on CUDA it is compiled,
    in ``warm_up`` before the checked steps."""
    if CHECK_DEVICE == "meta":
        for module in (optim.lion, optim.sepnorm, optim.thermolion):
            monkeypatch.setattr(module, "compiled", lambda fn: fn)
    torch.manual_seed(0)
    model = small_net().to(CHECK_DEVICE)
    opt = optim.build(name, model, compiled=True, lr=1e-3, weight_decay=0.1)
    opt.warm_up(steps=6)
    for step in range(6):
        fill_grads(model, step)
        with sync_is_an_error():
            opt.step()
            opt.zero_grad(set_to_none=True)
