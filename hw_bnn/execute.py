"""Execute ONNX graphs (QONNX or FINN) image by image, with progress."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

import hw_bnn.finn_env  # noqa: F401
from finn.core.onnx_exec import execute_onnx
from qonnx.core.modelwrapper import ModelWrapper


def run_graph(model: ModelWrapper, images: np.ndarray, desc: str = "execute", show_progress: bool = True) -> np.ndarray:
    """Outputs of ``model`` for uint8 ``images`` (N, C, H, W), one row per image.

    FINN's HW nodes execute one frame at a time, so every graph is run per image
    (about 100 images/s for an MLP in FINN's python execution).
    """
    in_name, out_name = model.graph.input[0].name, model.graph.output[0].name
    outputs = []
    for image in tqdm(images, desc=desc, disable=None if show_progress else True, leave=False):
        result = execute_onnx(model, {in_name: image[None].astype(np.float32)})
        outputs.append(np.asarray(result[out_name], dtype=np.float32).reshape(-1))
    return np.stack(outputs)
