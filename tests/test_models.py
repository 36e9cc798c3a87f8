"""The shared contract and parity suite, run over every entry of tests/model_registry.py.

Parity: the reference builds a random model and saves it; workbench loads it and must match
its outputs (logits, every hidden state, every attention map) within 1e-5 in float32 (relative
where they exceed 1: tests/tolerance.py); then workbench saves and the reference loads that and
matches again.
"""

from __future__ import annotations

import sys

import pytest
import torch

import workbench
from workbench.auto import class_for_architecture
from workbench.porting import compare as diff_activations

from workbench.models.registry import FAMILIES

from image_inputs import build_inputs, compare_outputs, row_of, slice_row, top_level_tensors, whole_output
from model_registry import auto_class_name, head_cases, takes_decoder_inputs
from reference import (build_reference_model, checkpoint_names, checkpoint_parameters, load_reference_model,
                       reference_init, save_reference_model)
from tolerance import TOL, assert_close_scaled

CASES = head_cases()
IDS = [f"{case.name}-{head}" for case, head in CASES]


def test_every_registered_family_and_head_has_a_case():
    """Adding a family to workbench.models.registry adds it to this suite (its tiny config, every head);
    a case of an unregistered model_type or head is a typo."""
    tested = {(case.model_type, head) for case, head in CASES}
    registered = {(model_type, head) for model_type, family in FAMILIES.items() for head in family.heads.values()}
    assert registered - tested == set(), "registered heads no case runs"
    assert tested - registered == set(), "cases of heads the registry does not have"
    assert all(FAMILIES[model_type].tiny for model_type in FAMILIES), "a family without a tiny config"


def head_config(case, head) -> dict:
    config = dict(case.config)
    if head.endswith("ForQuestionAnswering"):
        config["num_labels"] = 2  # start and end logits
    return config


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Lazily built reference checkpoints, one per (case, head), shared by all tests here."""
    built: dict[str, tuple] = {}

    def get(case, head):
        key = f"{case.name}-{head}"
        if key not in built:
            reference = build_reference_model(case.model_type, head, head_config(case, head))
            folder = save_reference_model(reference, str(tmp_path_factory.mktemp(key)))
            built[key] = (reference, folder)
        return built[key]

    return get


def make_inputs(case, head, batch=2, length=7, pad=True, seed=0):
    """Token ids with the second row right-padded by two tokens (when ``pad``).

    Encoder-decoder cases: each row ends with eos, as the families' tokenizers write it, and the
    decoder is teacher-forced on the input itself (``decoder_input_ids`` are ``input_ids`` shifted
    right), so the padding mask marks the padded tail of the decoder inputs too. Speech cases: see
    ``speech_inputs``. Image cases: the builder of their kind in tests/image_inputs.py.
    """
    if case.inputs != "text":
        return build_inputs(case, head, batch=batch, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    if case.speech:
        return speech_inputs(case.config, batch, length, pad, generator)
    config = case.config
    vocab = min(config["vocab_size"], config.get("decoder_vocab_size") or config["vocab_size"])
    shape = (batch, 3, length) if head.endswith("ForMultipleChoice") else (batch, length)
    input_ids = torch.randint(3, vocab, shape, generator=generator)
    attention_mask = torch.ones_like(input_ids)
    if pad:
        attention_mask[1, ..., -2:] = 0
        input_ids[1, ..., -2:] = config.get("pad_token_id", 0) or 0
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if takes_decoder_inputs(case, head):
        input_ids[torch.arange(batch), attention_mask.sum(-1) - 1] = config["eos_token_id"]
        start = torch.full((batch, 1), config["decoder_start_token_id"])
        inputs["decoder_input_ids"] = torch.cat([start, input_ids[:, :-1]], dim=1)
    return inputs


def speech_inputs(config, batch, length, pad, generator):
    """Random log-mel ``input_features`` (B, num_mel_bins, 2 * max_source_positions), whose frames are
    never padded (the feature extractor pads every clip to 30 s of silence), and decoder ids from
    ``decoder_start_token_id``, the second row right-padded by two tokens (when ``pad``), which
    ``decoder_attention_mask`` marks."""
    frames = 2 * config["max_source_positions"]  # the encoder's stride-2 convolution halves them
    features = torch.randn(batch, config["num_mel_bins"], frames, generator=generator)
    decoder_ids = torch.randint(3, config["vocab_size"], (batch, length), generator=generator)
    decoder_ids[:, 0] = config["decoder_start_token_id"]
    decoder_mask = torch.ones_like(decoder_ids)
    if pad:
        decoder_mask[1, -2:] = 0
        decoder_ids[1, -2:] = config["pad_token_id"]
    return {"input_features": features, "decoder_input_ids": decoder_ids, "decoder_attention_mask": decoder_mask}


def token_mask(inputs) -> torch.Tensor:
    """The (B, T) padding mask of the token inputs: the encoder's, or a speech model's decoder's."""
    return inputs["attention_mask"] if "attention_mask" in inputs else inputs["decoder_attention_mask"]


