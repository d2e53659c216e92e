"""hw_bnn's hardware features: what FINN's nodes cannot express, each in one folder.

A method (``hw_bnn.methods``) trains; its feature folder makes it hardware. Every feature holds the
same kinds of module, so a change to one feature stays in its folder:

- ``reference`` -- the numpy function the feature's integer hardware computes (the oracle);
- ``deploy``    -- the PyTorch deployment form: ``has_layers(model)``, ``to_hardware_form(model, input_shape)``;
- ``op``        -- the QONNX custom ops (shapes, datatypes, execution, ``hw_estimate``), registered in
  ``hw_bnn.custom_op``, the domain saved .onnx files name;
- ``passes``    -- the graph passes that turn the exported pattern into HW nodes;
- ``emit``      -- the RTL emitters (and ``memfiles``, their memory files), registered in ``hw_bnn.design.emitters``.

Features: :mod:`~hw_bnn.features.adabin` (AdaBin's adaptive binary sets), :mod:`~hw_bnn.features.dynamic_threshold`
(per-sample thresholds of SD-BNN's squeeze-excitation and DyBNN) and :mod:`~hw_bnn.features.residual`
(residual nets: integer form, fork/join streams, shortcut FIFO depths).
"""
