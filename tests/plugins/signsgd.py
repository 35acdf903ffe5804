"""A file plugin for the tests: signSGD with momentum (Bernstein et al. 2018, "signum"), and a
copy that fails inside step() on models larger than the preflight's tiny one (``flaky``)."""
import torch

from study.plugins import register_optimizer

CALLS = []  # (param group keys and sizes, hyperparameters) of each make(), for the contract test


class Signum(torch.optim.Optimizer):
    def __init__(self, params, lr, momentum, weight_decay, fail_above=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))
        self.fail_above = fail_above

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if self.fail_above is not None and p.numel() > self.fail_above:
                    raise FloatingPointError(f"flaky: a {p.numel()}-element tensor")
                if p.grad is None:
                    continue
                buf = self.state[p].setdefault("m", torch.zeros_like(p))
                buf.lerp_(p.grad, 1 - group["momentum"])
                p.mul_(1 - group["lr"] * group["weight_decay"]).add_(buf.sign(), alpha=-group["lr"])


def make(params, **hp):
    CALLS.append(([(sorted(g), len(g["params"]), g["weight_decay"]) for g in params], dict(hp)))
    return Signum(params, **hp)


SPACE = {"lr": {"low": 1e-5, "high": 1e-2}, "weight_decay": {"choices": [0.0, 0.1]},
         "momentum": {"low": 0.5, "high": 0.99, "log": False}}
register_optimizer("signsgd", make, SPACE, default={"lr": 1e-3, "weight_decay": 0.0, "momentum": 0.9},
                   paper={"lr": 3e-4, "weight_decay": 0.0, "momentum": 0.9, "batch_size": 256})
register_optimizer("flaky", lambda params, **hp: Signum(params, fail_above=10_000, **hp), SPACE,
                   default={"lr": 1e-3, "weight_decay": 0.0, "momentum": 0.9})