def mask_for(name, inputs, head):
    """The mask of the positions output ``name`` covers, or None to compare it whole: multiple
    choice's (B, choices) outputs, and a speech encoder's outputs (its frames are never padded)."""
    if head.endswith("ForMultipleChoice") or ("input_features" in inputs and name.startswith("encoder_")):
        return None
    return token_mask(inputs)


def cross_attention_mask(inputs) -> dict:
    """What the decoder needs to know of the encoder's padding: its attention_mask (speech has none)."""
    return {key: value for key, value in inputs.items() if key == "attention_mask"}


# what a head outputs, by name: logits; a QA head's spans; a pre-training head's masked-LM logits and its
# next-sentence (BERT, MobileBERT) or sentence-order (ALBERT) logits
MAIN_OUTPUTS = ("logits", "start_logits", "end_logits", "prediction_logits", "seq_relationship_logits", "sop_logits")


def main_outputs(out, head) -> dict[str, torch.Tensor]:
    """The head's outputs (a base model's: its last hidden state); an image model's: every tensor
    field of its output (logits, pooled features, embeddings, boxes)."""
    if image_output(out):
        return top_level_tensors(out)
    found = {name: getattr(out, name) for name in MAIN_OUTPUTS if getattr(out, name, None) is not None}
    return found or {"last_hidden_state": out.last_hidden_state}


def assert_close_where_valid(actual, expected, mask, what):
    """Compare (B, T, ...) tensors on non-padded tokens only; other shapes compare whole."""
    if mask is not None and actual.dim() >= 2 and actual.shape[:2] == mask.shape:
        actual, expected = actual[mask.bool()], expected[mask.bool()]
    assert_close_scaled(actual.float(), expected.float(), what=what)


# the per-layer outputs a model may return: decoder-only and encoder models have the first
# name of each group, encoder-decoders the others
HIDDEN_STATES = ("hidden_states", "encoder_hidden_states", "decoder_hidden_states")
ATTENTIONS = ("attentions", "encoder_attentions", "decoder_attentions", "cross_attentions")


def image_output(out) -> bool:
    """Whether ``out`` came from an image case (the shared suite marks those outputs)."""
    return getattr(out, "_image_case", False)


def per_layer(out, names) -> dict[str, tuple]:
    """The non-empty ones (the reference gives BERT and GPT-2 an empty ``cross_attentions``)."""
    return {name: getattr(out, name) for name in names if getattr(out, name, None)}


def compare(ours, theirs, head, inputs, with_internals=True):
    if whole_output(inputs):  # image cases: every tensor of the output, nested ones included
        if with_internals:
            compare_outputs(ours, theirs, what=head)
        else:
            compare_outputs(top_level_tensors(ours), top_level_tensors(theirs), what=head)
        return
    for name, tensor in main_outputs(theirs, head).items():
        assert getattr(ours, name).shape == tensor.shape, name
        assert_close_where_valid(getattr(ours, name), tensor, mask_for(name, inputs, head), name)
    if not with_internals:
        return
    hidden, attentions = per_layer(theirs, HIDDEN_STATES), per_layer(theirs, ATTENTIONS)
    assert hidden and attentions, "the reference returned no hidden states or attentions"
    assert per_layer(ours, HIDDEN_STATES).keys() == hidden.keys()
    assert per_layer(ours, ATTENTIONS).keys() == attentions.keys()
    for name, states in hidden.items():
        assert len(getattr(ours, name)) == len(states), name
        for i, (a, b) in enumerate(zip(getattr(ours, name), states)):
            assert_close_where_valid(a, b, mask_for(name, inputs, head), f"{name}[{i}]")
    for name, maps in attentions.items():
        assert len(getattr(ours, name)) == len(maps), name
        for i, (a, b) in enumerate(zip(getattr(ours, name), maps)):
            # (B, H, Q, K): rows of padded queries are left out
            mask = mask_for(name, inputs, head)
            query_mask = mask[:, None, :, None].expand_as(a).bool() if mask is not None else torch.ones_like(a, dtype=torch.bool)
            assert_close_scaled(a[query_mask], b[query_mask], what=f"{name}[{i}]")


