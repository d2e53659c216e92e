"""A board around the accelerator: the UART host protocol (``protocol``), the board top
that wraps ``hw_bnn_top`` with ``uart_rx`` + ``uart_bridge`` + ``uart_tx`` (``top``), and
a Verilator simulation of that top behind a serial-port-like transport (``sim``)."""
