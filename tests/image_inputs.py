"""What the shared suite (test_models.py, test_parameter_contract.py) feeds and compares for the
families whose registry entry says ``inputs="<kind>"`` other than "text".

A builder per kind makes a batch of two random inputs for a (case, head); the comparison walks the
whole output (every tensor of every field, nested outputs included), since vision outputs have no
padded positions to leave out and their fields differ from family to family (pooled features,
per-stage feature maps, ``logits_per_image``, ``pred_boxes``, ...).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tolerance import assert_close_scaled


def image_size(config: dict) -> tuple[int, int]:
    """(height, width) of the config's ``image_size`` (an int or a pair; 32 when the config has none)."""
    size = config.get("image_size", 32)
    return (size, size) if isinstance(size, int) else tuple(size)


def pixel_values(config: dict, batch: int, generator: torch.Generator) -> torch.Tensor:
    """Random (B, C, H, W) pixels, roughly as normalized images are (mean 0, std 1)."""
    height, width = image_size(config)
    return torch.randn(batch, config.get("num_channels", 3), height, width, generator=generator)


def text_ids(config: dict, batch: int, length: int, generator: torch.Generator, pad: bool = True) -> dict:
    """Token ids from 3 up, the second row right-padded by two tokens (when ``pad``), with its mask."""
    input_ids = torch.randint(3, config["vocab_size"], (batch, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    if pad:
        attention_mask[1, -2:] = 0
        input_ids[1, -2:] = config.get("pad_token_id", 0) or 0
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def image_only(case, head: str, batch: int, generator: torch.Generator) -> dict:
    return {"pixel_values": pixel_values(case.config, batch, generator)}


def image_and_text(case, head: str, batch: int, generator: torch.Generator) -> dict:
    """A joint model (CLIP-like): token ids for its text tower and pixels for its vision tower; the
    family's image-classification head (the vision tower alone) takes the pixels only."""
    vision = case.config.get("vision_config", {})
    if head.endswith("ForImageClassification"):
        return {"pixel_values": pixel_values(vision, batch, generator)}
    return {**text_ids(case.config.get("text_config", {"vocab_size": 99}), batch, 7, generator),
            "pixel_values": pixel_values(vision, batch, generator)}


# --- vision: resnet


def image_with_pixel_mask(case, head: str, batch: int, generator: torch.Generator) -> dict:
    """Detectors (DETR): 64x96 pixels (the ResNet backbone downsamples by 32: a 2x3 feature map) and a
    pixel_mask whose second row is padding from column 56 on, so its last feature column is masked
    (the mask is sampled at columns 0, 32, 64)."""
    pixels = torch.randn(batch, case.config.get("num_channels", 3), 64, 96, generator=generator)
    pixel_mask = torch.ones(batch, 64, 96, dtype=torch.long)
    if batch > 1:
        pixel_mask[1, :, 56:] = 0
        pixels[1, :, :, 56:] = 0.0  # what an image processor pads with
    return {"pixel_values": pixels, "pixel_mask": pixel_mask}
# --- vision: vit


def image_and_masked_patches(case, head: str, batch: int, generator: torch.Generator) -> dict:
    """Pixels; a masked-image-modelling head also gets ``bool_masked_pos`` (B, num_patches), about half
    of each image's patches masked (so the mask token, the reconstruction and the loss all run)."""
    inputs = image_only(case, head, batch, generator)
    if head.endswith("ForMaskedImageModeling"):
        height, width = image_size(case.config)
        patch = case.config.get("patch_size", 16)
        count = (height // patch) * (width // patch)
        inputs["bool_masked_pos"] = torch.rand(batch, count, generator=generator) < 0.5
    return inputs


def image_and_decoder_ids(case, head: str, batch: int, generator: torch.Generator) -> dict:
    """An image-to-text encoder-decoder: pixels for the encoder (``config["encoder"]``), and decoder ids
    (7 tokens from ``decoder_start_token_id``) with the second row right-padded by two, which
    ``decoder_attention_mask`` marks."""
    decoder = case.config["decoder"]
    text = text_ids(decoder, batch, 7, generator)
    text["input_ids"][:, 0] = case.config["decoder_start_token_id"]
    text["input_ids"][1, -2:] = case.config["pad_token_id"]
    return {"pixel_values": pixel_values(case.config["encoder"], batch, generator),
            "decoder_input_ids": text["input_ids"], "decoder_attention_mask": text["attention_mask"]}


# --- vision: blip


def blip_inputs(case, head: str, batch: int, generator: torch.Generator) -> dict:
    """BLIP's heads: the joint model as CLIP's; captioning: pixels and caption ids (unpadded: its logits
    are per token, so a padded row alone would be shorter); VQA: pixels, a padded question, answer ids."""
    if not head.endswith(("ForConditionalGeneration", "ForQuestionAnswering")):
        return image_and_text(case, head, batch, generator)
    text = case.config["text_config"]
    pixels = pixel_values(case.config["vision_config"], batch, generator)
    if head.endswith("ForConditionalGeneration"):
        return {"pixel_values": pixels, **text_ids(text, batch, 7, generator, pad=False)}
    answer = text_ids(text, batch, 5, generator, pad=False)
    return {"pixel_values": pixels, **text_ids(text, batch, 7, generator),
            "decoder_input_ids": answer["input_ids"], "decoder_attention_mask": answer["attention_mask"]}


# --- vision: clip


def image_and_text_ending_in_eos(case, head: str, batch: int, generator: torch.Generator) -> dict:
    """CLIP: the joint inputs, each text ending (before its padding) with the end-of-text token the
    text tower pools at, as CLIP's tokenizer writes it."""
    inputs = image_and_text(case, head, batch, generator)
    if "input_ids" in inputs:
        ends = inputs["attention_mask"].sum(-1) - 1
        inputs["input_ids"][torch.arange(batch), ends] = case.config["text_config"]["eos_token_id"]
    return inputs


def image_and_whole_text(case, head: str, batch: int, generator: torch.Generator) -> dict:
    """SigLIP: the joint inputs with unpadded texts of one length (its text tower pools the last
    position, and its processor pads every text to the same length, so a row alone is the same row)."""
    vision = case.config["vision_config"]
    if head.endswith("ForImageClassification"):
        return {"pixel_values": pixel_values(vision, batch, generator)}
    return {**text_ids(case.config["text_config"], batch, 7, generator, pad=False),
            "pixel_values": pixel_values(vision, batch, generator)}


# kind -> builder(case, head, batch, generator) -> the model's keyword inputs
BUILDERS: dict[str, Callable[..., dict]] = {
    "image": image_only,
    "image-text": image_and_text,
    # --- vision: vit
    "image-masked": image_and_masked_patches,
    "image-decoder-ids": image_and_decoder_ids,

    # --- vision: resnet
    "image-pixel-mask": image_with_pixel_mask,

    # --- vision: convnext

    # --- vision: swin

    # --- vision: clip
    "image-text-eos": image_and_text_ending_in_eos,
    "image-whole-text": image_and_whole_text,

    # --- vision: blip
    "blip": blip_inputs,

    # --- audio: ctc (Wav2Vec2, HuBERT, WavLM)
    "audio-waveform": lambda *args: waveform_with_padding(*args),  # defined below, under "audio: ctc"

    # --- audio: ast

    # --- audio: clap
}


def whole_output(inputs: dict) -> bool:
    """Image and audio cases (not Whisper's, which decodes token ids): the suite compares every
    tensor of their outputs, nested ones included."""
    if "pixel_values" in inputs or "input_values" in inputs:
        return True
    if "input_features" not in inputs:
        return False
    labels = inputs.get("labels")  # Whisper's are token ids (B, T); an audio classifier's are (B,)
    return "decoder_input_ids" not in inputs and (labels is None or labels.dim() < 2)


# --- audio: ctc


def waveform_with_padding(case, head: str, batch: int, generator: torch.Generator) -> dict:
    """Raw audio ``input_values`` (B, 400 samples, mean 0 std 1 as the feature extractor normalises
    them) and an ``attention_mask`` whose second row ends in 100 samples of padding (zeros, as the
    feature extractor pads). A row alone keeps its padding and mask: the mask is what tells the model
    where the clip ends, so a row alone equals its row of the batch. Pre-training heads get one clip:
    the codebook perplexity they report is a statistic of the whole batch."""
    if head.endswith("ForPreTraining"):  # its codebook perplexity is one number for the whole batch
        batch = 1
    values = torch.randn(batch, 400, generator=generator)
    attention_mask = torch.ones(batch, 400, dtype=torch.long)
    if batch > 1:
        values[1, 300:] = 0.0
        attention_mask[1, 300:] = 0
    return {"input_values": values, "attention_mask": attention_mask}


# --- audio: ast


# --- audio: clap


def build_inputs(case, head: str, batch: int = 2, seed: int = 0) -> dict:
    """The inputs of kind ``case.inputs`` for ``head``: a batch of ``batch`` rows."""
    if case.inputs not in BUILDERS:
        raise KeyError(f"{case.name}: no input builder for inputs={case.inputs!r} in tests/image_inputs.py "
                       f"(known: {sorted(BUILDERS)})")
    return BUILDERS[case.inputs](case, head, batch, torch.Generator().manual_seed(seed))


# --- comparing whole outputs -----------------------------------------------------------------


def tensors_of(output, path: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a model output, by its path (``vision_model_output.hidden_states[1]``);
    None fields are left out, as ModelOutput leaves them out of its keys."""
    if isinstance(output, torch.Tensor):
        return {path: output}
    if isinstance(output, (tuple, list)) and not hasattr(output, "keys"):
        found = {}
        for i, item in enumerate(output):
            found.update(tensors_of(item, f"{path}[{i}]"))
        return found
    if hasattr(output, "keys"):
        found = {}
        for key in output.keys():
            found.update(tensors_of(output[key], f"{path}.{key}" if path else key))
        return found
    return {}


def compare_outputs(ours, theirs, what: str = "") -> int:
    """Every tensor of the reference's output matches ours at the same path (same shape, within the
    suite's tolerance), and ours has no field the reference lacks. Returns how many were compared;
    an output with nothing to compare fails."""
    expected, actual = tensors_of(theirs), tensors_of(ours)
    assert expected, f"{what}: the reference's output holds no tensor"
    assert actual.keys() == expected.keys(), (
        f"{what}: fields differ: only the reference has {sorted(expected.keys() - actual.keys())}, "
        f"only workbench has {sorted(actual.keys() - expected.keys())}")
    for path, tensor in expected.items():
        assert actual[path].shape == tensor.shape, f"{path}: {tuple(actual[path].shape)} vs {tuple(tensor.shape)}"
        if tensor.is_floating_point():
            assert_close_scaled(actual[path].float(), tensor.float(), what=path)
        else:
            assert torch.equal(actual[path], tensor), path
    return len(expected)


# tuples of tensors that are what a head produces, not per-layer internals: a backbone's feature maps
HEAD_TUPLES = ("feature_maps",)


def top_level_tensors(output) -> dict[str, torch.Tensor]:
    """The output's own tensor fields (not nested outputs or per-layer tuples), loss left out: what a
    head produces (logits, pred_boxes, image_embeds, ...); a backbone's ``feature_maps[i]`` too."""
    found = {}
    for key, value in output.items():
        if isinstance(value, torch.Tensor) and key != "loss":
            found[key] = value
        elif key in HEAD_TUPLES:
            found.update({f"{key}[{i}]": tensor for i, tensor in enumerate(value)})
    return found


def row_of(tensor: torch.Tensor, row: int, batch: int) -> torch.Tensor:
    """Row ``row`` of a batched output; a (B, B) similarity matrix (``logits_per_image``) gives its
    diagonal entry, which is what the row alone computes."""
    if tensor.dim() == 2 and tensor.shape == (batch, batch):
        return tensor[row : row + 1, row : row + 1]
    if tensor.dim() == 0:  # a statistic of the whole batch (a codebook perplexity): such heads get a batch of one
        return tensor
    return tensor[row : row + 1]


def slice_row(inputs: dict, row: int) -> dict:
    """Row ``row`` of every input alone; a padded token row loses its padding."""
    alone = {key: value[row : row + 1] for key, value in inputs.items()}
    if "attention_mask" in alone and "input_ids" in alone:
        keep = alone["attention_mask"][0].bool()
        alone["input_ids"], alone["attention_mask"] = alone["input_ids"][:, keep], alone["attention_mask"][:, keep]
    return alone