def run(model, inputs, internals=True):
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=internals, output_attentions=internals)
    if whole_output(inputs):
        object.__setattr__(out, "_image_case", True)  # main_outputs() then takes every tensor field
    return out


def first_diverging_module(reference, ours, inputs) -> str:
    """Where a failed parity check starts: the first module (by name, in execution order) whose
    output differs. Called only once a comparison has failed, so passing tests pay nothing."""
    try:
        report = diff_activations(reference, ours, lambda model: run(model, inputs), atol=TOL, rtol=TOL)
    except Exception as error:  # the hint must not hide the failure it explains
        return f"(the activation diff failed too: {error!r})"
    row = report.first_divergence()
    if row is None:
        return f"no module's output differs by more than {TOL} + {TOL} x its largest value (the failure is in what the modules' outputs become)"
    return (f"first diverging module: {row.reference} ({row.reference_type}, max abs err {row.max_abs_err:.3g}; "
            f"all positions, padded ones included)")


@pytest.mark.parametrize("case,head", CASES, ids=IDS)
def test_reference_checkpoint_loads_and_matches(case, head, checkpoints):
    reference, folder = checkpoints(case, head)
    model = class_for_architecture(head).from_pretrained(folder)
    inputs = make_inputs(case, head)
    try:
        compare(run(model, inputs), run(reference, inputs), head, inputs)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{first_diverging_module(reference, model, inputs)}") from None


@pytest.mark.parametrize("case,head", CASES, ids=IDS)
def test_workbench_save_loads_in_reference(case, head, checkpoints, tmp_path):
    reference, folder = checkpoints(case, head)
    class_for_architecture(head).from_pretrained(folder).save_pretrained(tmp_path)
    reloaded = load_reference_model(head, str(tmp_path))
    inputs = make_inputs(case, head)
    compare(run(reloaded, inputs), run(reference, inputs), head, inputs)


@pytest.mark.parametrize("case,head", CASES, ids=IDS)
def test_auto_class_picks_the_head(case, head, checkpoints):
    _, folder = checkpoints(case, head)
    auto = getattr(workbench, auto_class_name(head))
    assert type(auto.from_pretrained(folder)).__name__ == head
    config = workbench.AutoConfig.for_model(case.model_type, **head_config(case, head))
    assert type(auto.from_config(config)).__name__ == head


# --- the contract every model keeps --------------------------------------------------------


@pytest.mark.parametrize("case,head", CASES, ids=IDS)
def test_padded_batch_equals_each_row_alone(case, head, checkpoints):
    _, folder = checkpoints(case, head)
    model = class_for_architecture(head).from_pretrained(folder)
    inputs = make_inputs(case, head)
    batched = run(model, inputs, internals=False)
    if whole_output(inputs):  # image cases: each image (and its text) alone gives its row of every output
        # every input is batch-first (pixel_values, input_values, ...)
        batch, rows = next(iter(inputs.values())).shape[0], top_level_tensors(batched)
        assert rows, f"{head}: the output holds no tensor to compare"
        for row in range(batch):
            single = run(model, slice_row(inputs, row), internals=False)
            for name, tensor in top_level_tensors(single).items():
                assert_close_scaled(row_of(rows[name], row, batch), tensor, what=name)
        return
    mask = token_mask(inputs)
    for row in range(mask.shape[0]):
        keep = mask[row].reshape(-1, mask.shape[-1])[0].bool()
        # encoder-decoders' decoder inputs are the shifted input ids: the same padding goes; audio
        # frames are never padded
        alone = {k: v[row : row + 1] if k == "input_features" else v[row : row + 1][..., keep] for k, v in inputs.items()}
        single = run(model, alone, internals=False)
        for name, tensor in main_outputs(single, head).items():
            ours = getattr(batched, name)[row : row + 1]
            if tensor.dim() >= 2 and tensor.shape[1] == int(keep.sum()) and not head.endswith("ForMultipleChoice"):
                ours = ours[:, : int(keep.sum())]
            assert_close_scaled(ours, tensor, what=name)


