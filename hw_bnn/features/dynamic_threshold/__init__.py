"""Dynamic thresholds in hardware: per-sample sign thresholds (seed_methods §2.7, §3.5).

SD-BNN's squeeze-excitation activation shift and DyBNN's dynamic RSign/RPReLU compute each channel's
threshold from the sample itself: a small hyper-function of the layer's globally pooled output. In the
integer form every step is a threshold on an integer, so the unit is exact (``reference.dynamic_threshold``):
pooled sums -> hyper-function level codes -> a table lookup of each channel's threshold -> the sign.

In hardware a dynamic layer is four streaming nodes after its MVAU, joined by the framed stream (a
frame of accumulators followed by one side row): ``GlobalPoolAccumulator`` (frame_channel_sums.v appends
the channel sums), ``FrameHyperFunction`` (hyper_function.v turns them into the frame's thresholds),
``FrameBuffer`` (frame_buffer.v holds the frame until they are known) and ``FrameThreshold``
(frame_threshold.v applies them). A frame's thresholds depend on the whole frame, so each dynamic layer
adds a frame of latency. A multi-level layer (DyBNN's per-sample RPReLU after a residual sum, whose output
is a multi-bit stream code) ends in ``FrameMultiThreshold`` (frame_multi_threshold.v) instead: the
hyper-function sends each channel's table index, and the last node looks up K thresholds and counts.

Python: ``reference``, ``deploy`` (``DynamicThresholdDeploy``: trained blocks -> integer tables),
``op`` (``DynamicThreshold`` as exported and the four HW ops, with their estimates), ``passes`` (XNOR
conversion, the expansion into the four nodes, folding tie, hyper-function MAC lanes), ``emit`` and
``memfiles``. Training: ``hw_bnn.methods.sdbnn``, ``hw_bnn.methods.dybnn``, ``hw_bnn.methods.hyper``.

Verilog: hls/rtl/dynamic_threshold/ (frame_channel_sums.v, hyper_function.v with hyper_mac_layer.v,
frame_buffer.v, frame_threshold.v, frame_multi_threshold.v). C++: hls/cpp/frame_units.hpp, hls/cpp/frame_units_tb.cpp.
"""
