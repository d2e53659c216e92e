"""ImageFolder data streamed from disk (hw_bnn.imagefolder): on a generated tree of JPEG files."""

import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import hw_bnn.imagefolder as imagefolder
from hw_bnn import flow
from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.imagefolder import ImageFolderSplit, eval_pixels, list_images, load_image_folder
from hw_bnn.train import epoch_shard

CLASSES = ["n01", "n02", "n03"]


def write_image_folder(root: Path, train_per_class: int = 6, val_per_class: int = 3, seed: int = 0) -> Path:
    """train/<class>/*.JPEG and val/<class>/*.JPEG of random sizes; class k's images are brighter with k."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                height, width = rng.integers(40, 90, 2)
                pixels = rng.integers(0, 120, (height, width, 3)) + 60 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{i}.JPEG", quality=95)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("imagefolder"))


def test_shapes_label_order_and_the_eval_transform(tree):
    data = load_image_folder("imagenet", tree, 32, 0.0, 0, seed=1, augment=True)
    assert data.train.classes == CLASSES and data.num_classes == 3 and data.input_shape == (3, 32, 32)
    assert data.n_train == 18 and data.n_test == 9
    assert data.train.labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6  # sorted classes, files sorted in each
    image, label = data.train[7]
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8 and label == 1
    # evaluation: shorter side to 32*256/224 = 37, centre 32x32 crop
    path, _ = data.test.samples[4]
    with Image.open(path) as raw:
        raw = raw.convert("RGB")
        width, height = raw.size
        scale = 37 / min(width, height)
        resized = raw.resize((max(32, round(width * scale)), max(32, round(height * scale))), Image.BILINEAR)
    left, top = (resized.size[0] - 32) // 2, (resized.size[1] - 32) // 2
    want = np.asarray(resized.crop((left, top, left + 32, top + 32))).transpose(2, 0, 1)
    assert np.array_equal(data.test[4][0].numpy(), want)
    assert np.array_equal(eval_pixels(raw, 32), want)


def test_augmentation_depends_on_seed_epoch_and_index_only(tree):
    data = load_image_folder("imagenet", tree, 32, 0.1, 0, seed=1, augment=True)
    first = data.train[3][0]
    assert torch.equal(first, data.train[3][0])  # the same draw, whichever process decodes it
    data.train.set_epoch(1)
    assert not torch.equal(first, data.train[3][0])  # another epoch, another crop
    other_seed = load_image_folder("imagenet", tree, 32, 0.1, 0, seed=2, augment=True)
    assert not torch.equal(first, other_seed.train[3][0])


def test_nothing_is_decoded_before_it_is_asked_for(tree, monkeypatch):
    opened = []
    real_open = imagefolder.Image.open

    def counting_open(path, *args, **kwargs):
        opened.append(Path(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(imagefolder.Image, "open", counting_open)
    data = load_image_folder("imagenet", tree, 32, 0.0, 0, seed=0, augment=True)
    assert opened == []
    images, labels = data.test_images(3)  # spread over the split: one of each class
    assert images.shape == (3, 3, 32, 32) and labels.tolist() == [0, 1, 2] and len(opened) == 3


def test_workers_decode_a_shard_and_exit(tree):
    data = load_image_folder("imagenet", tree, 32, 0.0, 2, seed=0, augment=True)
    shards = [epoch_shard(data.n_train, 5, rank, 2, torch.Generator()) for rank in range(2)]
    assert set(shards[0].tolist()).isdisjoint(shards[1].tolist()) and len(shards[0]) == len(shards[1]) == 9
    seen = []
    for images, labels in data.loader(data.train, 4, shards[0].tolist()):
        assert images.shape[1:] == (3, 32, 32)
        seen += labels.tolist()
    assert seen == data.train.labels[shards[0].numpy()].tolist()
    assert multiprocessing.active_children() == []  # the decoding processes ended with the epoch
    iterator = iter(data.loader(data.train, 2, shards[1].tolist()))
    next(iterator)
    del iterator  # a loop left early: its workers are shut down too
    assert multiprocessing.active_children() == []


def test_bad_trees_are_refused_with_the_fix(tmp_path):
    with pytest.raises(HwBnnError, match="set data.path to the folder holding train/<class>/ and val/<class>/"):
        load_image_folder("imagenet", None, 32, 0.0, 0, 0, True)
    with pytest.raises(HwBnnError, match=r"train is not a folder"):
        load_image_folder("imagenet", tmp_path, 32, 0.0, 0, 0, True)
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(HwBnnError, match=r"class folder .*train/a holds no images"):
        list_images(tmp_path / "train")
    root = write_image_folder(tmp_path / "tree")
    (root / "val" / "n03" / "n03_0.JPEG").rename(root / "val" / "n03_only_file.txt")
    (root / "val" / "n03").rename(root / "val" / "n04")
    with pytest.raises(HwBnnError, match="train/ and val/ .* have different class folders"):
        load_image_folder("imagenet", root, 32, 0.0, 0, 0, True)
    broken = ImageFolderSplit(CLASSES, [(tmp_path / "not_an_image.JPEG", 0)], 32, False)
    (tmp_path / "not_an_image.JPEG").write_text("no pixels here")
    with pytest.raises(HwBnnError, match="not_an_image.JPEG is not a readable image"):
        broken[0]
    good = write_image_folder(tmp_path / "good")
    for size, lighting, workers, fix in ((4, 0.0, 0, "image_size 4 is too small"),
                                         (32, -0.1, 0, "lighting -0.1 must be"), (32, 0.0, -1, "workers -1 must be")):
        with pytest.raises(HwBnnError, match=fix):
            load_image_folder("imagenet", good, size, lighting, workers, 0, True)
    with pytest.raises(HwBnnError, match=r"train.init_from .*missing.pt does not exist; give the model.pt"):
        flow.train_stage(load_config(None, ["data.name=imagenet", f"data.path={good}", "data.image_size=32",
                                            "model.name=imagenet_resnet18", "model.options={width: 0.0625}",
                                            f"train.init_from={tmp_path / 'missing.pt'}"]),
                         tmp_path / "run", progress=lambda _: None)
    with pytest.raises(HwBnnError, match=r"n_train=100 is not possible, the train split has 18 images"):
        load_image_folder("imagenet", write_image_folder(tmp_path / "tree2"), 32, 0.0, 0, 0, True, n_train=100)


#: (architecture, method, method options) of the reduced ImageNet nets through RTL; ResNet-34 and ReActNet-A (with
#: DyBNN's per-sample binarizers) under --runslow
RTL_CASES = [pytest.param("imagenet_resnet18", "baseline", {}, id="resnet18"),
             pytest.param("imagenet_resnet34", "baseline", {}, id="resnet34", marks=pytest.mark.slow),
             pytest.param("reactnet_a", "dybnn", {"residual_shifts": "static", "reduction": 2}, id="reactnet_a",
                          marks=pytest.mark.slow)]


@pytest.mark.parametrize("architecture, method, options", RTL_CASES)
def test_imagenet_nets_train_on_a_streamed_tree_and_are_bit_exact_in_rtl(architecture, method, options, tree,
                                                                         tmp_path):
    """train (top-1 and top-5) -> export -> build -> RTL simulation of an ImageNet net at 1/16 width and 32×32:
    the stride-2 stems, the max-pool after ResNet's, the average-pooled down-sampling shortcuts."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "tiny_imagenet", "method": method, "method_options": options,
        "model": {"name": architecture, "options": {"width": 0.0625}},
        "data": {"name": "imagenet", "path": str(tree), "image_size": 32, "workers": 2},
        "train": {"epochs": 2, "batch_size": 6, "lr": 0.01, "augment": True},
        "build": {"target_cycles_per_frame": 40000, "fifo_sizing": "fixed"},
        "check": {"n_images": 3},
        "stages": ["train", "export", "build", "sim"],
    }))
    report = flow.run(load_config(recipe), tmp_path / "run", progress=lambda _: None)
    epochs = report["train"]["epochs"]
    assert len(epochs) == 2 and all(0 <= e["test_acc"] <= e["test_top5"] == 1.0 for e in epochs)  # 3 classes
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    assert 0.95 <= report["rtl_sim"]["ii_over_estimate"] <= 1.05
    assert np.load(tmp_path / "run" / "test_labels.npy").tolist() == [0, 1, 2]
    with pytest.raises(HwBnnError, match="check.n_images is needed with the streamed dataset 'imagenet'"):
        flow.export_stage(load_config(recipe, ["check.n_images=null"]), tmp_path / "run", progress=lambda _: None)


