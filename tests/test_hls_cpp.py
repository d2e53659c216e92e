"""hls/cpp/adabin_threshold.hpp, compiled with g++ against Xilinx's ap_types, against the numpy
definition adabin_threshold_reference, bit for bit.

The case helpers (random_case, param_words, input_beats, write_case_files) are plain functions so
the RTL test of hls/rtl/adabin/adabin_threshold.v can run the very same vectors: tests/ is on sys.path
(tests/conftest.py), so ``from test_hls_cpp import random_case, write_case_files`` works there.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from hw_bnn.features.adabin.reference import adabin_threshold_reference
from hw_bnn.errors import HwBnnError
from hw_bnn.hls import HLS_CPP_DIR, ap_types_include_dir, compile_kernel_test
from hw_bnn.rtl.memfiles import write_memh
from hw_bnn.rtl.packing import pack_beats, unpack_beats

TB_CPP = HLS_CPP_DIR / "adabin_threshold_tb.cpp"

# name: (C, PE, ACC_W, COEF_W, THR_W).  ACC_W + COEF_W <= 56 keeps |L| < 2**56 (int64 numpy is exact).
CASES = {
    "tiny_thr_narrower_than_level": (2, 1, 3, 2, 4),
    "c6_pe1": (6, 1, 8, 5, 12),
    "c12_pe3": (12, 3, 12, 8, 20),
    "c5_pe5_nf1": (5, 5, 10, 6, 16),
    "wide_coef32_thr60": (6, 2, 22, 32, 60),
    "wide_pe8_1496bit_params": (16, 8, 24, 32, 60),
}


def _srange(w: int) -> tuple[int, int]:
    return -(1 << (w - 1)), (1 << (w - 1)) - 1


def _signed_values(rng, w: int, size, p_special: float = 0.3) -> np.ndarray:
    """Uniform w-bit two's complement values, a fraction replaced by 0, +-1 and the range ends."""
    lo, hi = _srange(w)
    v = rng.integers(lo, hi, size=size, endpoint=True)
    special = np.array([0, 1, -1, lo, hi], dtype=np.int64).clip(lo, hi)
    return np.where(rng.random(size) < p_special, rng.choice(special, size=size), v)


def random_case(rng, c: int, acc_w: int, coef_w: int, thr_w: int, vectors: int = 40, style: str = "random"):
    """Random parameters and accumulators for one AdaBin threshold unit.

    Returns ``params`` (C, 5) int64 [A, B, T0, T1, DECODE] and int64 ``acc_x`` (vectors, C),
    ``acc_a`` (vectors, 1), all within their two's complement widths.  A and B take both signs,
    zero and the range ends; acc_a and half the channels' acc_x repeat a few values, and about
    half the thresholds tie exactly with (or sit one off) an L value of the case, the rest are
    random, out of L's range or at the THR_W range ends, so T0/T1 are unsorted and often
    unreachable.  ``style``: "random" (random DECODE), "sorted" (T0 <= T1),
    "folded" (a single threshold: T1 at the top of its range, DECODE 0b010) or "extreme" (A, B and
    the accumulators only at their range ends, so L reaches its extremes, e.g. 2*min*min).
    """
    if acc_w + coef_w > 56:
        raise ValueError("ACC_W + COEF_W must be <= 56 so that |L| < 2**56 (int64 reference)")
    p_coef, p_acc = (1.0, 1.0) if style == "extreme" else (0.3, 0.1)
    a = _signed_values(rng, coef_w, c, p_coef)
    b = _signed_values(rng, coef_w, c, p_coef)
    acc_x = _signed_values(rng, acc_w, (vectors, c), p_acc)
    acc_a = _signed_values(rng, acc_w, (vectors, 1), p_acc)
    # repeated L values make ties frequent: acc_a and half the channels' acc_x from pools of 3 values
    acc_a = rng.choice(acc_a[:3, 0], size=(vectors, 1))
    pooled = rng.random(c) < 0.5
    acc_x[:, pooled] = np.stack([rng.choice(acc_x[:3, ch], size=vectors) for ch in np.flatnonzero(pooled)], axis=1) \
        if pooled.any() else acc_x[:, pooled]
    if style == "extreme":  # only the range ends
        a, b, acc_x, acc_a = (np.where(v < 0, _srange(w)[0], _srange(w)[1])
                              for v, w in ((a, coef_w), (b, coef_w), (acc_x, acc_w), (acc_a, acc_w)))
    level = a * acc_x + b * acc_a  # (vectors, C), exact
    t_lo, t_hi = _srange(thr_w)
    thr = np.empty((c, 2), dtype=np.int64)
    for ch in range(c):
        lv = level[:, ch]
        for k in range(2):
            u = rng.random()
            if u < 0.5:  # tie with an actual L value (or one off)
                t = int(rng.choice(lv)) + int(rng.choice([-1, 0, 0, 0, 1]))
            elif u < 0.7:  # inside L's range
                t = int(rng.integers(lv.min() - 2, lv.max() + 2, endpoint=True))
            elif u < 0.85:  # anywhere in THR_W: mostly unreachable
                t = int(rng.integers(t_lo, t_hi, endpoint=True))
            else:  # range ends
                t = int(rng.choice([t_lo, t_hi]))
            thr[ch, k] = min(max(t, t_lo), t_hi)
    decode = rng.integers(0, 8, size=c)
    if style == "sorted":
        thr.sort(axis=1)
    elif style == "folded":
        thr[:, 1] = t_hi
        decode[:] = 0b010
    elif style not in ("random", "extreme"):
        raise ValueError(f"unknown style {style!r}")
    params = np.stack([a, b, thr[:, 0], thr[:, 1], decode], axis=1).astype(np.int64)
    assert np.abs(level).max() < 2**56
    return params, acc_x.astype(np.int64), acc_a.astype(np.int64)


