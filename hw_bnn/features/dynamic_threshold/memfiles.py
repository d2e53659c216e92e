"""Memory files of the per-frame threshold modules (hyper_function.v, frame_threshold.v,
frame_multi_threshold.v): the layouts are
documented in the modules' headers; each word packs lanes with lane 0 in the LSBs, two's complement."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from hw_bnn.rtl.memfiles import write_memh

#: hyper_function.v memory parameter -> file suffix
HYPER_MEMORIES = ("POOL_FILE", "W1_FILE", "HID_FILE", "W2_FILE", "OUT_FILE", "TABLE_FILE")


def _pack(fields, width: int) -> int:
    """Fields (ints) of ``width`` bits each into one word, field 0 in the LSBs."""
    word = 0
    for k, value in enumerate(fields):
        word |= (int(value) & ((1 << width) - 1)) << (k * width)
    return word


def _lanes(rows: np.ndarray, lanes: int, fill) -> np.ndarray:
    """Pad rows to a multiple of ``lanes`` with ``fill`` rows and group them: (blocks, lanes, ...)."""
    blocks = math.ceil(len(rows) / lanes)
    padded = np.concatenate([rows, np.full((blocks * lanes - len(rows), *rows.shape[1:]), fill, dtype=np.int64)])
    return padded.reshape(blocks, lanes, *rows.shape[1:])


def hyper_memory_words(params: dict, pe: int, macs: int, widths: dict) -> dict[str, tuple[list[int], int]]:
    """{memory parameter: (words, word width)} of hyper_function.v for the integer ``params``
    (keys of hw_bnn.features.dynamic_threshold.reference.HYPER_PARAMS) and ``widths`` (W, WT_W, A1_W, A2_W)."""
    w, wt, a1, a2 = widths["W"], widths["WT_W"], widths["A1_W"], widths["A2_W"]
    sign = np.asarray(params["pool_sign"], dtype=np.int64)
    pool_t = np.asarray(params["pool_thresholds"], dtype=np.int64)
    channels, n_pool = pool_t.shape
    lane_w = 1 + n_pool * (w + 1)
    lanes = [(int(sign[c] < 0) | _pack(pool_t[c], w + 1) << 1) for c in range(channels)]
    pool = [_pack(lanes[g * pe:(g + 1) * pe], lane_w) for g in range(channels // pe)]
    w1 = _lanes(np.asarray(params["w1"], dtype=np.int64), macs, 0)            # (JB, MACS, C)
    w2 = _lanes(np.asarray(params["w2"], dtype=np.int64), macs, 0)            # (IB, MACS, J)
    hidden_t = np.asarray(params["hidden_thresholds"], dtype=np.int64)
    out_t = np.asarray(params["output_thresholds"], dtype=np.int64)
    hid = _lanes(hidden_t, macs, (1 << (a1 - 1)) - 1)                          # padding rows: never reached
    out = _lanes(out_t, macs, (1 << (a2 - 1)) - 1)
    table = np.asarray(params["table"], dtype=np.int64)
    return {
        "POOL_FILE": (pool, pe * lane_w),
        "W1_FILE": ([_pack(block[:, c], wt) for block in w1 for c in range(w1.shape[2])], macs * wt),
        "HID_FILE": ([_pack(block.ravel(), a1) for block in hid], macs * hidden_t.shape[1] * a1),
        "W2_FILE": ([_pack(block[:, j], wt) for block in w2 for j in range(w2.shape[2])], macs * wt),
        "OUT_FILE": ([_pack(block.ravel(), a2) for block in out], macs * out_t.shape[1] * a2),
        "TABLE_FILE": ([_pack([v], w) for v in table.ravel()], w),
    }


def write_hyper_memories(paths: dict[str, Path], params: dict, pe: int, macs: int, widths: dict) -> None:
    """Write hyper_function.v's memory files to ``paths`` (memory parameter -> path)."""
    for name, (words, width) in hyper_memory_words(params, pe, macs, widths).items():
        write_memh(paths[name], words, width)


def write_sign_file(path: Path, sign, pe: int) -> None:
    """frame_threshold.v's SIGN_FILE: NF words of PE bits, bit e set where channel g*PE+e compares -acc."""
    negative = [int(s < 0) for s in np.asarray(sign)]
    write_memh(path, [_pack(negative[g * pe:(g + 1) * pe], 1) for g in range(len(negative) // pe)], pe)


def write_multi_threshold_table(path: Path, table, pe: int, thr_w: int) -> None:
    """frame_multi_threshold.v's TABLE_FILE for a table (C, L, K): NF words, word g holding T[g*PE+e][j][k] at
    bits ((e*L + j)*K + k)*thr_w."""
    table = np.asarray(table, dtype=np.int64)
    channels, entries, levels = table.shape
    words = [_pack(table[g * pe:(g + 1) * pe].ravel(), thr_w) for g in range(channels // pe)]
    write_memh(path, words, pe * entries * levels * thr_w)
