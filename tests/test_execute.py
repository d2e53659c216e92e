"""Host-side graphs (the accelerator's input layout and output affine) run on a whole batch at once and
give what FINN's image-by-image execution gives, bit for bit."""

import numpy as np
import pytest
from model_helpers import randomize_batchnorm

from hw_bnn.compiler import compile_model
from hw_bnn.config import BuildConfig
from hw_bnn.execute import _run_batched, run_graph, run_host_graph
from hw_bnn.export import export_model
from hw_bnn.graph import split_at_partition
from hw_bnn.models.cnv import BinaryCNV
from hw_bnn.models.mlp import BinaryMLP


@pytest.mark.parametrize("model, shape", [(BinaryMLP(hidden=(32, 16)), (1, 28, 28)),
                                          (BinaryCNV(input_shape=(3, 16, 16), channels=(8, 8), fc=(16,)), (3, 16, 16))])
def test_host_graphs_on_a_batch_equal_image_by_image_execution(model, shape, tmp_path):
    hw = compile_model(export_model(randomize_batchnorm(model), shape, tmp_path / "export.onnx"), BuildConfig())
    pre, partition, post = split_at_partition(hw)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(25, *shape)).astype(np.float32)
    raw = rng.integers(-40, 40, size=(25, *partition.get_tensor_shape(partition.graph.output[0].name)[1:]))
    for graph, batch in ((pre, images), (post, raw.astype(np.float32))):
        if graph is None:
            continue
        assert _run_batched(graph, batch) is not None  # these graphs take the batched path
        expected = run_graph(graph, batch, show_progress=False).reshape(run_host_graph(graph, batch).shape)
        assert np.array_equal(run_host_graph(graph, batch), expected)


def test_a_graph_with_another_op_runs_frame_by_frame():
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = ModelWrapper(qonnx_make_model(graph))
    batch = np.array([[-1, 2, -3, 4], [5, -6, 7, -8]], dtype=np.float32)
    assert _run_batched(model, batch) is None
    assert np.array_equal(run_host_graph(model, batch), np.maximum(batch, 0))