def lane_width(coef_w: int, thr_w: int) -> int:
    """Bits of one channel's parameters: A, B (COEF_W), T0, T1 (THR_W), DECODE (3)."""
    return 2 * coef_w + 2 * thr_w + 3


def param_words(params, pe: int, coef_w: int, thr_w: int) -> list[int]:
    """The NF parameter words (RTL memory / HLS params[]): lane p of word nf = channel nf*PE+p,
    fields from the LSB A, B, T0, T1, DECODE, two's complement."""
    params = np.asarray(params, dtype=np.int64)
    c = params.shape[0]
    if c % pe:
        raise ValueError(f"PE={pe} must divide C={c}")
    widths = (coef_w, coef_w, thr_w, thr_w, 3)
    lw = lane_width(coef_w, thr_w)
    lanes = []
    for row in params.tolist():
        lane, shift = 0, 0
        for v, w in zip(row, widths):
            lo, hi = (0, 7) if w == 3 else _srange(w)
            if not lo <= v <= hi:
                raise ValueError(f"parameter {v} does not fit {w} bits")
            lane |= (v & ((1 << w) - 1)) << shift
            shift += w
        lanes.append(lane)
    return [sum(lanes[nf * pe + p] << (p * lw) for p in range(pe)) for nf in range(c // pe)]


def input_beats(acc_x, acc_a, pe: int, acc_w: int) -> list[int]:
    """Input beats, vector by vector: PE acc_x lanes then acc_a in lane PE, ACC_W bits each."""
    acc_x = np.asarray(acc_x, dtype=np.int64)
    vectors, c = acc_x.shape
    nf = c // pe
    acc_a = np.broadcast_to(np.asarray(acc_a, dtype=np.int64).reshape(vectors, 1, 1), (vectors, nf, 1))
    lanes = np.concatenate([acc_x.reshape(vectors, nf, pe), acc_a], axis=2)
    return pack_beats(lanes.reshape(vectors * nf, pe + 1), acc_w)


def write_case_files(folder, params, acc_x, acc_a, pe: int, acc_w: int, coef_w: int, thr_w: int) -> dict:
    """Write one case as $readmemh files: ``params.mem`` (NF words), ``in_beats.hex`` and the
    reference's ``expected.hex`` (PE-bit output beats).  Returns {name: path}."""
    c = np.asarray(params).shape[0]
    expected = adabin_threshold_reference(acc_x, acc_a, params)
    paths = {k: folder / f for k, f in (("params", "params.mem"), ("in", "in_beats.hex"), ("expected", "expected.hex"))}
    write_memh(paths["params"], param_words(params, pe, coef_w, thr_w), pe * lane_width(coef_w, thr_w))
    write_memh(paths["in"], input_beats(acc_x, acc_a, pe, acc_w), (pe + 1) * acc_w)
    write_memh(paths["expected"], pack_beats(expected.reshape(-1, pe), 1), pe)
    assert expected.shape[1] == c
    return paths


@pytest.fixture(scope="module")
def tb_binary(tmp_path_factory):
    """Build the test bench once per parameter set (name -> executable)."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not on PATH: the HLS C++ kernels are C-simulated with g++ (apt-get install g++)")
    ap_types_include_dir()  # missing headers fail here with the HwBnnError's fix (.ci/setup installs them)
    folder = tmp_path_factory.mktemp("hls_tb")
    cache = {}

    def build(name):
        if name not in cache:
            c, pe, acc_w, coef_w, thr_w = CASES[name]
            defines = dict(TB_C=c, TB_PE=pe, TB_ACC_W=acc_w, TB_COEF_W=coef_w, TB_THR_W=thr_w)
            cache[name] = compile_kernel_test([TB_CPP], folder / f"adabin_threshold_tb_{name}", defines)
        return cache[name]
    return build


def run_tb(binary, in_text: str, folder) -> list[int]:
    """Run the test bench on ``in_text``; returns the output beats."""
    (folder / "tb_in.txt").write_text(in_text)
    res = subprocess.run([str(binary), str(folder / "tb_in.txt"), str(folder / "tb_out.txt")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return [int(t, 16) for t in (folder / "tb_out.txt").read_text().split()]


@pytest.mark.parametrize("name", list(CASES))
def test_threshold_matches_reference(name, tb_binary, tmp_path):
    c, pe, acc_w, coef_w, thr_w = CASES[name]
    binary = tb_binary(name)
    rng = np.random.default_rng(sum(map(ord, name)))
    for k, style in enumerate(["random", "random", "sorted", "folded", "extreme"]):
        vectors = 1 if k == 0 else 60
        params, acc_x, acc_a = random_case(rng, c, acc_w, coef_w, thr_w, vectors=vectors, style=style)
        paths = write_case_files(tmp_path, params, acc_x, acc_a, pe, acc_w, coef_w, thr_w)
        text = (f"# {name} round {k} ({style})\nthreshold {vectors}\n# parameter words\n"
                + paths["params"].read_text() + "# input beats\n" + paths["in"].read_text())
        out = run_tb(binary, text, tmp_path)
        assert len(out) == vectors * (c // pe)
        got = np.array(unpack_beats(out, pe, 1), dtype=np.int64).reshape(vectors, c)
        want = adabin_threshold_reference(acc_x, acc_a, params)
        bad = np.argwhere(got != want)
        assert bad.size == 0, (style, [(int(v), int(ch), params[ch].tolist(), int(acc_x[v, ch]), int(acc_a[v, 0]))
                                      for v, ch in bad[:3]])
        assert out == [int(t, 16) for t in paths["expected"].read_text().split()]


@pytest.mark.parametrize("name", ["c12_pe3", "wide_pe8_1496bit_params"])
def test_pass_mode_is_identity(name, tb_binary, tmp_path):
    c, pe, acc_w, coef_w, thr_w = CASES[name]
    rng = np.random.default_rng(7)
    _, acc_x, acc_a = random_case(rng, c, acc_w, coef_w, thr_w, vectors=20)
    beats = input_beats(acc_x, acc_a, pe, acc_w)
    text = "pass 20\n" + "".join(f"{b:x}\n" for b in beats)
    assert run_tb(tb_binary(name), text, tmp_path) == beats


def test_tb_rejects_malformed_input(tb_binary, tmp_path):
    binary = tb_binary("c6_pe1")  # PE=1, ACC_W=8: 16-bit input beats, 6 parameter words
    (tmp_path / "bad.txt").write_text("pass 1\n" + "0\n" * 5 + "1ffff\n")  # a beat wider than 16 bits
    res = subprocess.run([str(binary), str(tmp_path / "bad.txt"), "-"], capture_output=True, text=True)
    assert res.returncode == 1 and "does not fit in 16 bits" in res.stderr
    (tmp_path / "bad.txt").write_text("threshold 1\n" + "0\n" * 6)  # the input beats are missing
    res = subprocess.run([str(binary), str(tmp_path / "bad.txt"), "-"], capture_output=True, text=True)
    assert res.returncode == 1 and "expected 6 parameter words and 6 input beats" in res.stderr


def test_packing_helpers():
    # channel 1 (lane 1 of word 0): A=-1, B=2, T0=-3, T1=4, DECODE=0b101 with COEF_W=4, THR_W=5
    words = param_words([[0, 0, 0, 0, 0], [-1, 2, -3, 4, 5]], pe=2, coef_w=4, thr_w=5)
    lane = 0xF | 2 << 4 | 0b11101 << 8 | 4 << 13 | 5 << 18
    assert words == [lane << lane_width(4, 5)]
    # 2 vectors, C=2, PE=1: beat = acc_x | acc_a << ACC_W
    assert input_beats([[1, -1], [2, 3]], [[-2], [5]], pe=1, acc_w=4) == [0xE1, 0xEF, 0x52, 0x53]
    # the same words as the RTL's parameter-file writer (an independent implementation)
    from hw_bnn.features.adabin.memfiles import adabin_param_words
    rng = np.random.default_rng(3)
    for c, pe, acc_w, coef_w, thr_w in CASES.values():
        params, _, _ = random_case(rng, c, acc_w, coef_w, thr_w, vectors=5)
        assert param_words(params, pe, coef_w, thr_w) == adabin_param_words(params, pe, coef_w, thr_w)


def test_ap_types_missing_is_a_clear_error(monkeypatch):
    assert (ap_types_include_dir() / "ap_int.h").is_file()
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(HwBnnError, match=r"bash \.ci/setup.*hls4ml==1\.3\.0 --no-deps"):
        ap_types_include_dir()
