import numpy as np
import pytest
from brevitas.nn import QuantIdentity, QuantLinear
from brevitas.quant import Int8ActPerTensorFloat
from model_helpers import randomize_batchnorm
from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.execute import run_graph
from hw_bnn.export import check_supported, export_model, load_qonnx
from hw_bnn.models.cnv import BinaryCNV
from hw_bnn.models.mlp import BinaryMLP
from hw_bnn.quant import BipolarAct, BipolarWeight
from hw_bnn.train import predict


def test_mlp_export_equals_pytorch(tmp_path, random_images):
    model = randomize_batchnorm(BinaryMLP(hidden=(32, 16)))
    images = random_images(20)
    onnx_model = export_model(model, (1, 28, 28), tmp_path / "export.onnx")
    assert (tmp_path / "export.onnx").is_file()
    assert onnx_model.get_tensor_datatype(onnx_model.graph.input[0].name).name == "UINT8"
    assert np.array_equal(run_graph(onnx_model, images, show_progress=False), predict(model, images))


def test_outputs_are_integers(random_images):
    model = randomize_batchnorm(BinaryMLP(hidden=(32,)))
    out = predict(model, random_images(8))
    assert np.array_equal(out, np.round(out)) and np.abs(out).max() <= 32


def test_cnv_rejects_too_small_input():
    with pytest.raises(HwBnnError, match="too small"):
        BinaryCNV(input_shape=(1, 8, 8))


class _Net(nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


def test_a_model_without_a_binary_layer_is_refused():
    """What the graph decides (bit widths, biases, float layers) is tested in test_mapping.py."""
    with pytest.raises(HwBnnError, match="no QuantLinear"):
        check_supported(_Net(QuantIdentity(act_quant=BipolarAct)))


def test_load_qonnx_rejects_missing_corrupt_and_odd_files(tmp_path):
    with pytest.raises(HwBnnError, match="does not exist"):
        load_qonnx(tmp_path / "missing.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07this is not protobuf\xff\xff")
    with pytest.raises(HwBnnError, match="not a readable ONNX file"):
        load_qonnx(corrupt)
    import onnx
    from onnx import TensorProto, helper

    empty = helper.make_model(helper.make_graph(
        [], "empty", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))
    onnx.save(empty, tmp_path / "empty.onnx")
    with pytest.raises(HwBnnError, match="not a single-input"):
        load_qonnx(tmp_path / "empty.onnx")


def test_failed_export_leaves_no_file(tmp_path, monkeypatch):
    import hw_bnn.export as export

    def broken(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(export, "export_qonnx", broken)
    with pytest.raises(HwBnnError, match="exporter crashed"):
        export.export_model(BinaryMLP(hidden=(8,)), (1, 28, 28), tmp_path / "export.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_is_one_self_contained_file(tmp_path, random_images):
    """Large weights go to a side file in the exporter; the flow's export.onnx must stand alone."""
    model = randomize_batchnorm(BinaryMLP(hidden=(256, 256, 256)))
    export_model(model, (1, 28, 28), tmp_path / "a" / "export.onnx")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["export.onnx"]
    moved = tmp_path / "elsewhere.onnx"
    (tmp_path / "a" / "export.onnx").rename(moved)
    images = random_images(3)
    assert np.array_equal(run_graph(load_qonnx(moved), images, show_progress=False), predict(model, images))


class _Scale(nn.Module):
    """A user's own module: a per-tensor affine the compiler folds into the next thresholds."""

    def forward(self, x):
        return 2.0 * x + 1.0


def _binary_net(*middle):
    return _Net(nn.Flatten(), QuantIdentity(act_quant=BipolarAct),
                QuantLinear(16, 8, bias=False, weight_quant=BipolarWeight), nn.BatchNorm1d(8), *middle,
                QuantIdentity(act_quant=BipolarAct), QuantLinear(8, 4, bias=False, weight_quant=BipolarWeight)).eval()


def test_mapping_is_decided_on_the_graph(tmp_path, random_images):
    """The export leaves modules it does not know to the compiler: an affine before a sign maps (and is
    exact), a float ReLU or a float Linear inside the network is refused naming the node and the module."""
    from hw_bnn.compiler import compile_model
    from hw_bnn.config import BuildConfig

    model = randomize_batchnorm(_binary_net(_Scale()))
    images = random_images(10).reshape(10, 1, 4, 4 * 49)[:, :, :, :4]
    hw = compile_model(export_model(model, (1, 4, 4), tmp_path / "scale.onnx"), BuildConfig())
    assert np.array_equal(run_graph(hw, images, show_progress=False), predict(model, images))
    for layer, op, module in ((nn.ReLU(), "Relu", "'body.4' (ReLU)"), (nn.Linear(8, 8), "Gemm", "'body.4' (Linear)")):
        graph = export_model(_binary_net(layer), (1, 4, 4), tmp_path / f"{op}.onnx")
        with pytest.raises(HwBnnError) as info:
            compile_model(graph, BuildConfig())
        assert f"({op}" in str(info.value) and module in str(info.value), str(info.value)


def test_the_input_quantizer_may_be_multi_bit_and_the_output_tail_is_left_to_the_graph(tmp_path):
    """BNN-PYNQ's CNV quantizes its input to 8 bits, and every BNN-PYNQ model ends in a TensorNorm: the
    export allows both; what follows the last layer is mapped (or refused, naming the node) by the compiler."""
    from hw_bnn.compiler import compile_model
    from hw_bnn.config import BuildConfig

    check_supported(_Net(QuantIdentity(act_quant=Int8ActPerTensorFloat),
                         QuantLinear(4, 4, bias=False, weight_quant=BipolarWeight), nn.BatchNorm1d(4)))
    net = _Net(nn.Flatten(), QuantIdentity(act_quant=BipolarAct),
               QuantLinear(16, 4, bias=False, weight_quant=BipolarWeight), nn.ReLU()).eval()
    graph = export_model(net, (1, 4, 4), tmp_path / "export.onnx")
    with pytest.raises(HwBnnError, match=r"node 'Relu_0' \(Relu, PyTorch module 'body.3' \(ReLU\)\) could not be mapped"):
        compile_model(graph, BuildConfig())
