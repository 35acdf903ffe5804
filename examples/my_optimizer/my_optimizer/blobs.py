"""`blobs`: a small generated vision task (no download): 16x16 one-channel images of a Gaussian
blob in one of four quadrants, plus noise; the label is the quadrant."""
import torch


def blobs(n_train: int = 800, n_test: int = 200, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    y = torch.randint(0, 4, (n,), generator=gen)
    grid = torch.arange(16, dtype=torch.float32)
    cy = 4.0 + 8.0 * (y // 2) + torch.randn(n, generator=gen)
    cx = 4.0 + 8.0 * (y % 2) + torch.randn(n, generator=gen)
    blob = torch.exp(-((grid[None, :, None] - cy[:, None, None]) ** 2
                       + (grid[None, None, :] - cx[:, None, None]) ** 2) / 8.0)
    x = (0.7 * blob + 0.3 * torch.rand(n, 16, 16, generator=gen)).clamp(0, 1)[:, None]
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
