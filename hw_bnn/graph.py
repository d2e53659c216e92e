"""Facts about QONNX graphs that every layer of the flow asks: which nodes are hw_bnn's own, which
are HW nodes, and how to cut a graph into the host parts and the dataflow partition between them."""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper

import hw_bnn.finn_env  # noqa: F401  (must precede FINN imports)
from finn.util.fpgadataflow import is_fpgadataflow_node

#: hw_bnn's QONNX custom-op domain: saved .onnx files name it, QONNX imports it to find the ops.
DOMAIN = "hw_bnn.custom_op"
#: hw_bnn ops that read a count lane beside a layer's accumulators (AdaBin's: the input's count).
COUNT_LANE_READERS = ("AdaBinThreshold", "AdaBinOutput")


def is_hw_bnn_node(node) -> bool:
    """A node of hw_bnn's own op domain (FINN neither estimates nor implements it)."""
    return node is not None and node.domain == DOMAIN


def hw_nodes(model: ModelWrapper) -> list:
    """The HW (``fpgadataflow``) nodes of ``model``, FINN's and hw_bnn's, in graph order."""
    return [node for node in model.graph.node if is_fpgadataflow_node(node)]


def finn_nodes(model: ModelWrapper) -> list:
    """The HW nodes FINN implements and estimates, in graph order."""
    return [node for node in hw_nodes(model) if not is_hw_bnn_node(node)]


def has_count_row(model: ModelWrapper, node) -> bool:
    """True for an MVAU whose last output row is a count of its input (its accumulators feed an op
    that reads a count lane): the RTL computes that row in a parallel lane, FINN never sees it."""
    return node.op_type == "MVAU" and any(
        is_hw_bnn_node(c) and c.op_type in COUNT_LANE_READERS for c in model.find_consumers(node.output[0]))


def sub_model(model: ModelWrapper, nodes: list, input_name: str, output_name: str) -> ModelWrapper:
    """A copy of ``model`` holding only ``nodes``, from tensor ``input_name`` to ``output_name``."""
    model = ModelWrapper(model.model.__deepcopy__())
    graph = model.graph
    keep = {node.name for node in nodes}
    for node in [node for node in graph.node if node.name not in keep]:
        graph.node.remove(node)
    for ports, name in ((graph.input, input_name), (graph.output, output_name)):
        info = model.get_tensor_valueinfo(name)
        while len(ports):
            ports.pop()
        ports.append(info)
    # a graph port must not also be listed as an intermediate tensor
    for info in [vi for vi in graph.value_info if vi.name in (input_name, output_name)]:
        graph.value_info.remove(info)
    return model


def split_at_partition(model: ModelWrapper) -> tuple[ModelWrapper | None, ModelWrapper, ModelWrapper | None]:
    """(input layout nodes, HW nodes, output affine nodes) as three models; None where empty.

    The middle one is the dataflow partition FINN's analyses expect (every node a HW
    node, as FINN's CreateDataflowPartition would produce); the outer ones run on the host.
    """
    nodes = list(model.graph.node)
    hw = [i for i, node in enumerate(nodes) if is_fpgadataflow_node(node)]
    first, last = hw[0], hw[-1]
    graph_in, graph_out = model.graph.input[0].name, model.graph.output[0].name
    hw_in, hw_out = nodes[first].input[0], nodes[last].output[0]
    pre = sub_model(model, nodes[:first], graph_in, hw_in) if first > 0 else None
    post = sub_model(model, nodes[last + 1:], hw_out, graph_out) if last < len(nodes) - 1 else None
    return pre, sub_model(model, nodes[first:last + 1], hw_in, hw_out), post


def _module_of(node) -> str | None:
    """The PyTorch module a node was exported from, as torch.onnx records it ('name (Class)'), if it does."""
    scope = next((prop.value for prop in node.metadata_props if prop.key == "namespace"), "")
    # "...: Net/body: torch...Sequential/body.4: torch.nn.modules.activation.ReLU/relu: aten.relu.default"
    modules = [part.split(": ", 1) for part in scope.split("/")[1:-1] if ": " in part]
    # a Brevitas layer's internals (its quantizer proxies, their ReLU or clamp) are not the user's modules:
    # name the layer
    layer = next((i for i, (_, cls) in enumerate(modules) if cls.startswith("brevitas.nn.")), None)
    modules = modules[:layer + 1] if layer is not None else modules
    modules = [(name, cls) for name, cls in modules if not cls.startswith(("brevitas.proxy", "brevitas.export"))]
    if not modules:
        return None
    name, cls = modules[-1]
    return f"'{name}' ({cls.rsplit('.', 1)[-1]})"


def source_module(model: ModelWrapper, node, hops: int = 3) -> str:
    """Where ``node`` came from in the PyTorch model, for error messages: its module, or the module of
    a node up to ``hops`` producers before it (passes replace nodes and drop the record); '' if unknown."""
    seen = node
    for step in range(hops + 1):
        module = _module_of(seen)
        if module:
            return f"PyTorch module {module}" if step == 0 else f"after PyTorch module {module}"
        seen = model.find_producer(seen.input[0]) if seen.input else None
        if seen is None:
            return ""
    return ""

