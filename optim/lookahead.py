"""Lookahead (Zhang et al. 2019): wraps any optimizer; every k inner steps the fast weights are
pulled toward slow weights, ``p = slow + alpha*(p - slow); slow = p``.

Evaluation uses the current (fast) weights, as the runner sees them after ``step``; the slow
weights are only the anchor of the next pull. The state_dict carries the inner optimizer's state,
the slow weights and the step counter, so a resumed run continues bit-exactly. ``param_groups`` is
always the inner optimizer's list (also after ``load_state_dict``, which replaces that list), so LR
schedulers built on the wrapper keep acting on the inner optimizer.

``NotebookLookahead`` is the ThermoLion notebook's variant (ahmednebli/ThermoLion,
ThermoLion_benchmarks.ipynb): it takes the slow copy after the first fast step of each cycle, so
each pull covers k-1 inner steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class Lookahead(torch.optim.Optimizer):
    """Lookahead around ``optimizer``; shares its param_groups (so LR schedulers act on the inner).

    State: one slow copy per parameter (taken at construction), plus the inner optimizer's.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        if not (isinstance(k, int) and k >= 1):
            raise ValueError(f"invalid k {k!r}: must be an integer >= 1")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"invalid alpha {alpha!r}: must be in [0, 1]")
        self.k, self.alpha, self.counter = k, alpha, 0
        super().__init__(optimizer.param_groups, {})
        self.optimizer = optimizer
        self.defaults = optimizer.defaults
        self._slow: dict[torch.Tensor, torch.Tensor] = {}
        self._init_slow()

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The inner optimizer's param_groups (read through, never a stale copy)."""
        return self.optimizer.param_groups

    @param_groups.setter
    def param_groups(self, groups: list[dict[str, Any]]) -> None:
        # torch's Optimizer.__init__ assigns [] before the inner optimizer is attached: ignored.
        if "optimizer" in self.__dict__:
            self.optimizer.param_groups = groups

    def _init_slow(self) -> None:
        for p in self._params():
            if p not in self._slow:
                self._slow[p] = p.detach().clone()

    def _params(self) -> list[torch.Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to the inner optimizer and take its slow copies now."""
        if "optimizer" not in self.__dict__:  # called by Optimizer.__init__: groups are the inner's
            return
        self.optimizer.add_param_group(param_group)
        self._init_slow()

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One inner step; every k-th step also the slow-weight pull."""
        loss = self.optimizer.step(closure)
        self.counter += 1
        if self.counter % self.k == 0:
            self._pull()
        return loss

    def _pull(self) -> None:
        """Fast weights to ``slow + alpha*(fast - slow)``, then slow = fast."""
        params = self._params()
        slow = [self._slow[p] for p in params]
        torch._foreach_lerp_(params, slow, 1.0 - self.alpha)
        torch._foreach_copy_(slow, params)

    def state_dict(self) -> dict[str, Any]:
        """Inner state, slow weights (in param_groups order), counter, k and alpha."""
        return {
            "inner": self.optimizer.state_dict(),
            "slow": [self._slow[p].clone() for p in self._params()],
            "counter": self.counter,
            "k": self.k,
            "alpha": self.alpha,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (same parameters in the same order)."""
        params = self._params()
        if len(state_dict["slow"]) != len(params):
            raise ValueError(
                f"Lookahead state has {len(state_dict['slow'])} slow weights, "
                f"the optimizer has {len(params)} parameters"
            )
        self.optimizer.load_state_dict(state_dict["inner"])
        for p, s in zip(params, state_dict["slow"]):
            self._slow[p] = s.to(device=p.device, dtype=p.dtype).clone()
        self.counter, self.k, self.alpha = state_dict["counter"], state_dict["k"], state_dict["alpha"]


class NotebookLookahead(Lookahead):
    """The ThermoLion notebook's Lookahead (registered ``lookahead_paper``): the slow copy is taken
    after the first inner step of each cycle of k, so each pull spans k-1 inner steps.

    Same state and state_dict as Lookahead; ``counter`` counts the steps of the current cycle.
    """

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """One inner step; the slow copy after the first of a cycle, the pull after its k-th."""
        loss = self.optimizer.step(closure)
        if self.counter == 0:
            params = self._params()
            torch._foreach_copy_([self._slow[p] for p in params], params)
        self.counter += 1
        if self.counter >= self.k:
            self.counter = 0
            params = self._params()
            slow = [self._slow[p] for p in params]
            torch._foreach_sub_(params, slow)  # the notebook's arithmetic, to the last bit
            torch._foreach_mul_(params, self.alpha)
            torch._foreach_add_(params, slow)
            torch._foreach_copy_(slow, params)
        return loss
