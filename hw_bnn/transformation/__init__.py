"""hw_bnn's own QONNX transformations (FINN idiom: each pass does one thing and says so in its name)."""
