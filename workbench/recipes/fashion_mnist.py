"""The zoo's Fashion-MNIST classifier: the ImageNet MobileNetV2 fine-tuned on clothing photos.

    Debian's dataset-fashion-mnist (workbench.recipes.fashion_mnist_data): 28 × 28 grayscale, 10 classes
      train file: the first TRAIN_SAMPLES images ─► train;  its last VALIDATION_SAMPLES ─► validation
      t10k file:  all 10,000 images ─► test (held out, as published)
    ─► the ImageNet MobileNetV2 (recipe imagenet-mobilenet: <zoo>/image-classification/, ported if absent)
       with a new 10-way head (ignore_mismatched_sizes=True; id2label = fashion_mnist_data.LABELS)
    ─► training rows: gray → RGB, RandomResizedCrop(RESOLUTION) + RandomHorizontalFlip (torchvision), then
       the image processor with do_resize=False, applied on the fly (datasets' with_transform);
       evaluation rows: the image processor alone (resize to RESOLUTION, center crop: nothing cut)
    ─► Trainer (DefaultDataCollator, remove_unused_columns=False), accuracy on the test split before
       (the untrained head) and after training
    ─► <zoo>/fashion-mnist/: config.json, model.safetensors, preprocessor_config.json (RESOLUTION px), zoo.json

The images are upsampled to RESOLUTION px: MobileNetV2 downsamples 32-fold, so 28 px would leave one
feature vector per image; 64 px leaves 2 × 2 and trains at a few hundred images a second per core.
This is the image classification recipe of the Transformers documentation (task guide "Image
classification"; "Preprocess": RandomResizedCrop + the image processor with do_resize=False in
set_transform) on data that ships offline.

Measured (the full default build, ``workbench zoo build fashion-mnist``, seed 0) on 2 cores of an
"Intel(R) Xeon(R) Processor" (lscpu), shared with other jobs, one torch thread: test accuracy 0.0717
with the untrained head, 0.8698 after one epoch (157 steps of 64 at 64 px in 146 s; validation 0.859,
test loss 0.367); 6 min 9 s in all (195 CPU seconds), most of it the three evaluations. The folder
loads unchanged in transformers: its image-classification pipeline scores 0.89 on the first 200 test images.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import fashion_mnist_data as data
from .sentiment import Stages, _datasets_bars_off, _stage_bars_class, torch_threads, useful_threads

RESOLUTION = 64
TRAIN_SAMPLES = 10_000  # of the 60,000: one epoch fits a few CPU minutes on two cores
VALIDATION_SAMPLES = 1_000  # the end of the train file, never trained on
RANDOM_CROP_SCALE = (0.6, 1.0)  # the items fill the 28-px frame: a crop of 8% (torchvision's default) is mostly background
# MobileNetV2 (HF's, so ours) passes TensorFlow's decay 0.997 to BatchNorm2d as its momentum: the running
# statistics become the LAST training batch's (the epoch's last, partial one). torch's 0.1 averages ~10
# batches: measured on 2,000 training images, 0.774 test accuracy instead of 0.706. The attribute is not
# saved: a loaded model has the family's 0.997 again (it matters only in training).
BATCH_NORM_MOMENTUM = 0.1
HYPERPARAMETERS = dict(learning_rate=1e-3, per_device_train_batch_size=64, per_device_eval_batch_size=256,
                       weight_decay=0.01, warmup_ratio=0.05, lr_scheduler_type="cosine")
STAGES = ["reading Fashion-MNIST", "loading the ImageNet MobileNetV2", "scoring the untrained head", "training",
          "evaluating", "saving"]


def split_sizes(max_samples: int | None) -> dict[str, int]:
    """How many images each split gets: the defaults, or 80/10/10 of ``max_samples`` (a quick build)."""
    if max_samples is None:
        return {"train": TRAIN_SAMPLES, "validation": VALIDATION_SAMPLES, "test": 10_000}
    test = validation = max(1, max_samples // 10)
    return {"train": max_samples - test - validation, "validation": validation, "test": test}


def load_splits(sizes: dict[str, int], folder=data.FOLDER):
    """A ``datasets.DatasetDict`` (train/validation/test) of ``image`` (PIL, gray) and ``label`` rows."""
    import datasets

    images, labels = data.load_arrays("train", folder)
    if sizes["train"] + sizes["validation"] > len(images):
        raise ValueError(f"{sizes['train']} training and {sizes['validation']} validation images do not fit in "
                         f"Fashion-MNIST's {len(images):,} training images.")
    end = len(images) - sizes["validation"]  # only the rows kept are encoded (PNG): 60,000 take a while
    return datasets.DatasetDict(
        train=data.as_dataset(images[:sizes["train"]], labels[:sizes["train"]], "train"),
        validation=data.as_dataset(images[end:], labels[end:], "validation"),
        test=data.load_fashion_mnist("test", limit=sizes["test"], folder=folder))


def image_processor(base: str, resolution: int = RESOLUTION):
    """The base model's processor (ImageNet normalization) resizing to ``resolution`` px."""
    from ..processing import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(base, size={"shortest_edge": resolution},
                                              crop_size={"height": resolution, "width": resolution})