@pytest.mark.parametrize("case,head", CASES, ids=IDS)
def test_dtypes_and_shapes(case, head, checkpoints):
    _, folder = checkpoints(case, head)
    inputs = make_inputs(case, head)
    for dtype in (torch.float32, torch.bfloat16):
        model = class_for_architecture(head).from_pretrained(folder, dtype=dtype)
        assert model.dtype == dtype and all(p.dtype == dtype for p in model.parameters())
        # float inputs (audio features) come in the model's dtype, as the reference needs them too
        out = run(model, {k: v.to(dtype) if v.is_floating_point() else v for k, v in inputs.items()})
        for name, tensor in main_outputs(out, head).items():
            assert tensor.dtype == dtype, name
            assert torch.isfinite(tensor).all(), name
        if case.inputs != "text":  # per-stage outputs differ by family: parity checks them
            continue
        hidden, attentions = per_layer(out, HIDDEN_STATES), per_layer(out, ATTENTIONS)
        assert len(hidden.get("hidden_states", hidden.get("encoder_hidden_states"))) == model.config.num_hidden_layers + 1
        if "decoder_hidden_states" in hidden:  # one per decoder layer, and the embeddings
            assert len(hidden["decoder_hidden_states"]) == len(attentions["decoder_attentions"]) + 1
            assert len(attentions["cross_attentions"]) == len(attentions["decoder_attentions"])


def params_without_grad(model, inputs, head, names: dict[str, str]) -> set[str]:
    """The parameters the head's outputs send no gradient to, by checkpoint key: ``names`` maps the
    reference's in-memory names to its keys (ours follow the keys, or, as DETR, the reference's names)."""
    model.train()
    for param in model.parameters():
        param.grad = None
    out = model(**inputs, output_hidden_states=False)
    outputs = top_level_tensors(out) if whole_output(inputs) else main_outputs(out, head)
    sum(t.float().pow(2).mean() for t in outputs.values() if t.is_floating_point()).backward()
    model.eval()
    return {names.get(n, n) for n, p in model.named_parameters() if p.grad is None}


@pytest.mark.parametrize("case,head", CASES, ids=IDS)
def test_round_trip_and_gradients(case, head, checkpoints, tmp_path):
    reference, folder = checkpoints(case, head)
    model = class_for_architecture(head).from_pretrained(folder)
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    again = class_for_architecture(head).from_pretrained(tmp_path)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    # gradients reach every parameter the reference's gradients reach (some heads leave e.g.
    # the pooler unused in both)
    inputs = make_inputs(case, head)
    names = checkpoint_names(reference)
    assert params_without_grad(model, inputs, head, names) == params_without_grad(reference, inputs, head, names)


@pytest.mark.parametrize("case,head", CASES, ids=IDS)
def test_fresh_init_matches_reference_where_it_is_deterministic(case, head):
    """from_config gives the reference's values for every parameter the reference initialises the
    same under any seed (biases, norms, fixed tables); a parameter left uninitialised fails here."""
    config = head_config(case, head)
    first, second = (reference_init(case.model_type, head, config, seed) for seed in (0, 1))
    torch.use_deterministic_algorithms(True)  # which also fills uninitialised memory with NaN
    try:
        model = class_for_architecture(head).from_config(workbench.AutoConfig.for_model(case.model_type, **config))
    finally:
        torch.use_deterministic_algorithms(False)
    ours = dict(model.named_parameters())
    assert all(torch.isfinite(p).all() for p in ours.values())
    # by checkpoint key, whatever the reference's in-memory names (it renames ViT's and Swin's modules and
    # fuses DINOv2's SwiGLU weights); the key leads to our parameter as our loader maps it (DETR's renames,
    # a backbone's prefix)
    first, second = checkpoint_parameters(first), checkpoint_parameters(second)
    for key, param in first.items():
        if torch.equal(param, second[key]):
            mine = model._checkpoint_key(key, set(ours))
            assert mine in ours, f"{key}: no parameter of ours matches it"
            assert torch.allclose(ours[mine], param, atol=1e-6), key


