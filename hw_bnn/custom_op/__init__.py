"""hw_bnn's QONNX custom-op domain (``hw_bnn.custom_op``): what FINN cannot express.

QONNX finds an op of this domain (``hw_bnn.graph.DOMAIN``) by importing this module and reading
``custom_op``; each op lives with its feature in ``hw_bnn.features``.
"""

from hw_bnn.features.adabin.op import AdaBinOutput, AdaBinThreshold
from hw_bnn.features.dynamic_threshold.op import (DynamicThreshold, FrameBuffer, FrameHyperFunction,
                                                  FrameMultiThreshold, FrameThreshold, GlobalPoolAccumulator)

custom_op = {"AdaBinThreshold": AdaBinThreshold, "AdaBinOutput": AdaBinOutput, "DynamicThreshold": DynamicThreshold,
             "GlobalPoolAccumulator": GlobalPoolAccumulator, "FrameHyperFunction": FrameHyperFunction,
             "FrameBuffer": FrameBuffer, "FrameThreshold": FrameThreshold,
             "FrameMultiThreshold": FrameMultiThreshold}

__all__ = list(custom_op)
