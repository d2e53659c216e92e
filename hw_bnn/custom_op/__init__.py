"""hw_bnn's QONNX custom-op domain (``hw_bnn.custom_op``): what FINN cannot express.

QONNX finds an op of this domain by importing this module and reading ``custom_op``.
"""

from hw_bnn.custom_op.adabin import AdaBinOutput, AdaBinThreshold
from hw_bnn.custom_op.frame import (DynamicThreshold, FrameBuffer, FrameHyperFunction, FrameThreshold,
                                    GlobalPoolAccumulator)

DOMAIN = "hw_bnn.custom_op"

custom_op = {"AdaBinThreshold": AdaBinThreshold, "AdaBinOutput": AdaBinOutput, "DynamicThreshold": DynamicThreshold,
             "GlobalPoolAccumulator": GlobalPoolAccumulator, "FrameHyperFunction": FrameHyperFunction,
             "FrameBuffer": FrameBuffer, "FrameThreshold": FrameThreshold}

__all__ = list(custom_op)