def test_distillation_from_a_torchvision_layout_teacher_of_another_architecture(tree, tmp_path):
    """A full-precision ResNet-18 in torchvision's layout, from a weights file, teaches the binary ImageNet
    ResNet-18: alpha 1 is the distributional loss alone, so the logged loss is no cross-entropy."""
    from hw_bnn.models.teacher import TorchvisionResNet, load_teacher

    torch.manual_seed(0)
    torch.save(TorchvisionResNet(18, num_classes=3).state_dict(), tmp_path / "resnet18.pth")
    teacher = load_teacher("resnet18", tmp_path / "resnet18.pth", 3)
    assert not any(p.requires_grad for p in teacher.parameters())
    base = ["model.name=imagenet_resnet18", "model.options={width: 0.0625}", "data.name=imagenet",
            f"data.path={tree}", "data.image_size=32", "data.workers=0", "train.epochs=1", "train.batch_size=6"]
    losses = {}
    for alpha in (0.0, 1.0):
        config = load_config(None, [*base, f"train.distill_from={tmp_path / 'resnet18.pth'}",
                                    "train.distill_teacher=resnet18", f"train.distill_alpha={alpha}"])
        flow.train_stage(config, tmp_path / f"alpha{alpha}", progress=lambda _: None)
        losses[alpha] = flow.read_report(tmp_path / f"alpha{alpha}")["train"]["epochs"][0]["loss"]
    assert losses[0.0] != losses[1.0]
    with pytest.raises(HwBnnError, match=r"resnet18\.pth is not a torchvision resnet34 with 3 classes"):
        load_teacher("resnet34", tmp_path / "resnet18.pth", 3)
    with pytest.raises(HwBnnError, match="distill_alpha 2.0 must be in"):
        load_config(None, ["train.distill_alpha=2.0"])