ENCODER_CASES = [(case, head) for case, head in CASES
                 if not case.decoder and not case.encoder_decoder and case.inputs == "text"]


@pytest.mark.parametrize("case,head", ENCODER_CASES, ids=[f"{c.name}-{h}" for c, h in ENCODER_CASES])
def test_token_type_ids_do_what_the_reference_does(case, head, checkpoints):
    """Tokenizers of BERT vocabularies return token_type_ids; an encoder uses them or ignores them
    exactly as the reference does (for a family without token types, ignoring them)."""
    reference, folder = checkpoints(case, head)
    model = class_for_architecture(head).from_pretrained(folder)
    inputs = make_inputs(case, head)
    length = inputs["input_ids"].shape[-1]
    inputs["token_type_ids"] = (torch.arange(length) >= length // 2).long().expand_as(inputs["input_ids"])
    compare(run(model, inputs, internals=False), run(reference, inputs, internals=False), head, inputs, with_internals=False)


DECODER_CASES = [(case, head) for case, head in CASES if case.decoder and ("CausalLM" in head or "LMHead" in head)]


@pytest.mark.parametrize("case,head", DECODER_CASES, ids=[f"{c.name}-{h}" for c, h in DECODER_CASES])
def test_cached_decode_equals_full_forward(case, head, checkpoints):
    """Feeding a prompt, then one token at a time through the cache, gives the full forward's logits."""
    _, folder = checkpoints(case, head)
    model = class_for_architecture(head).from_pretrained(folder)
    ids = make_inputs(case, head, batch=2, length=9, pad=False)["input_ids"]
    with torch.no_grad():
        full = model(input_ids=ids).logits
        out = model(input_ids=ids[:, :5], use_cache=True)
        steps = [out.logits]
        for t in range(5, ids.shape[1]):
            out = model(input_ids=ids[:, t : t + 1], past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits)
    assert_close_scaled(torch.cat(steps, dim=1), full)


@pytest.mark.parametrize("case,head", DECODER_CASES, ids=[f"{c.name}-{h}" for c, h in DECODER_CASES])
def test_left_padded_batch_with_positions_equals_rows_alone(case, head, checkpoints):
    """Decoders batch left-padded prompts; positions then come from the attention mask."""
    _, folder = checkpoints(case, head)
    model = class_for_architecture(head).from_pretrained(folder)
    ids = make_inputs(case, head, batch=2, length=7, pad=False)["input_ids"]
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0) + case.extra.get("first_position", 0)
    with torch.no_grad():
        batched = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        alone = model(input_ids=ids[1:, 3:]).logits
    assert_close_scaled(batched[1:, 3:], alone)


# --- the encoder-decoder contract ----------------------------------------------------------

SEQ2SEQ_CASES = [(case, head) for case, head in CASES
                 if auto_class_name(head) in ("AutoModelForSeq2SeqLM", "AutoModelForSpeechSeq2Seq")]
SEQ2SEQ_IDS = [f"{c.name}-{h}" for c, h in SEQ2SEQ_CASES]


