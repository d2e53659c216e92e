"""Helpers the tests share for building models with non-trivial parameters."""

import torch


def randomize_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm non-trivial statistics, including negative scales (flipped channels)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = module.num_features
            module.running_mean.data = torch.randn(n, generator=generator) * 3
            module.running_var.data = torch.rand(n, generator=generator) * 5 + 0.5
            module.weight.data = torch.randn(n, generator=generator)  # about half negative
            module.bias.data = torch.randn(n, generator=generator)
    return model.eval()