RECIPES = sorted(Path("training/recipes").glob("imagenet_*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_imagenet_recipes_load_with_the_papers_settings(recipe):
    config = load_config(recipe)
    assert config.data.name == "imagenet" and config.model.name in ("imagenet_resnet18", "reactnet_a")
    assert config.name == recipe.stem and config.train.augment and config.check.n_images
    step1 = recipe.with_name(recipe.stem + "_step1.yaml")
    if step1.exists():  # two-step: step 2 starts from step 1's model, both distil from a ResNet-34
        assert config.train.init_from == f"runs/{step1.stem}/model.pt" and load_config(step1).train.float_weights
        assert config.train.distill_from and config.train.distill_alpha == 1.0


def test_the_two_step_recipes_run_on_a_tiny_tree(tree, tmp_path):
    """SD-BNN's ImageNet recipe pair, shrunk (1/16 width, 32×32, one epoch, a ResNet-18 teacher): step 1 with
    real weights and distillation, step 2 from step 1's model.pt."""
    from hw_bnn.models.teacher import TorchvisionResNet

    torch.save(TorchvisionResNet(18, num_classes=3).state_dict(), tmp_path / "teacher.pth")
    small = [f"data.path={tree}", "data.image_size=32", "data.workers=0", "model.options={width: 0.0625}",
             "train.epochs=1", "train.batch_size=6", f"train.distill_from={tmp_path / 'teacher.pth'}",
             "train.distill_teacher=resnet18", "method_options.reduction=2", "check.n_images=3"]
    for stem in ("imagenet_resnet18_sdbnn_step1", "imagenet_resnet18_sdbnn"):
        extra = [f"train.init_from={tmp_path / 'imagenet_resnet18_sdbnn_step1' / 'model.pt'}"] if "step1" not in stem \
            else []
        report = flow.run(load_config(Path("training/recipes") / f"{stem}.yaml", small + extra), tmp_path / stem,
                          progress=lambda _: None)
        assert 0 <= report["train"]["epochs"][0]["test_top5"] <= 1
