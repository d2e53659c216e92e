"""Design-space exploration: designs per folding target, Pareto front, CSV and plot."""

import csv

from model_helpers import randomize_batchnorm

from hw_bnn.explore import pareto_front


def test_pareto_front_keeps_only_undominated_points():
    points = [{"lut": 100, "fps": 10}, {"lut": 200, "fps": 30}, {"lut": 250, "fps": 20}, {"lut": 300, "fps": 30}]
    assert pareto_front(points, "lut") == points[:2]


def test_explore_stage_sweeps_targets(tmp_path):
    from byo_models import tiny_user_net

    from hw_bnn import flow
    from hw_bnn.config import load_config

    cfg = load_config(None, ["check.n_images=5", "explore.targets_fps=[20000, 200000, 2000000]"])
    flow.export_stage(cfg, tmp_path, model=randomize_batchnorm(tiny_user_net((1, 28, 28), 10, width=32)))
    points = flow.explore_stage(cfg, tmp_path)
    assert len(points) == 3
    assert [p["fps"] for p in points] == sorted(p["fps"] for p in points)
    assert points[-1]["fps"] > points[0]["fps"] and points[-1]["lut"] > points[0]["lut"]
    assert any(p["pareto"] for p in points)
    rows = list(csv.DictReader((tmp_path / "explore" / "points.csv").open()))
    assert len(rows) == 3 and (tmp_path / "explore.png").is_file()
    assert len(flow.read_report(tmp_path)["explore"]) == 3
