"""Per-sample (dynamic) thresholds against their static counterparts, on the same network and folding target.

Usage: .venv/bin/python benchmarks/dynamic_thresholds.py [--arch mlp|cnv] [--out DIR] [--reuse DIR]
       [--epochs N] [--images N] [--set k=v ...]

Pairs (seed_methods §2.7, §3.5): SD-BNN's squeeze-excitation ASD (``sdbnn_se``) against its static ASD
(``sdbnn_static``), and DyBNN (``dybnn``) against the plain sign after BatchNorm (``baseline``: a static
RSign threshold is a per-channel constant, which BatchNorm's shift already is). Each method runs train,
export, build, sim (bit-exact check on ``--images`` test images) and Yosys xc7 synthesis into
DIR/<method>; the float hyper-function variants (``hyper_bits: null``) are trained only, for their
accuracy. ``--reuse DIR`` takes trained models from DIR/<name>/seed0/model.pt (e.g. the methods
benchmark's build/methods_fmnist/mlp for the static methods). Prints accuracy, LUT, FF, BRAM, DSP,
cycles per frame and latency from the RTL simulation, the frame-buffer memory from the estimate, and
each dynamic method's cost as differences and ratios.
"""

from __future__ import annotations

import argparse

from adabin_overhead import row, run_method

PAIRS = (("sdbnn_static", "sdbnn_se"), ("baseline", "dybnn"))


def frame_buffer_bits(report: dict) -> int:
    return sum(layer.get("memory_bits", 0) for layer in report["estimate"]["layers"] if layer["op"] == "FrameBuffer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("mlp", "cnv"), default="mlp")
    parser.add_argument("--out", default=None, help="default build/dynamic_thresholds/<arch>")
    parser.add_argument("--reuse", default=None, help="folder with <method>/seed0/model.pt trained models")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's)")
    parser.add_argument("--images", type=int, default=1000, help="test images simulated in RTL")
    parser.add_argument("--set", nargs="*", default=[], help="recipe overrides, key=value")
    args = parser.parse_args()
    args.out = args.out or f"build/dynamic_thresholds/{args.arch}"
    print(f"\nDynamic vs static thresholds, {args.arch} on Fashion-MNIST, Yosys xc7, RTL simulation of "
          f"{args.images} test images\n")
    print("| method | accuracy % | float hyper-function % | bit-exact | LUT | FF | BRAM18 | DSP | frame buffer bits "
          "| cycles/frame | latency cycles |")
    print("|---|---:|---:|:---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = []
    for static, dynamic in PAIRS:
        reports = {name: run_method(name, args) for name in (static, dynamic)}
        floating = run_method(dynamic, args, name=f"{dynamic}_float", extra=("method_options={hyper_bits: null}",),
                              stages=())
        rows = {name: row(name, report) for name, report in reports.items()}
        for name in (static, dynamic):
            r = rows[name]
            float_acc = f"{100 * floating['train']['epochs'][-1]['test_acc']:.2f}" if name == dynamic else ""
            print(f"| {name} | {100 * r['accuracy']:.2f} | {float_acc} | {'yes' if r['bit_exact'] else 'NO'} | "
                  f"{r['lut']:,} | {r['ff']:,} | {r['bram']} | {r['dsp']} | {frame_buffer_bits(reports[name]):,} | "
                  f"{r['cycles']:.0f} | {r['latency']:,} |")
        s, d = rows[static], rows[dynamic]
        ratio = lambda key: d[key] / s[key] if s[key] else float("nan")  # noqa: E731
        lines.append(f"| {dynamic} - {static} | {100 * (d['accuracy'] - s['accuracy']):+.2f} | | | {d['lut'] - s['lut']:+,} | "
                     f"{d['ff'] - s['ff']:+,} | {d['bram'] - s['bram']:+} | {d['dsp'] - s['dsp']:+} | | "
                     f"{d['cycles'] - s['cycles']:+.0f} | {d['latency'] - s['latency']:+,} |")
        lines.append(f"| {dynamic} / {static} | | | | {ratio('lut'):.2f}x | {ratio('ff'):.2f}x | | | | "
                     f"{ratio('cycles'):.2f}x | {ratio('latency'):.2f}x |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