def train_transform(processor, resolution: int = RESOLUTION):
    """A batch transform for ``Dataset.with_transform``: gray → RGB, a random crop resized to
    ``resolution`` and a random flip (torchvision), then the processor without its resize;
    ``image`` becomes ``pixel_values`` (the collator stacks tensors, not PIL images)."""
    from torchvision.transforms import Compose, RandomHorizontalFlip, RandomResizedCrop

    augment = Compose([RandomResizedCrop(resolution, scale=RANDOM_CROP_SCALE), RandomHorizontalFlip()])

    def transform(batch):
        images = [augment(image.convert("RGB")) for image in batch.pop("image")]
        batch["pixel_values"] = processor(images, do_resize=False, return_tensors="pt")["pixel_values"]
        return batch

    return transform


def eval_transform(processor):
    """The evaluation rows: the processor alone (resize, center crop, normalize), as a pipeline sees an image."""

    def transform(batch):
        images = [image.convert("RGB") for image in batch.pop("image")]
        batch["pixel_values"] = processor(images, return_tensors="pt")["pixel_values"]
        return batch

    return transform


def new_head_model(base: str, resolution: int = RESOLUTION):
    """The base MobileNetV2 with a new, randomly initialised 10-way head named after Fashion-MNIST's
    classes, its batch norms set to BATCH_NORM_MOMENTUM for training."""
    from ..auto import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(
        base, num_labels=len(data.LABELS), id2label=dict(enumerate(data.LABELS)),
        label2id={label: i for i, label in enumerate(data.LABELS)}, ignore_mismatched_sizes=True,
        image_size=resolution)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = BATCH_NORM_MOMENTUM
    return model


def compute_accuracy(prediction) -> dict[str, float]:
    from .. import metrics

    logits, labels = prediction
    return metrics.load("accuracy").compute(predictions=logits.argmax(-1), references=labels)


def make_trainer(model, processor, splits, *, output_dir: Path, epochs: float, seed: int, progress: bool = False,
                 **overrides):
    """The Trainer as the task guide sets it up: transformed splits, DefaultDataCollator,
    remove_unused_columns=False (the transform needs the ``image`` column), accuracy as the metric."""
    from ..training import DefaultDataCollator, Trainer, TrainingArguments

    options = {"eval_strategy": "no", "save_strategy": "no", "logging_steps": 20, "report_to": "none",
               **HYPERPARAMETERS, **overrides}
    args = TrainingArguments(output_dir=str(output_dir), num_train_epochs=epochs, seed=seed, disable_tqdm=not progress,
                             remove_unused_columns=False, **options)
    resolution = processor.crop_size["height"]
    return Trainer(model=model, args=args, train_dataset=splits["train"].with_transform(
                       train_transform(processor, resolution)),
                   eval_dataset=splits["validation"].with_transform(eval_transform(processor)),
                   data_collator=DefaultDataCollator(), processing_class=processor, compute_metrics=compute_accuracy)


