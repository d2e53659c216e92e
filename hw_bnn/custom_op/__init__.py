"""hw_bnn's QONNX custom-op domain (``hw_bnn.custom_op``): what FINN cannot express.

QONNX finds an op of this domain by importing this module and reading ``custom_op``.
"""

from hw_bnn.custom_op.adabin import AdaBinOutput, AdaBinThreshold

DOMAIN = "hw_bnn.custom_op"

custom_op = {"AdaBinThreshold": AdaBinThreshold, "AdaBinOutput": AdaBinOutput}

__all__ = ["AdaBinThreshold", "AdaBinOutput"]
