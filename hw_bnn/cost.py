"""Resource units shared by hw_bnn's own estimates (FINN estimates its own nodes).

Parameter memories up to ``LUTROM_MAX_WORDS`` words sit in LUTs as a ROM (Yosys' choice for the
shallow, wide memories of the measured designs), at ``LUT6_ROM_BITS`` bits per LUT; deeper ones
take BRAM18s (FINN's unit).
"""

from __future__ import annotations

BRAM18_BITS = 18 * 1024
LUTROM_MAX_WORDS = 64
LUT6_ROM_BITS = 64


def memory_cost(words: int, width: int) -> dict[str, int]:
    """LUTs or BRAM18s of a memory of ``words`` x ``width`` bits."""
    if words <= LUTROM_MAX_WORDS:
        return {"lut": -(-words * width // LUT6_ROM_BITS), "bram18": 0}
    return {"lut": 0, "bram18": -(-words * width // BRAM18_BITS)}
