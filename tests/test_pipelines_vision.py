"""The vision pipelines against the reference, on real images (skimage's cat and coffee cup, a PNG file,
a numpy array, a datasets column): image-classification, zero-shot-image-classification (CLIP softmax,
SigLIP sigmoid) and image-feature-extraction against transformers 5.23's pipelines; image-to-text (BLIP,
with and without a prompt; ViT + GPT-2) and visual-question-answering (BLIP) against the reference
model's generate() on the reference processor's inputs (5.23 has no such pipelines; workbench keeps 4.x's).
Each task's checkpoint is a tiny random reference model, a saved reference image processor and, for the
tasks that read text, MiniLM's WordPiece tokenizer (so the labels' words are in the vocabulary)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench
from workbench.models.registry import FAMILIES

from pipeline_models import close
from reference import build_reference_model

TOL = 1e-4
SIZE = {"height": 32, "width": 32}
WORDPIECE = dict(vocab_size=30522, bos_token_id=101, eos_token_id=102, pad_token_id=0)  # [CLS] [SEP] [PAD]
LABELS = ["cat", "coffee", "dog"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    cat, coffee = Image.fromarray(skimage_data.chelsea()), Image.fromarray(skimage_data.coffee())
    path = tmp_path_factory.mktemp("images") / "cat.png"
    cat.resize((150, 100)).save(path)
    return {"cat": cat, "coffee": coffee, "png": str(path), "array": skimage_data.coffee()}


def _as_pil(image):
    """What the reference's load_image takes for each of our inputs (it rejects arrays)."""
    from PIL import Image

    return Image.fromarray(image) if isinstance(image, np.ndarray) else image


def _save(tmp_path_factory, name, model, processor_class, tokenizer_path=None):
    import transformers

    folder = str(tmp_path_factory.mktemp(name))
    model.save_pretrained(folder)
    image_processor = getattr(transformers, processor_class)(size=SIZE, crop_size=SIZE)
    if tokenizer_path is None:
        image_processor.save_pretrained(folder)
        return folder
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_path, model_input_names=["input_ids", "attention_mask"])
    if processor_class == "BlipImageProcessor":
        transformers.BlipProcessor(image_processor, tokenizer).save_pretrained(folder)
    else:
        image_processor.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    config = dict(FAMILIES["vit"].tiny, num_labels=5)
    return _save(tmp_path_factory, "vit", build_reference_model("vit", "ViTForImageClassification", config),
                 "ViTImageProcessor")


@pytest.fixture(scope="module")
def joint(tmp_path_factory, minilm_path):
    """CLIP and SigLIP with WordPiece text towers (64 positions: SigLIP's texts are padded to 64)."""
    folders = {}
    for model_type, cls in (("clip", "CLIPModel"), ("siglip", "SiglipModel")):
        tiny = FAMILIES[model_type].tiny
        config = dict(tiny, text_config=dict(tiny["text_config"], max_position_embeddings=64, **WORDPIECE))
        folders[model_type] = _save(tmp_path_factory, model_type, build_reference_model(model_type, cls, config),
                                    "CLIPImageProcessor" if model_type == "clip" else "SiglipImageProcessor", minilm_path)
    return folders


@pytest.fixture(scope="module")
def generators(tmp_path_factory, minilm_path):
    """BLIP captioning and VQA, ViT + GPT-2: folders with their reference models, for generate()."""
    tiny = FAMILIES["blip"].tiny
    blip = dict(tiny, text_config=dict(tiny["text_config"], sep_token_id=102, **WORDPIECE))
    ved = FAMILIES["vision-encoder-decoder"].tiny
    ved = dict(ved, decoder=dict(ved["decoder"], **WORDPIECE), decoder_start_token_id=101)
    built = {"caption": ("blip", "BlipForConditionalGeneration", blip, "BlipImageProcessor"),
             "vqa": ("blip", "BlipForQuestionAnswering", blip, "BlipImageProcessor"),
             "ved": ("vision-encoder-decoder", "VisionEncoderDecoderModel", ved, "ViTImageProcessor")}
    out = {}
    for name, (model_type, cls, config, processor) in built.items():
        model = build_reference_model(model_type, cls, config)
        out[name] = (_save(tmp_path_factory, name, model, processor, minilm_path), model)
    return out


def _reference_pipeline(task, folder):
    import transformers

    return transformers.pipeline(task, model=folder)


