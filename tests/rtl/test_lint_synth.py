"""Every hls/rtl module: Verilator -Wall lint clean, and Yosys synth_xilinx (xc7) and
synth_ecp5 run without error on one small parameterisation."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from hw_bnn.errors import HwBnnError
from hw_bnn.rtl.verilator import RTL_DIR, Sim, rtl_source, verilator_bin, with_submodules, yosys_command
from hw_bnn.features.dynamic_threshold.memfiles import (HYPER_MEMORIES, write_hyper_memories,
                                                        write_multi_threshold_table, write_sign_file)
from hw_bnn.features.adabin.memfiles import write_adabin_params
from hw_bnn.rtl.memfiles import write_mvau_weights, write_thresholds

# module -> parameterisations to lint (odd widths, folding corner cases)
LINT = {
    "mvau": [
        {},
        dict(MW=1, MH=1, SIMD=1, PE=1),
        dict(MW=40, MH=10, SIMD=8, PE=2, NO_ACT=1, OUT_W=8),
        dict(MW=27, MH=64, SIMD=27, PE=16, XNOR=0, IN_W=8, THR_W=18),
        dict(MW=12, MH=4, SIMD=3, PE=2, XNOR=0, IN_W=4, IN_SIGNED=1, NO_ACT=1, OUT_W=24),
        dict(MW=16, MH=6, SIMD=2, PE=6, N_THR=3, OUT_W=2, ACT_BIAS=-2),
        dict(MW=16, MH=8, SIMD=4, PE=2, NO_ACT=1, OUT_W=8, COUNT=1),
        dict(MW=9, MH=3, SIMD=1, PE=1, NO_ACT=1, OUT_W=5, COUNT=1),
        dict(MW=27, MH=64, SIMD=27, PE=16, XNOR=0, IN_W=8, NO_ACT=1, OUT_W=16, COUNT=1),
        dict(MW=12, MH=4, SIMD=3, PE=2, XNOR=0, IN_W=4, IN_SIGNED=1, NO_ACT=1, OUT_W=24, COUNT=1),
        dict(MW=16, MH=8, SIMD=4, PE=2, XNOR=0, IN_W=8, WEIGHT_W=4, THR_W=18),
        dict(MW=12, MH=6, SIMD=1, PE=3, XNOR=0, IN_W=8, IN_SIGNED=1, WEIGHT_W=8, NO_ACT=1, OUT_W=12),
        dict(MW=24, MH=4, SIMD=1, PE=4, XNOR=0, IN_W=8, IN_SIGNED=1, WEIGHT_W=4, N_THR=255, THR_W=18, OUT_W=8),
        dict(MW=64, MH=10, SIMD=32, PE=5, XNOR=0, IN_W=4, IN_SIGNED=1, WEIGHT_W=2, NO_ACT=1, OUT_W=16),
        dict(MW=1, MH=1, SIMD=1, PE=1, XNOR=0, IN_W=1, WEIGHT_W=2, NO_ACT=1, OUT_W=2),
        dict(MW=64, MH=64, SIMD=64, PE=64, WEIGHT_STYLE='"distributed"'),
    ],
    "thresholding": [{}, dict(C=5, PE=5, IN_W=4, IN_SIGNED=1), dict(C=6, PE=3, N_THR=3, OUT_W=2, ACT_BIAS=-2),
                     dict(C=6, PE=3, N_THR=3, OUT_W=2, SHARED_THR=1),
                     dict(C=6, PE=3, IN_W=5, IN_SIGNED=1, N_THR=3, OUT_W=2, SHARED_THR=1, LOOKUP=1)],
    "adabin_threshold": [
        {},
        dict(C=1, PE=1, ACC_W=2, COEF_W=2, THR_W=2),
        dict(C=6, PE=3, ACC_W=24, COEF_W=32, THR_W=60),
        dict(C=64, PE=16, ACC_W=40, COEF_W=40, THR_W=64),
        dict(C=10, PE=5, ACC_W=40, PASS=1),
    ],
    "threshold_count": [
        {},
        dict(PE=1, IN_W=1, THR_W=2),
        dict(PE=3, IN_W=4, IN_SIGNED=1, N_THR=3, OUT_W=2, ACT_BIAS=-2),
        dict(PE=2, IN_W=40, IN_SIGNED=1, N_THR=15, THR_W=32, OUT_W=32, ACT_BIAS=-8),
    ],
    "sliding_window": [
        {},
        dict(IFM_DIM=32, C=3, SIMD=3, K=3, ELEM_W=8),
        dict(IFM_DIM=5, C=1, SIMD=1, K=1, STRIDE=2),
        dict(IFM_DIM=6, C=64, SIMD=16, K=2, STRIDE=2, DEPTHWISE=1),
        dict(IFM_DIM=3, C=8, SIMD=8, K=3, BUF_ROWS=3),
    ],
    "pool_max": [{}, dict(K=1), dict(K=3, PE=3, ELEM_W=4, SIGNED=1)],
    "label_select": [
        {},
        dict(LABELS=1, PE=1, K=1, IN_W=1, IN_SIGNED=0, OUT_W=1),
        dict(LABELS=10, PE=5, K=3, IN_W=4),
        dict(LABELS=10, PE=10, K=10, IN_W=32, OUT_W=32),
        dict(LABELS=256, PE=4, K=2, IN_W=1, IN_SIGNED=0, OUT_W=8),
    ],
    "fm_padding": [
        {},
        dict(PAD_T=0, PAD_L=0, PAD_B=0, PAD_R=0, C=1, SIMD=1),
        dict(IMG_H=1, IMG_W=1, PAD_T=2, PAD_L=0, PAD_B=3, PAD_R=1, C=6, SIMD=3, ELEM_W=1),
        dict(IMG_H=32, IMG_W=28, C=3, SIMD=3),
    ],
    "frame_channel_sums": [{}, dict(C=1, PE=1, PIXELS=1, IN_W=1, OUT_W=1), dict(C=6, PE=3, PIXELS=576, IN_W=10, OUT_W=20)],
    "frame_threshold": [{}, dict(C=1, PE=1, PIXELS=1, W=2), dict(C=256, PE=16, PIXELS=1, W=12)],
    "frame_multi_threshold": [
        {},
        dict(C=1, PE=1, PIXELS=1, W=2, L=1, N_THR=1, THR_W=2, ACT_BIAS=0, OUT_W=2),
        dict(C=6, PE=6, PIXELS=3, W=2, L=4, N_THR=3, THR_W=4, ACT_BIAS=-2, OUT_W=2),
        dict(C=128, PE=8, PIXELS=1, W=16, L=27, N_THR=15, THR_W=18, ACT_BIAS=-8, OUT_W=4),
        dict(C=5, PE=5, PIXELS=4, W=48, L=3, N_THR=2, THR_W=48, OUT_W=32),
    ],
    "frame_buffer": [
        {},
        dict(C=1, PE=1, PIXELS=1, W=2, DATA_W=1),
        dict(C=32, PE=4, PIXELS=100, W=20, DATA_W=11, FRAMES=3),
    ],
    "hyper_function": [
        {},
        dict(C=1, PE=1, PIXELS=1, J=1, MACS=3, HEADS=3),
        dict(C=256, PE=8, PIXELS=1, W=12, J=16, NP=15, NH=15, H_W=4, NO=15, MACS=16, P_W=5, WT_W=4, A1_W=18,
             A2_W=14),
    ],
    "stream_fifo": [{}, dict(WIDTH=1, DEPTH=1), dict(WIDTH=70, DEPTH=5)],
    "skid_buffer": [{}, dict(WIDTH=1), dict(WIDTH=70)],
    "credit_fifo": [{}, dict(WIDTH=1, DEPTH=1), dict(WIDTH=70, DEPTH=2), dict(WIDTH=256, DEPTH=9)],
    "packed_param_rom": [{}, dict(WIDTH=1, DEPTH=2, PACK=2), dict(WIDTH=3, DEPTH=1176, PACK=392)],
    "fold_param_rom": [{}, dict(WIDTH=1, DEPTH=1), dict(WIDTH=130, DEPTH=5), dict(WIDTH=3, DEPTH=1, REG_READ=0),
                       dict(WIDTH=72, DEPTH=16, REG_READ=0), dict(WIDTH=9, DEPTH=3, STYLE='"distributed"'),
                       dict(WIDTH=9, DEPTH=3, REG_READ=0, STYLE='"block"'), dict(WIDTH=7, DEPTH=28, REG_READ=2)],
    "mvau_lane": [{}, dict(SIMD=1), dict(SIMD=27, XNOR=0, IN_W=8), dict(SIMD=3, XNOR=0, IN_W=4, IN_SIGNED=1, WEIGHT_W=4),
                  dict(SIMD=1, XNOR=0, IN_W=8, WEIGHT_W=2), dict(SIMD=64, REG_EVERY=1)],
    "adder_tree": [{}, dict(N=2), dict(N=3, TERM_W=2, SIGNED=1, LEVEL_OFFSET=1), dict(N=784, REG_EVERY=2),
                   dict(N=27, TERM_W=9, SIGNED=1, REG_EVERY=1)],
    "hyper_mac_layer": [
        {},
        dict(MACS=1, X_W=1, X_SIGNED=0, WT_W=2, ACC_W=2, N_THR=1, LEVEL_W=1),
        dict(MACS=4, X_W=4, X_SIGNED=0, WT_W=4, ACC_W=18, N_THR=15, LEVEL_W=4),
        dict(MACS=2, X_W=8, WT_W=8, ACC_W=10, N_THR=3, LEVEL_W=5),
    ],
    "duplicate_streams": [{}, dict(WIDTH=1), dict(WIDTH=70)],
    "add_streams": [
        {},
        dict(PE=1, A_W=1, A_SIGNED=0, B_W=1, B_SIGNED=0, OUT_W=2, OUT_SIGNED=0),
        dict(PE=3, A_W=4, A_SIGNED=0, B_W=8, B_SIGNED=1, OUT_W=9),
        dict(PE=4, A_W=32, B_W=32, OUT_W=33),
        dict(PE=2, A_W=8, B_W=8, OUT_W=4),
    ],
    "global_acc_pool": [{}, dict(C=1, PE=1, N_PIX=1, IN_W=1, OUT_W=1), dict(C=6, PE=3, N_PIX=576, IN_W=10, OUT_W=20),
                        dict(C=64, PE=4, N_PIX=64, IN_W=4, IN_SIGNED=0, OUT_W=10)],
    "channelwise_op": [{}, dict(C=1, PE=1, IN_W=1, IN_SIGNED=0, PARAM_W=2, OUT_W=2, OUT_SIGNED=0, OP=0),
                       dict(C=64, PE=16, IN_W=16, PARAM_W=18, OUT_W=34),
                       dict(C=4, PE=4, IN_W=32, PARAM_W=32, OUT_W=48)],
    "width_converter": [{}, dict(IN_W=2, OUT_W=6), dict(IN_W=6, OUT_W=6), dict(IN_W=96, OUT_W=32)],
    "uart_rx": [{}, dict(CLKS_PER_BIT=4), dict(CLKS_PER_BIT=5), dict(CLKS_PER_BIT=868)],
    "uart_tx": [{}, dict(CLKS_PER_BIT=2), dict(CLKS_PER_BIT=4), dict(CLKS_PER_BIT=5)],
    "async_fifo": [{}, dict(WIDTH=1, ADDR_W=2), dict(WIDTH=200, ADDR_W=5)],
    "uart_bridge": [
        {},
        dict(IN_W=1, OUT_W=1, IN_BEATS=1, OUT_BEATS=1),
        dict(IN_W=8, OUT_W=8, IN_BEATS=2, OUT_BEATS=2),
        dict(IN_W=12, OUT_W=150, IN_BEATS=3, OUT_BEATS=70000),
        dict(IN_W=200, OUT_W=112, IN_BEATS=1024, OUT_BEATS=1),
    ],
}

LINT_CASES = [(m, i) for m, ps in LINT.items() for i in range(len(ps))]


@pytest.mark.parametrize("module,idx", LINT_CASES, ids=[f"{m}-{i}" for m, i in LINT_CASES])
def test_lint(module, idx):
    params = LINT[module][idx]
    cmd = [verilator_bin(), "--lint-only", "-Wall", "--top-module", module]
    cmd += [str(rtl_source(m)) for m in with_submodules([module])]
    cmd += [f"-G{k}={v}" for k, v in params.items()]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0 and "%Warning" not in res.stderr, res.stderr


def test_all_modules_listed():
    assert sorted(p.stem for p in RTL_DIR.rglob("*.v")) == sorted(LINT)


# module -> (params, memory files {param: writer(path)})
def _mvau_mems(d):
    rng = np.random.default_rng(0)
    write_mvau_weights(d / "w.mem", rng.integers(0, 2, (16, 8)), pe=2, simd=4)
    write_thresholds(d / "t.mem", rng.integers(0, 17, (8, 1)), pe=2, width=8)


def _thr_mems(d):
    rng = np.random.default_rng(0)
    write_thresholds(d / "t.mem", rng.integers(0, 256, (4, 1)), pe=2, width=10)


def _adabin_mems(d):
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.integers(-128, 128, (4, 2)), rng.integers(-2000, 2000, (4, 2)),
                        rng.integers(0, 8, (4, 1))], axis=1)
    write_adabin_params(d / "p.mem", p, pe=2, coef_w=8, thr_w=16)


def _frame_threshold_mems(d):
    write_sign_file(d / "s.mem", [1, -1, -1, 1], pe=2)


def _frame_multi_threshold_mems(d):
    table = np.random.default_rng(0).integers(-128, 128, (4, 3, 3))
    write_multi_threshold_table(d / "t.mem", table, pe=2, thr_w=8)


HYPER_FILES = {name: f"{name.removesuffix('_FILE').lower()}.mem" for name in HYPER_MEMORIES}


def _hyper_mems(d):
    rng = np.random.default_rng(0)
    params = {"pool_sign": [1, -1, 1, 1], "pool_thresholds": rng.integers(-40, 40, (4, 3)),
              "w1": rng.integers(-7, 8, (2, 4)), "hidden_thresholds": rng.integers(-50, 50, (2, 3)),
              "w2": rng.integers(-7, 8, (4, 2)), "output_thresholds": rng.integers(-40, 40, (4, 3)),
              "table": rng.integers(-200, 200, (4, 4))}
    write_hyper_memories({name: d / f for name, f in HYPER_FILES.items()}, params, pe=2, macs=1,
                         widths=dict(W=12, WT_W=4, A1_W=12, A2_W=12))


def _channel_mems(d):
    write_thresholds(d / "p.mem", np.array([[-3], [17], [-32], [5]]), 2, 6)


def _rom_mems(d):
    (d / "p.mem").write_text("".join(f"{v:03x}\n" for v in (0x5a3, 0x0ff, 0xc01, 0x7e7)))


def _packed_rom_mems(d):
    (d / "p.mem").write_text("".join(f"{v:02x}\n" for v in (0x1b, 0x3c, 0x05, 0x2e)))


SYNTH = {
    "mvau": (dict(MW=16, MH=8, SIMD=4, PE=2, THR_W=8, WEIGHT_FILE="w.mem", THRESH_FILE="t.mem"), _mvau_mems),
    "thresholding": (dict(C=4, PE=2, IN_W=8, THR_W=10, THRESH_FILE="t.mem"), _thr_mems),
    "adabin_threshold": (dict(C=4, PE=2, ACC_W=10, COEF_W=8, THR_W=16, PARAM_FILE="p.mem"), _adabin_mems),
    "threshold_count": (dict(PE=2, IN_W=8, N_THR=3, THR_W=10, OUT_W=2), None),
    "sliding_window": (dict(IFM_DIM=8, C=4, SIMD=2, K=3, STRIDE=1), None),
    "pool_max": (dict(K=2, PE=4, ELEM_W=1), None),
    "label_select": (dict(LABELS=10, PE=2, K=2, IN_W=8, OUT_W=8), None),
    "fm_padding": (dict(IMG_H=6, IMG_W=5, PAD_T=1, PAD_L=2, PAD_B=0, PAD_R=1, C=4, SIMD=2, ELEM_W=8), None),
    "frame_channel_sums": (dict(C=4, PE=2, PIXELS=9, IN_W=6, OUT_W=10), None),
    "frame_threshold": (dict(C=4, PE=2, PIXELS=9, W=10, SIGN_FILE="s.mem"), _frame_threshold_mems),
    # ACT_BIAS left at its default (-8): chparam takes no negative values
    "frame_multi_threshold": (dict(C=4, PE=2, PIXELS=9, W=8, L=3, N_THR=3, THR_W=8, OUT_W=4,
                                   TABLE_FILE="t.mem"), _frame_multi_threshold_mems),
    "frame_buffer": (dict(C=16, PE=2, PIXELS=64, W=12, DATA_W=8), None),
    "hyper_function": (dict(C=4, PE=2, PIXELS=9, W=12, **HYPER_FILES), _hyper_mems),
    "stream_fifo": (dict(WIDTH=8, DEPTH=32), None),
    "skid_buffer": (dict(WIDTH=8), None),
    "credit_fifo": (dict(WIDTH=8, DEPTH=6), None),
    "packed_param_rom": (dict(WIDTH=2, DEPTH=12, PACK=3, FILE="p.mem"), _packed_rom_mems),
    "fold_param_rom": (dict(WIDTH=12, DEPTH=4, FILE="p.mem"), _rom_mems),
    "adder_tree": (dict(N=12, TERM_W=2, SIGNED=1), None),
    "mvau_lane": (dict(SIMD=6, XNOR=0, IN_W=4, WEIGHT_W=3), None),
    "hyper_mac_layer": (dict(MACS=2, X_W=3, WT_W=4, ACC_W=10, N_THR=3, LEVEL_W=2), None),
    "duplicate_streams": (dict(WIDTH=8), None),
    "add_streams": (dict(PE=2, A_W=4, A_SIGNED=0, B_W=8, B_SIGNED=1, OUT_W=9), None),
    "global_acc_pool": (dict(C=4, PE=2, N_PIX=9, IN_W=6, OUT_W=10), None),
    "channelwise_op": (dict(C=4, PE=2, IN_W=8, PARAM_W=6, OUT_W=14, OP=1, PARAM_FILE="p.mem"), _channel_mems),
    "width_converter": (dict(IN_W=8, OUT_W=2), None),
    "uart_rx": (dict(CLKS_PER_BIT=217), None),
    "uart_tx": (dict(CLKS_PER_BIT=217), None),
    "async_fifo": (dict(WIDTH=12, ADDR_W=3), None),
    "uart_bridge": (dict(IN_W=32, OUT_W=6, IN_BEATS=196, OUT_BEATS=10), None),
}


def _chparam(params):
    out = []
    for k, v in params.items():
        out.append(f'-set {k} "{v}"' if isinstance(v, str) else f"-set {k} {int(v)}")
    return " ".join(out)


@pytest.mark.parametrize("module", list(SYNTH))
def test_yosys_synth(module, tmp_path):
    """Yosys (WebAssembly) only sees files under its cwd: copy sources and memory files there."""
    params, mems = SYNTH[module]
    files = [f"{m}.v" for m in with_submodules([module])]
    for name in files:
        shutil.copy(rtl_source(name.removesuffix(".v")), tmp_path / name)
    if mems:
        mems(tmp_path)
    read = f"read_verilog -defer {' '.join(files)}; chparam {_chparam(params)} {module}"
    script = (
        f"{read}; synth_xilinx -family xc7 -top {module}; tee -o xc7.txt stat; design -reset; "
        f"{read}; synth_ecp5 -top {module}; tee -o ecp5.txt stat"
    )
    res = subprocess.run([*yosys_command(), "-q", "-p", script], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for rep, ff in (("xc7.txt", "FDRE"), ("ecp5.txt", "TRELLIS_FF")):
        text = (tmp_path / rep).read_text()
        if module == "threshold_count":  # combinational: LUTs, no flip-flops
            assert re.search(r"\d+\s+LUT\d", text) and ff not in text, f"{module}: {rep}:\n{text}"
        else:
            assert re.search(rf"\d+\s+{ff}", text), f"{module}: no flip-flops in {rep}:\n{text}"


def test_threshold_count_of_255_thresholds_is_a_shallow_tree(tmp_path):
    """An 8-bit input's 255 thresholds compared and counted in one cycle: the count is a balanced tree of
    the compare bits, some 30 cells deep on ECP5, not a chain of 255 increments (513 cells deep, which
    held BNN-PYNQ's CNV to 1.8 MHz)."""
    shutil.copy(rtl_source("threshold_count"), tmp_path / "threshold_count.v")
    script = ("read_verilog -defer threshold_count.v; chparam -set PE 1 -set IN_W 8 -set N_THR 255 -set THR_W 9 "
              "-set OUT_W 8 threshold_count; synth_ecp5 -top threshold_count; tee -o ltp.txt ltp -noff")
    res = subprocess.run([*yosys_command(), "-q", "-p", script], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    depth = int(re.search(r"Longest topological path in threshold_count \(length=(\d+)\)",
                          (tmp_path / "ltp.txt").read_text()).group(1))
    assert depth <= 40, depth


@pytest.mark.parametrize("style,block_rams", [("block", True), ("distributed", False)])
def test_weight_memory_style_decides_block_ram_or_logic(style, block_rams, tmp_path):
    """A shallow, wide ROM (an MVAU's weights at high PE x SIMD): STYLE="block" gives DP16KD block
    RAMs, STYLE="distributed" LUT logic and not one block RAM."""
    shutil.copy(rtl_source("fold_param_rom"), tmp_path / "fold_param_rom.v")
    rng = np.random.default_rng(0)
    (tmp_path / "p.mem").write_text("".join(f"{int(v):018x}\n" for v in rng.integers(0, 2**62, 32)))
    script = (f'read_verilog -defer fold_param_rom.v; chparam -set WIDTH 72 -set DEPTH 32 -set FILE "p.mem" '
              f'-set STYLE "{style}" fold_param_rom; synth_ecp5 -top fold_param_rom; tee -o ecp5.txt stat')
    res = subprocess.run([*yosys_command(), "-q", "-p", script], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    text = (tmp_path / "ecp5.txt").read_text()
    assert ("DP16KD" in text) == block_rams, text
    assert block_rams or re.search(r"\d+\s+LUT4", text), text


def test_illegal_parameters_stop_simulation():
    """SIMD not dividing MW: the initial-block check ends the simulation with an error."""
    sim = Sim("mvau", dict(MW=10, MH=4, SIMD=4, PE=2), mem_params=("WEIGHT_FILE", "THRESH_FILE"))
    sim.mem_path("WEIGHT_FILE").write_text("00\n" * 8)
    sim.mem_path("THRESH_FILE").write_text("0000\n" * 2)
    with pytest.raises(HwBnnError, match="SIMD must divide MW"):
        sim.run([0] * 4, n_out=2)
