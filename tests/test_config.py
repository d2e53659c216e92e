import pytest

from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError


def write(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_defaults_and_demo_recipe_load():
    """The main job runs a seed method (AdaBin) on the network sfc.yaml runs with the baseline method."""
    demo, sfc = load_config("training/recipes/demo.yaml"), load_config("training/recipes/sfc.yaml")
    assert demo.model.name == "mlp" and demo.data.name == "mnist5k" and demo.method == "adabin"
    assert sfc.method == "baseline"
    assert (demo.model, demo.data, demo.train, demo.build) == (sfc.model, sfc.data, sfc.train, sfc.build)
    assert load_config().build.part.startswith("xc7z020")


def test_dotted_overrides_are_typed(tmp_path):
    cfg = load_config(write(tmp_path, "model: {name: mlp}\n"),
                      ["train.epochs=1", "model.options.hidden=[16, 8]", "build.target_fps=null", "data.n_test=50"])
    assert cfg.train.epochs == 1 and cfg.model.options["hidden"] == [16, 8] and cfg.data.n_test == 50


def test_fps_target_becomes_cycles():
    cfg = load_config(None, ["build.clock_mhz=100", "build.target_fps=1000"])
    assert cfg.build.target_cycles() == 100_000


@pytest.mark.parametrize("text, fragment", [
    ("model: {name: resnet9000}\n", "unknown model 'resnet9000'"),
    ("method: magic\n", "unknown method 'magic'"),
    ("data: {name: tinyimagenet}\n", "unknown dataset 'tinyimagenet'"),
    ("train: {epochz: 3}\n", "train.epochz"),
    ("train: {epochs: many}\n", "train.epochs"),
    ("build: {target_fps: 10, target_cycles_per_frame: 5}\n", "only one of"),
    ("model: {factory: no_colon_here}\n", "package.module:function"),
    ("stages: [train, dance]\n", "stages"),
    ("- just\n- a list\n", "mapping"),
    ("model: {name: [unclosed\n", "not valid YAML"),
])
def test_bad_recipes_name_the_field(tmp_path, text, fragment):
    with pytest.raises(HwBnnError, match="") as info:
        load_config(write(tmp_path, text))
    assert fragment in str(info.value)


def test_missing_file_and_bad_override(tmp_path):
    with pytest.raises(HwBnnError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(HwBnnError, match="dotted.key=value"):
        load_config(None, ["train.epochs"])


@pytest.mark.parametrize("setting, message", [
    ("sim.shards=0", r"sim.shards: Input should be greater than or equal to 1"),
    ("build.fifo_sizing=auto", r"build.fifo_sizing: Input should be 'fixed' or 'simulate'"),
    ("train.weight_decay_on=bn", r"train.weight_decay_on: Input should be 'weights' or 'all'"),
])
def test_sharding_fifo_sizing_and_weight_decay_settings_are_checked(setting, message):
    with pytest.raises(HwBnnError, match=message):
        load_config(None, [setting])
