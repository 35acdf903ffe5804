"""AdaBelief (Zhuang et al., NeurIPS 2020): Adam whose second moment tracks the gradient's
deviation from its mean, (g - m)^2, instead of g^2: large steps where the gradient is as
expected, small ones where it surprises. Decoupled weight decay, bias-corrected."""
import torch


class AdaBelief(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"], state["s"] = torch.zeros_like(p), torch.zeros_like(p)
                state["step"] += 1
                m, s, g = state["m"], state["s"], p.grad
                m.lerp_(g, 1 - beta1)
                s.mul_(beta2).addcmul_(g - m, g - m, value=1 - beta2).add_(group["eps"])
                p.mul_(1 - group["lr"] * group["weight_decay"])
                m_hat = m / (1 - beta1 ** state["step"])
                s_hat = s / (1 - beta2 ** state["step"])
                p.addcdiv_(m_hat, s_hat.sqrt().add_(group["eps"]), value=-group["lr"])
        return loss