def base_model_folder(cache_dir: Path, scratch: Path, say) -> tuple[str, str]:
    """The ImageNet MobileNetV2: the zoo's image-classification folder when recipe imagenet-mobilenet
    built it, else ported now into ``scratch``; and where it came from."""
    from ..zoo_lookup import local_model_for, read_info

    built = local_model_for("image-classification")
    if built and (read_info(built) or {}).get("recipe") == "imagenet-mobilenet":
        return built, f"{built} (recipe imagenet-mobilenet)"
    from . import mobilenet_v2_torchvision as port

    say("no imagenet-mobilenet build in the zoo: porting torchvision's weights for this build")
    return str(port.convert(scratch / "imagenet-mobilenet", cache_dir=cache_dir).folder), "ported for this build"


def build_into(folder: Path, *, scratch: Path, max_samples: int | None, epochs: float, seed: int, cache_dir: Path,
               progress: bool = True) -> dict:
    """Read, fine-tune, evaluate before and after; write the checkpoint to ``folder``; return zoo.json's body."""
    from ..training import PrinterCallback, ProgressCallback, set_seed

    stages = Stages(progress, "fashion-mnist", STAGES)
    sizes = split_sizes(max_samples)
    stages.next(f"(train {sizes['train']}, validation {sizes['validation']}, test {sizes['test']})")
    with _datasets_bars_off():
        splits = load_splits(sizes)
    stages.next()
    base, base_source = base_model_folder(cache_dir, scratch, stages.say)
    set_seed(seed)
    model, processor = new_head_model(base), image_processor(base)
    trainer = make_trainer(model, processor, splits, output_dir=scratch / "trainer", epochs=epochs, seed=seed,
                           progress=progress)
    bars = _stage_bars_class()()
    trainer.remove_callback(ProgressCallback if progress else PrinterCallback)
    if progress:
        trainer.add_callback(bars)
    test = splits["test"].with_transform(eval_transform(processor))
    threads, why = useful_threads()
    with torch_threads(threads):
        bars.label = stages.next(f"on the {sizes['test']} test images")
        before = trainer.evaluate(test, metric_key_prefix="test")
        bars.label = stages.next(f"MobileNetV2 at {RESOLUTION} px, {epochs:g} epoch(s) of {sizes['train']} images "
                                 f"on {threads} CPU thread(s){why}")
        train_output = trainer.train()
        bars.label = stages.next("on the validation and the test images")
        validation = trainer.evaluate()
        after = trainer.evaluate(test, metric_key_prefix="test")
    stages.say(f"test accuracy: untrained head {before['test_accuracy']:.4f}, fine-tuned {after['test_accuracy']:.4f} "
               f"(validation {validation['eval_accuracy']:.4f})")
    stages.next()
    trainer.save_model(str(folder))
    return {
        "base_model": base_source, "labels": data.LABELS,
        "data": {"name": "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017)", "source": f"Debian dataset-fashion-mnist, "
                 f"{data.FOLDER}", "license": "MIT",
                 "split": "train: the first images of the train file; validation: its last; test: the t10k file"},
        "max_samples": max_samples, "split": {"seed": seed, **sizes}, "seed": seed, "epochs": epochs,
        "threads": threads,
        "hyperparameters": {**HYPERPARAMETERS, "resolution": RESOLUTION, "random_crop_scale": list(RANDOM_CROP_SCALE),
                            "batch_norm_momentum": BATCH_NORM_MOMENTUM,
                            "augmentation": "RandomResizedCrop, RandomHorizontalFlip"},
        "metrics": {"untrained_test_accuracy": before["test_accuracy"], "test_accuracy": after["test_accuracy"],
                    "test_loss": after["test_loss"], "validation_accuracy": validation["eval_accuracy"],
                    "train_loss": train_output.training_loss, "train_steps": train_output.global_step,
                    "train_seconds": round(train_output.metrics["train_runtime"], 1)},
    }
