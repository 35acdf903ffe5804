"""SWA for the GLUE runner, with torch.optim.swa_utils.

``optim.build("swa", ...)`` returns the base optimizer with ``opt.swa = {"start", "lr"}``; here
``start`` is a fraction of the steps. From that step on, SWALR anneals the lr to ``swa_lr``
(cosine, over one eval interval) instead of the run's schedule, and the weights are averaged at
every eval; evals and the final test use the average. T5 has no BatchNorm: no ``update_bn``.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import SWALR, AveragedModel


class SWA:
    def __init__(self, net: torch.nn.Module, opt: torch.optim.Optimizer, steps: int,
                 eval_every: int):
        self.start = int(opt.swa["start"] * steps)
        self.lr, self.anneal, self.opt = opt.swa["lr"], eval_every, opt
        self.model = AveragedModel(net)
        self.sched: SWALR | None = None

    def step_lr(self, step: int) -> bool:
        """After optimizer step ``step``: True when SWA sets the lr (then the run's schedule
        must not)."""
        if step <= self.start:
            return False
        if self.sched is None:  # its construction is its first step (t = 0: lr unchanged)
            self.sched = SWALR(self.opt, swa_lr=self.lr, anneal_epochs=self.anneal,
                               anneal_strategy="cos")
        else:
            self.sched.step()
        return True

    def at_eval(self, net: torch.nn.Module, step: int) -> torch.nn.Module:
        """Average ``net`` in once the start is reached; the model to evaluate."""
        if step < self.start:
            return net
        self.model.update_parameters(net)
        return self.model.module

    def evaluated(self, net: torch.nn.Module) -> torch.nn.Module:
        return self.model.module if int(self.model.n_averaged) else net

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(),
                "sched": self.sched.state_dict() if self.sched else None}

    def load_state_dict(self, st: dict) -> None:
        self.model.load_state_dict(st["model"])
        if st["sched"] is not None:
            self.sched = SWALR(self.opt, swa_lr=self.lr, anneal_epochs=self.anneal,
                               anneal_strategy="cos")
            self.sched.load_state_dict(st["sched"])