@pytest.mark.parametrize("case,head", SEQ2SEQ_CASES, ids=SEQ2SEQ_IDS)
def test_encoder_decoder_cached_decode_equals_full_forward(case, head, checkpoints):
    """Encode once; decode a prefix, then one token at a time through both caches (self-attention
    growing, cross-attention computed on the first step); the logits are the full forward's."""
    _, folder = checkpoints(case, head)
    model = class_for_architecture(head).from_pretrained(folder)
    inputs = make_inputs(case, head, length=9)  # the second row's encoder input is padded (text)
    decoder_ids = inputs.pop("decoder_input_ids")
    inputs.pop("decoder_attention_mask", None)  # speech: the decoder runs unmasked, in full and by steps
    cross_mask = cross_attention_mask(inputs)
    with torch.no_grad():
        full = model(**inputs, decoder_input_ids=decoder_ids).logits
        encoder_outputs = model.get_encoder()(**inputs)
        out = model(**cross_mask, encoder_outputs=encoder_outputs, decoder_input_ids=decoder_ids[:, :4], use_cache=True)
        cache = out.past_key_values
        steps = [out.logits]
        for t in range(4, decoder_ids.shape[1]):
            out = model(**cross_mask, encoder_outputs=encoder_outputs, decoder_input_ids=decoder_ids[:, t : t + 1],
                        past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits)
    assert out.past_key_values is cache and cache.get_seq_length() == decoder_ids.shape[1]
    assert_close_scaled(torch.cat(steps, dim=1), full)


@pytest.mark.parametrize("case,head", SEQ2SEQ_CASES, ids=SEQ2SEQ_IDS)
def test_labels_give_the_reference_loss(case, head, checkpoints):
    """labels alone: the decoder inputs are the labels shifted right (by each family's rule), and
    -100 labels are left out of the loss."""
    reference, folder = checkpoints(case, head)
    model = class_for_architecture(head).from_pretrained(folder)
    inputs = make_inputs(case, head)
    labels = inputs.pop("decoder_input_ids").roll(-1, dims=1)
    labels[1, -2:] = -100
    inputs.pop("decoder_attention_mask", None)  # speech: the -100 labels mark the padding
    with torch.no_grad():
        ours, theirs = model(**inputs, labels=labels), reference(**inputs, labels=labels)
    # BART-like families drop the cache when given labels, T5 keeps it: as the reference does
    assert (ours.past_key_values is None) == (theirs.past_key_values is None)
    assert_close_scaled(ours.loss, theirs.loss, what="loss")
    assert_close_scaled(ours.logits, theirs.logits)
    assert torch.equal(model.prepare_decoder_input_ids_from_labels(labels), reference_decoder_inputs(reference, labels))


def reference_decoder_inputs(reference, labels):
    """The reference's decoder inputs for ``labels``; its Whisper has no ``prepare_decoder_input_ids_from_labels``
    and shifts the labels with its module's ``shift_tokens_right``."""
    if hasattr(reference, "prepare_decoder_input_ids_from_labels"):
        return reference.prepare_decoder_input_ids_from_labels(labels=labels)
    shift = sys.modules[type(reference).__module__].shift_tokens_right
    return shift(labels, reference.config.pad_token_id, reference.config.decoder_start_token_id)


@pytest.mark.parametrize("case,head", SEQ2SEQ_CASES, ids=SEQ2SEQ_IDS)
def test_cached_decoding_step_by_step_equals_full_decoder_forward(case, head, checkpoints):
    """The encoder runs once (on a padded batch); the decoder then takes its inputs two, then one at a
    time through the cache and gives the full forward's logits. After the first step the encoder
    outputs passed in are zeros: the cross-attention keys and values must come from the cache."""
    _, folder = checkpoints(case, head)
    model = class_for_architecture(head).from_pretrained(folder)
    inputs = make_inputs(case, head)
    decoder_ids = inputs.pop("decoder_input_ids")
    inputs.pop("decoder_attention_mask", None)  # speech: the decoder runs unmasked, in full and by steps
    cross_mask = cross_attention_mask(inputs)
    with torch.no_grad():
        full = model(**inputs, decoder_input_ids=decoder_ids, use_cache=False).logits
        encoded = model.get_encoder()(**inputs)
        out = model(encoder_outputs=encoded, **cross_mask, decoder_input_ids=decoder_ids[:, :2], use_cache=True)
        steps = [out.logits]
        zeros = (torch.zeros_like(encoded.last_hidden_state),)
        for t in range(2, decoder_ids.shape[1]):
            out = model(encoder_outputs=zeros, **cross_mask, decoder_input_ids=decoder_ids[:, t : t + 1],
                        past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits)
    assert out.past_key_values.get_seq_length() == decoder_ids.shape[1]
    assert_close_scaled(torch.cat(steps, dim=1), full)