# --- image-classification --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["cat", "png", "array"])
def test_image_classification_matches_the_reference(classifier, images, kind):
    ours, theirs = workbench.pipeline("image-classification", model=classifier), _reference_pipeline(
        "image-classification", classifier)
    assert close(ours(images[kind]), theirs(images[kind]), TOL)
    assert close(ours(images[kind], top_k=2, function_to_apply="sigmoid"),
                 theirs(images[kind], top_k=2, function_to_apply="sigmoid"), TOL)


def test_image_classification_batches_and_datasets_change_no_answer(classifier, images):
    datasets = pytest.importorskip("datasets")
    from workbench.pipelines import KeyDataset

    ours = workbench.pipeline("image-classification", model=classifier)
    inputs = [images["cat"], images["coffee"], images["png"], images["array"]]
    one_by_one = [ours(image) for image in inputs]
    assert close(ours(inputs, batch_size=3), one_by_one, 1e-5)
    rows = datasets.Dataset.from_dict({"image": [images["cat"], images["coffee"]]}).cast_column("image", datasets.Image())
    for column in (rows["image"], KeyDataset(rows, "image"), rows):  # a column, a KeyDataset, dicts with "image"
        assert close(list(ours(column, batch_size=2)), one_by_one[:2], 1e-4)
    assert close(ours(images=images["cat"]), one_by_one[0], 1e-5)


# --- zero-shot-image-classification ----------------------------------------------------------------

@pytest.mark.parametrize("model_type", ["clip", "siglip"])
def test_zero_shot_image_classification_matches_the_reference(joint, images, model_type):
    ours = workbench.pipeline("zero-shot-image-classification", model=joint[model_type])
    theirs = _reference_pipeline("zero-shot-image-classification", joint[model_type])
    for kind in ("cat", "array"):
        expected = theirs(_as_pil(images[kind]), candidate_labels=LABELS)
        assert close(ours(images[kind], candidate_labels=LABELS), expected, TOL)
    template = "a picture of a {}"
    expected = theirs([images["cat"], images["coffee"]], candidate_labels=LABELS, hypothesis_template=template)
    assert close(ours([images["cat"], images["coffee"]], candidate_labels=LABELS, hypothesis_template=template,
                      batch_size=2), expected, TOL)
    if model_type == "siglip":  # sigmoid scores: each in (0, 1), not summing to 1
        assert abs(sum(answer["score"] for answer in expected[0]) - 1) > 1e-3


def test_zero_shot_image_classification_needs_labels(joint, images):
    ours = workbench.pipeline("zero-shot-image-classification", model=joint["clip"])
    with pytest.raises(ValueError, match="needs candidate_labels"):
        ours(images["cat"])
    with pytest.raises(TypeError, match="list of strings"):
        ours(images["cat"], candidate_labels="cat")


# --- image-feature-extraction ----------------------------------------------------------------------

