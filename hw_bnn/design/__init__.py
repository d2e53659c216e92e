"""The accelerator as one design: every HW node emitted (``emitters``: FINN's nodes and each feature's),
stitched into one top with its FIFOs and width converters (``stitch``), and simulated cycle-accurately
against the software model (``sim``). It sits above ``hw_bnn.features`` and ``hw_bnn.rtl``, which
provide the parts."""
