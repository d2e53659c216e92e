"""Residual nets in hardware: ResNet-18/20, VGG-small and ReActNet on CIFAR (``hw_bnn.models.cifar``).

``integer_form`` turns a trained residual model into the integer model the accelerator computes (every
map between two layers with weights becomes thresholds found on PyTorch's own float arithmetic; AdaBin
convs and per-sample binarizers take their features' integer forms). ``passes`` annotates the
exported integers and moves the residual graph onto the channel-last stream (pixel sums -> FINN
GlobalAccPool, NHWC pads, scalars past max-pools). In hardware a shortcut is a fork and a join of two
streams (``emit``: duplicate_streams.v, add_streams.v); ``fifo_sizing`` computes the depth of the
FIFO on each shortcut, which the stitcher uses, so that the fork never stalls the longer branch.

Verilog: hls/rtl/residual/ (duplicate_streams.v, add_streams.v); the global pool and channel-wise
constants are FINN node equivalents in hls/rtl/finn/ (global_acc_pool.v, channelwise_op.v).
"""