def test_image_feature_extraction_matches_the_reference(classifier, images, tmp_path):
    import transformers

    model = build_reference_model("vit", "ViTModel", FAMILIES["vit"].tiny)  # with a pooler
    model.save_pretrained(tmp_path)
    transformers.ViTImageProcessor(size=SIZE).save_pretrained(tmp_path)
    ours = workbench.pipeline("image-feature-extraction", model=str(tmp_path))
    theirs = _reference_pipeline("image-feature-extraction", str(tmp_path))
    for pool in (False, True):
        expected = theirs([images["cat"], images["png"]], pool=pool)
        assert close(ours([images["cat"], images["png"]], pool=pool, batch_size=2), expected, TOL)
    assert np.shape(ours(images["cat"])) == (1, 17, 32)  # 16 patches and [CLS]
    tensor = ours(images["cat"], return_tensors=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (1, 17, 32)


# --- image-to-text and visual-question-answering (4.x behaviour) -----------------------------------

def _reference_generate(folder, model, images, text=None, **settings):
    import transformers

    from transformers.image_utils import load_image

    image_processor = transformers.AutoImageProcessor.from_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    answers = []
    for image in images:
        image = load_image(image) if isinstance(image, str) else _as_pil(image)  # as the 4.x pipelines loaded files
        inputs = dict(image_processor(images=image, return_tensors="pt"))
        if text is not None:
            inputs.update({k: v for k, v in tokenizer(text, return_tensors="pt").items() if k != "token_type_ids"})
        with torch.no_grad():
            ids = model.generate(**inputs, **settings)
        answers.append(tokenizer.decode(ids[0], skip_special_tokens=True))
    return answers


@pytest.mark.parametrize("name, prompt", [("caption", None), ("caption", "a picture of"), ("ved", None)])
def test_image_to_text_is_the_reference_generate(generators, images, name, prompt):
    folder, reference = generators[name]
    inputs = [images["cat"], images["png"], images["array"]]
    expected = _reference_generate(folder, reference, inputs, prompt, max_new_tokens=6)
    ours = workbench.pipeline("image-to-text", model=folder)
    options = {"prompt": prompt} if prompt else {}
    assert ours(inputs[0], max_new_tokens=6, **options) == [{"generated_text": expected[0]}]
    batched = ours(inputs, batch_size=2, generate_kwargs={"max_new_tokens": 6}, **options)
    assert batched == [[{"generated_text": text}] for text in expected]


def test_a_vision_encoder_decoder_takes_no_prompt(generators, images):
    ours = workbench.pipeline("image-to-text", model=generators["ved"][0])
    with pytest.raises(ValueError, match="does not continue a prompt"):
        ours(images["cat"], prompt="a picture of", max_new_tokens=2)
    with pytest.raises(ValueError, match="max_new_tokens is given twice"):
        ours(images["cat"], max_new_tokens=2, generate_kwargs={"max_new_tokens": 3})


def test_visual_question_answering_is_the_reference_generate(generators, images):
    folder, reference = generators["vqa"]
    questions = ["what is this?", "is the cat sleeping on the sofa?"]
    expected = {q: _reference_generate(folder, reference, [images["cat"], images["coffee"]], q, max_new_tokens=5)
                for q in questions}
    ours = workbench.pipeline("visual-question-answering", model=folder, max_new_tokens=5)
    assert ours(image=images["cat"], question=questions[0]) == [{"answer": expected[questions[0]][0]}]
    assert ours({"image": images["png"], "question": questions[0]}, top_k=3) == ours(image=images["png"],
                                                                                     question=questions[0])
    # every image with every question, questions outer; questions of two lengths in one batch
    answers = ours(image=[images["cat"], images["coffee"]], question=questions, batch_size=4)
    assert answers == [[{"answer": expected[q][i]}] for q in questions for i in range(2)]


# --- inputs -------------------------------------------------------------------------------------

def test_bad_inputs_name_the_problem(classifier, images, tmp_path, monkeypatch):
    ours = workbench.pipeline("image-classification", model=classifier)
    broken = tmp_path / "broken.png"
    broken.write_bytes(open(images["png"], "rb").read()[:200])
    with pytest.raises(ValueError, match="broken.png.*truncated"):
        ours(str(broken))
    with pytest.raises(FileNotFoundError, match="no-such.png"):
        ours([images["cat"], str(tmp_path / "no-such.png")])
    with pytest.raises(TypeError, match="takes a file path"):
        ours(3.5)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="HF_HUB_OFFLINE"):
        ours("https://example.com/cat.png")


# --- loading --------------------------------------------------------------------------------------

def test_parts_given_as_instances_or_a_processor(joint, images):
    from workbench import AutoModelForZeroShotImageClassification, AutoTokenizer
    from workbench.processing import AutoImageProcessor

    folder = joint["clip"]
    expected = workbench.pipeline("zero-shot-image-classification", model=folder)(images["cat"], candidate_labels=LABELS)
    model = AutoModelForZeroShotImageClassification.from_pretrained(folder)
    by_parts = workbench.pipeline("zero-shot-image-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(
        folder), image_processor=AutoImageProcessor.from_pretrained(folder))
    assert by_parts(images["cat"], candidate_labels=LABELS) == expected
    with pytest.raises(ValueError, match="needs an image processor"):
        workbench.pipeline("zero-shot-image-classification", model=model, tokenizer=folder)
    with pytest.raises(ValueError, match="takes no image_processor"):
        workbench.pipeline("text-classification", model=model, tokenizer=folder, image_processor=folder)


def test_blip_processor_folder_gives_both_parts(generators, images):
    from workbench import AutoModelForImageTextToText

    folder = generators["caption"][0]
    model = AutoModelForImageTextToText.from_pretrained(folder)
    captioner = workbench.pipeline("image-to-text", model=model, processor=folder, max_new_tokens=4)
    assert captioner(images["cat"]) == workbench.pipeline("image-to-text", model=folder)(images["cat"], max_new_tokens=4)


def test_a_zoo_image_classifier_is_the_default(classifier, images, tmp_path, monkeypatch):
    """What a zoo recipe for image-classification must write: <zoo>/image-classification with the model
    and its image processor (no tokenizer)."""
    import shutil

    shutil.copytree(classifier, tmp_path / "image-classification")
    monkeypatch.setenv("WORKBENCH_ZOO", str(tmp_path))
    expected = workbench.pipeline("image-classification", model=classifier)(images["cat"])
    assert workbench.pipeline("image-classification")(images["cat"]) == expected
