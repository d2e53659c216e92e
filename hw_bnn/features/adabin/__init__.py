"""AdaBin in hardware (seed_methods §5.6): adaptive binary sets for weights and activations.

An AdaBin layer's output is a function of two integers per output channel: the XNOR popcount of its
input bits, and the count of the input vector. The exported layer is a bipolar MatMul with one extra
all-ones weight column (the count) feeding ``AdaBinThreshold``: ``L = A*acc_x + B*acc_a``, two
thresholds on L and a 3-bit decode give the next bit (``reference.adabin_threshold_reference``); the
last layer's float output is ``AdaBinOutput`` on the host. In hardware the count is a parallel lane
of the MVAU (``hw_bnn.rtl.finn_emit.emit_mvau``, ``COUNT = 1`` of mvau.v) and the combine-and-threshold
is adabin_threshold.v, tied to the MVAU's PE.

Python: ``reference`` (the integer unit), ``deploy`` (trained model -> integer form: ``fit_combination``
finds A, B, T so that every decision agrees with the float model away from ties), ``op`` (the two QONNX
ops and their estimate), ``passes`` (XNOR conversion, HW node, folding tie), ``emit`` and ``memfiles``
(the RTL node and its ``PARAM_FILE``). Training: ``hw_bnn.methods.adabin``.

Verilog: hls/rtl/adabin/adabin_threshold.v (and the count lane in hls/rtl/finn/mvau.v).
C++ (Vitis HLS kernel and its testbench): hls/cpp/adabin_threshold.hpp, hls/cpp/adabin_threshold_tb.cpp.
"""
