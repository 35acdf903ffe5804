"""One intra-op thread per test process: the tiny models gain nothing from more on 2 shared cores."""
import torch

torch.set_num_threads(1)
