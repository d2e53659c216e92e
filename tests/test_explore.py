"""Design-space exploration: per-layer foldings estimated with hw_bnn's resource model, the Pareto front,
the choice under constraints, and the front synthesised on a 2-worker local Dask cluster."""

import csv
import json

import pytest
from model_helpers import randomize_batchnorm
from test_data import raises

from hw_bnn.explore import candidate_foldings, evaluate, folding_options, pareto_front


def test_pareto_front_keeps_only_undominated_points():
    points = [{"lut": 100, "fps": 10}, {"lut": 200, "fps": 30}, {"lut": 250, "fps": 20}, {"lut": 300, "fps": 30}]
    assert pareto_front(points, "lut") == points[:2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small user net, exported and built (FIFOs at fixed depth)."""
    from byo_models import tiny_user_net

    from hw_bnn import flow
    from hw_bnn.config import load_config

    out = tmp_path_factory.mktemp("explore")
    # a LUT budget keeps the synthesised designs (the front within it, and the chosen one) small
    cfg = load_config(None, ["check.n_images=5", "build.fifo_sizing=fixed", "explore.workers=2", "explore.max_lut=3000",
                             "explore.synthesize_front=2", "explore.synthesize_off_front=0"])
    flow.export_stage(cfg, out, model=randomize_batchnorm(tiny_user_net((1, 28, 28), 10, width=32)))
    flow.build_stage(cfg, out)
    return cfg, out


def test_candidates_are_legal_and_span_the_range(built):
    from hw_bnn.export import load_qonnx

    cfg, out = built
    model = load_qonnx(out / "hw_graph.onnx")
    options = folding_options(model)
    foldings = candidate_foldings(options, max_points=200)
    assert 20 <= len(foldings) <= 200
    points = [evaluate(model, folding, "xc7", 100.0, 32) for folding in foldings]  # apply_folding checks legality
    # from fully folded to the fastest any layer allows
    assert max(p["cycles_per_frame"] for p in points) == max(max(c for _, c in choices) for choices in options.values())
    assert min(p["cycles_per_frame"] for p in points) == max(min(c for _, c in choices) for choices in options.values())
    # more parallel designs cost more: the fastest estimated point is larger than the slowest
    by_speed = sorted(points, key=lambda p: p["fps"])
    assert by_speed[-1]["lut"] > by_speed[0]["lut"]


def test_estimate_of_the_built_folding_is_the_build_reports(built):
    """explore's estimate of the folding the build chose equals what the build reported for it: the same
    plan, the same model, FINN's cycles."""
    from hw_bnn import flow
    from hw_bnn.export import load_qonnx

    cfg, out = built
    report = flow.read_report(out)
    folding = json.loads((out / "folding.json").read_text())
    point = evaluate(load_qonnx(out / "hw_graph.onnx"), folding, "xc7", cfg.build.clock_mhz, cfg.sim.fifo_depth)
    assert point["cycles_per_frame"] == report["estimate"]["cycles_per_frame"]
    assert point["lut"] == report["estimate"]["hw_bnn"]["xc7"]["resources"]["LUT"]


def test_explore_stage_synthesises_the_front_on_a_local_dask_cluster(built):
    from hw_bnn import flow

    cfg, out = built
    points = flow.explore_stage(cfg, out)
    assert len(points) >= 20
    rows = list(csv.DictReader((out / "explore" / "points.csv").open()))
    assert len(rows) == len(points)
    synthesised = [r for r in rows if r["yosys_lut"]]
    assert 2 <= len(synthesised) <= 3  # 2 on the front and the chosen one (which may be one of them)
    for row in synthesised:
        assert int(row["yosys_lut"]) > 0 and row["lut_error"] != ""
    assert sum(r["chosen"] == "True" for r in rows) == 1
    report = flow.read_report(out)["explore"]
    assert report["synthesised"] == len(synthesised) and report["lut_error_worst"] is not None
    assert (out / "explore.png").is_file()
    # the chosen folding builds as it was estimated
    chosen = json.loads((out / "explore" / "folding.json").read_text())
    rebuilt = out / "rebuilt"
    rebuilt.mkdir()
    for name in ("export.onnx", "test_inputs.npy", "test_labels.npy", "pytorch_outputs.npy", "report.json"):
        (rebuilt / name).write_bytes((out / name).read_bytes())
    (out / "chosen.json").write_text(json.dumps(chosen))
    from hw_bnn.config import load_config

    flow.build_stage(load_config(None, ["check.n_images=5", "build.fifo_sizing=fixed",
                                        f"build.folding_file={out / 'chosen.json'}"]), rebuilt)
    assert flow.read_report(rebuilt)["estimate"]["cycles_per_frame"] == report["chosen"]["cycles_per_frame"]


def test_an_infeasible_budget_names_the_smallest_designs_cost(built):
    from hw_bnn import flow
    from hw_bnn.config import load_config

    _, out = built
    cfg = load_config(None, ["explore.max_lut=10", "explore.synthesize_front=0", "explore.synthesize_off_front=0"])
    with raises(r"no folding fits the budget \(lut <= 10\): the smallest design needs [\d,]+ LUT"):
        flow.explore_stage(cfg, out)


def test_an_ice40_device_is_explored_with_the_ice40_model(built):
    """iCE40 is calibrated too: an UP5K search estimates every folding with the iCE40 model (LCs and
    SB_RAM40_4K) and chooses one that fits the part."""
    from hw_bnn import flow
    from hw_bnn.config import load_config
    from hw_bnn.explore import fitting

    _, out = built
    cfg = load_config(None, ["explore.device=up5k", "explore.synthesize_front=0", "explore.synthesize_off_front=0"])
    points = flow.explore_stage(cfg, out)
    report = flow.read_report(out)["explore"]
    assert report["family"] == "ice40" and report["synthesised"] == 0
    (chosen,) = [p for p in points if p["chosen"]]
    assert 0 < chosen["lut"] <= 5280 and chosen["bram"] <= 30  # the UP5K's LCs and SB_RAM40_4K
    assert chosen["cycles_per_frame"] == min(p["cycles_per_frame"] for p in fitting(points, cfg.explore, "ice40"))


def test_an_unreachable_target_names_the_fastest_design_that_fits(built):
    from hw_bnn import flow
    from hw_bnn.config import load_config

    _, out = built
    cfg = load_config(None, ["explore.max_lut=3000", "explore.target_fps=1e12", "explore.synthesize_front=0",
                             "explore.synthesize_off_front=0"])
    with raises(r"no folding that fits reaches explore.target_fps=1,000,000,000,000: the fastest that fits gives"):
        flow.explore_stage(cfg, out)


@pytest.mark.parametrize("setting", ["explore.max_points=0", "explore.synthesize_front=-1"])
def test_counts_out_of_range_are_refused_by_the_recipe(setting):
    from hw_bnn.config import load_config

    with raises(setting.split("=")[0] + " must be >="):
        load_config(None, [setting])


def test_an_unknown_device_is_refused(built):
    from hw_bnn import flow
    from hw_bnn.config import load_config

    _, out = built
    with raises("unknown device 'zynq9000'"):
        flow.explore_stage(load_config(None, ["explore.device=zynq9000"]), out)
