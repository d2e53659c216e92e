import json

import numpy as np
import pytest
from model_helpers import randomize_batchnorm
from finn.util.fpgadataflow import is_fpgadataflow_node

from qonnx.custom_op.registry import getCustomOp

from hw_bnn.compiler import compile_model, read_folding
from hw_bnn.config import BuildConfig
from hw_bnn.errors import HwBnnError
from hw_bnn.estimate import estimate
from hw_bnn.execute import run_graph
from hw_bnn.export import export_model
from hw_bnn.models.cnv import BinaryCNV
from hw_bnn.models.mlp import BinaryMLP
from hw_bnn.train import predict


@pytest.fixture(scope="module")
def mlp_graph(tmp_path_factory):
    model = randomize_batchnorm(BinaryMLP(hidden=(64, 32, 32)), seed=1)
    return model, export_model(model, (1, 28, 28), tmp_path_factory.mktemp("mlp") / "export.onnx")


def hw_op_types(model):
    return [n.op_type for n in model.graph.node if is_fpgadataflow_node(n)]


def test_mlp_compiles_to_hw_nodes_and_equals_pytorch(mlp_graph, random_images, tmp_path):
    model, graph = mlp_graph
    hw = compile_model(graph, BuildConfig(), tmp_path)
    assert hw_op_types(hw) == ["Thresholding", "MVAU", "MVAU", "MVAU", "MVAU"]
    edge_ops = [n.op_type for n in hw.graph.node if not is_fpgadataflow_node(n)]
    assert edge_ops == ["Reshape", "Mul", "Add"]
    # thresholds of the hidden layers are absorbed into the MVAUs (XNOR mode with activation)
    from qonnx.custom_op.registry import getCustomOp
    mvaus = [getCustomOp(n) for n in hw.graph.node if n.op_type == "MVAU"]
    assert [m.get_nodeattr("noActivation") for m in mvaus] == [0, 0, 0, 1]
    assert all(m.get_nodeattr("binaryXnorMode") == 1 for m in mvaus)
    images = random_images(30, seed=3)
    assert np.array_equal(run_graph(hw, images, show_progress=False), predict(model, images))
    assert (tmp_path / "streamlined.onnx").is_file() and (tmp_path / "hw_graph.onnx").is_file()


def test_cnv_compiles_and_equals_pytorch(random_images):
    model = randomize_batchnorm(BinaryCNV(channels=(8, 8, 16, 16), fc=(32,)), seed=2)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        graph = export_model(model, (1, 28, 28), f"{tmp}/export.onnx")
    hw = compile_model(graph, BuildConfig(target_cycles_per_frame=4000))
    ops = hw_op_types(hw)
    assert ops.count("MVAU") == 6 and ops.count("Pool") == 2 and ops.count("ConvolutionInputGenerator") == 6
    from qonnx.custom_op.registry import getCustomOp
    first = getCustomOp(next(n for n in hw.graph.node if n.op_type == "MVAU"))
    assert first.get_nodeattr("inputDataType") == "UINT8" and first.get_nodeattr("binaryXnorMode") == 0
    images = random_images(4, seed=5)
    assert np.array_equal(run_graph(hw, images, show_progress=False), predict(model, images))


def test_target_folding_meets_cycles_and_is_fully_folded_without_target(mlp_graph):
    _, graph = mlp_graph
    unfolded = estimate(compile_model(graph, BuildConfig()), "xc7z020clg400-1", 100.0)
    assert all(layer["pe"] == 1 and layer["simd"] == 1 for layer in unfolded["layers"])
    folded = estimate(compile_model(graph, BuildConfig(target_cycles_per_frame=2000)), "xc7z020clg400-1", 100.0)
    assert folded["cycles_per_frame"] <= 2000 < unfolded["cycles_per_frame"]
    assert folded["lut"] > unfolded["lut"]
    assert folded["fps"] == pytest.approx(100e6 / folded["cycles_per_frame"])
    assert folded["bottleneck"] in [layer["name"] for layer in folded["layers"]]


def test_folding_file_round_trip_and_illegal_values(mlp_graph, tmp_path):
    _, graph = mlp_graph
    folding = {"Thresholding_0": {"PE": 4}, "MVAU_0": {"PE": 8, "SIMD": 16}}
    path = tmp_path / "folding.json"
    path.write_text(json.dumps(folding))
    hw = compile_model(graph, BuildConfig(folding_file=str(path)))
    applied = read_folding(hw)
    assert {k: applied["MVAU_0"][k] for k in ("PE", "SIMD")} == {"PE": 8, "SIMD": 16}
    assert applied["Thresholding_0"] == {"PE": 4}
    path.write_text(json.dumps(applied))  # folding.json as the build writes it reads back the same
    assert read_folding(compile_model(graph, BuildConfig(folding_file=str(path)))) == applied

    path.write_text(json.dumps({"MVAU_0": {"PE": 5}}))
    with pytest.raises(HwBnnError) as info:
        compile_model(graph, BuildConfig(folding_file=str(path)))
    message = str(info.value)
    assert "MVAU_0" in message and "PE=5" in message and "[1, 2, 4, 8, 16, 32, 64]" in message

    path.write_text(json.dumps({"MVAU_9": {"PE": 1}}))
    with pytest.raises(HwBnnError, match="no HW node named 'MVAU_9'"):
        compile_model(graph, BuildConfig(folding_file=str(path)))
    path.write_text(json.dumps({"MVAU_0": {"DEPTH": 2}}))
    with pytest.raises(HwBnnError, match="no folding attribute 'DEPTH'"):
        compile_model(graph, BuildConfig(folding_file=str(path)))
    path.write_text(json.dumps({"MVAU_0": {"ram_style": "ultra"}}))
    with pytest.raises(HwBnnError, match="ram_style='ultra' is not implemented for node 'MVAU_0'"):
        compile_model(graph, BuildConfig(folding_file=str(path)))
    path.write_text("{not json")
    with pytest.raises(HwBnnError, match="not valid JSON"):
        compile_model(graph, BuildConfig(folding_file=str(path)))


def test_shallow_weight_memories_go_to_logic_unless_the_folding_file_says_block(mlp_graph, tmp_path):
    """Fully unrolled (one weight word): ram_style becomes "distributed" and FINN's estimate counts
    no block RAM for it; a folding file's "block" stays; a deep memory stays "auto"."""
    _, graph = mlp_graph
    node = next(n for n in compile_model(graph, BuildConfig()).graph.node if n.name == "MVAU_0")
    mw, mh = (getCustomOp(node).get_nodeattr(a) for a in ("MW", "MH"))
    path = tmp_path / "folding.json"
    path.write_text(json.dumps({"MVAU_0": {"PE": mh, "SIMD": mw}}))
    unrolled = compile_model(graph, BuildConfig(folding_file=str(path)))
    assert read_folding(unrolled)["MVAU_0"]["ram_style"] == "distributed"
    layer = {lay["name"]: lay for lay in estimate(unrolled, "xc7z020clg400-1", 100.0)["layers"]}["MVAU_0"]
    assert layer["bram18"] == 0
    path.write_text(json.dumps({"MVAU_0": {"PE": mh, "SIMD": mw, "ram_style": "block"}}))
    assert read_folding(compile_model(graph, BuildConfig(folding_file=str(path))))["MVAU_0"]["ram_style"] == "block"
    assert read_folding(compile_model(graph, BuildConfig()))["MVAU_0"]["ram_style"] == "auto"
