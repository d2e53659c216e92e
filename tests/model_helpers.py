"""Helpers the tests share for building models with non-trivial parameters."""

import json
from pathlib import Path

import numpy as np
import torch


def take_sgd_steps(model: torch.nn.Module, batches) -> torch.nn.Module:
    """One SGD step (lr 0.05) per batch of images, labels 0..9 in turn: weights moved off their init."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for images in batches:
        loss = torch.nn.functional.cross_entropy(model(images), torch.arange(len(images)) % 10)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


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


def tiny_hw_build(folder: Path):
    """What 'hw-bnn build' leaves for a tiny MLP (16-16, random BatchNorm, 200 cycles per frame):
    export.onnx, hw_graph.onnx, folding.json, the RTL (rtl/) with its FIFOs sized by simulation on random
    images (the default ``build.fifo_sizing``) and that sizing in report.json, in ``folder``; returns the
    HW graph."""
    from hw_bnn.compiler import compile_model, read_folding
    from hw_bnn.config import BuildConfig, load_config
    from hw_bnn.export import export_model
    from hw_bnn.flow import stitch_design
    from hw_bnn.models.mlp import BinaryMLP

    model = randomize_batchnorm(BinaryMLP(hidden=(16, 16)), seed=3)
    graph = export_model(model, (1, 28, 28), folder / "export.onnx")
    hw = compile_model(graph, BuildConfig(target_cycles_per_frame=200))
    hw.save(str(folder / "hw_graph.onnx"))
    (folder / "folding.json").write_text(json.dumps(read_folding(hw)))
    images = np.random.default_rng(0).integers(0, 256, (4, 1, 28, 28)).astype(np.uint8)
    stitch_design(load_config(None), folder, hw, images, progress=lambda message: None)
    return hw
