"""Host-side processing around the board: images -> input beats, output beats -> model outputs.

The graph's host parts (input layout nodes before the dataflow partition, the output
affine after it) run here in Python, as in :func:`hw_bnn.design.sim.simulate`; the partition
runs on the board, reached through :class:`hw_bnn.board.protocol.Client`.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from hw_bnn.execute import run_graph
from hw_bnn.graph import split_at_partition
from hw_bnn.design.sim import decode, encode


class HostModel:
    """The host side of a compiled HW graph whose partition is the design ``design``."""

    def __init__(self, hw_graph: ModelWrapper, design):
        self.pre, self.partition, self.post = split_at_partition(hw_graph)
        self.first, self.last = design.nodes[0].inp, design.nodes[-1].out

    def frame_beats(self, image: np.ndarray) -> list[int]:
        """The input beats of one uint8 image (C, H, W)."""
        x = image[None].astype(np.float32)
        if self.pre is not None:
            x = run_graph(self.pre, x, show_progress=False)
        return encode(x.reshape(1, -1), self.first)

    def outputs(self, beats: list[int]) -> np.ndarray:
        """The model's output row for one frame's output beats (host output affine applied)."""
        raw = decode(beats, self.last, 1)
        if self.post is None:
            return raw[0]
        name = self.partition.graph.output[0].name
        shape = (1, *self.partition.get_tensor_shape(name)[1:])
        return run_graph(self.post, raw.reshape(shape), show_progress=False)[0]

    def classify(self, client, images: np.ndarray) -> np.ndarray:
        """Model outputs of ``images`` computed by the board behind ``client``, one row per image."""
        return np.stack([self.outputs(client.classify(self.frame_beats(image))) for image in images])
