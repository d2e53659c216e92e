"""What ``hls/rtl/finn/mvau.v`` builds for a set of parameters, as its header states: the register stages of
its adder trees, the depth of its output queue and the shape of its weight memory. The resource model and
the tests read them here; ``tests/rtl/test_mvau.py`` checks the latency and rate they imply against
Verilator."""

from __future__ import annotations

#: Adder levels between registers in mvau.v's trees (its TREE_K).
TREE_K = 3


def tree_stages(simd: int, xnor: bool, weight_width: int = 1) -> int:
    """Register stages D_T of the products and adder tree: a vector's last input beat reaches the output
    4 + D_T cycles later."""
    levels = (simd - 1).bit_length()
    if weight_width > 1:  # the product register, then a register every TREE_K levels and at the root
        return 1 + sum(1 for lvl in range(1, levels + 1) if lvl == levels or lvl % TREE_K == 0)
    offset = 0 if xnor else 1  # the bipolar integer terms' negation counts as a level
    if levels == 0:
        return 1
    return sum(1 for lvl in range(1, levels + 1) if lvl == levels or (lvl + offset) % TREE_K == 0)


def output_queue_depth(p: dict) -> int:
    """Outputs mvau.v's credit queue holds (OUT_DEPTH): one more than a full-rate pipeline has in flight."""
    sf = p["MW"] // p["SIMD"]
    latency = 4 + tree_stages(p["SIMD"], bool(p["XNOR"]), p.get("WEIGHT_W", 1))
    return -(-latency // sf) + 1


def weight_memory_shape(p: dict) -> tuple[int, int]:
    """(words, bits per word) of the weight memory: SF*NF beats of PE*SIMD*WEIGHT_W bits, WEIGHT_PACK
    beats to a word."""
    beats = (p["MW"] // p["SIMD"]) * (p["MH"] // p["PE"])
    pack = p.get("WEIGHT_PACK", 1)
    return beats // pack, pack * p["PE"] * p["SIMD"] * p.get("WEIGHT_W", 1)
