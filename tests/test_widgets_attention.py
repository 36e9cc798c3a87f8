"""AttentionView: the weights it shows are the reference library's ``output_attentions=True`` for the
same checkpoint (tiny random BERT, LLaMA, GPT-2, BART and T5 built by transformers, loaded by
workbench); causal patterns are lower-triangular; padding is dropped; the static HTML and text
carry the same numbers; selection drives the controls and rewrites the saved view; errors say
what to do."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from model_registry import TINY_DECODER, TINY_ENCODER, TINY_GPT2, TINY_SEQ2SEQ, TINY_T5, TINY_WHISPER
from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

pytest.importorskip("ipywidgets")
pytest.importorskip("transformers")

from workbench import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoModelForSpeechSeq2Seq  # noqa: E402
from workbench.outputs import BaseModelOutput  # noqa: E402
from workbench.widgets import AttentionView  # noqa: E402

IDS = torch.tensor([[5, 17, 42, 8, 23, 61, 9]])  # from 3 up: no special token of any tiny config


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(reference model, workbench model) per family, from one saved tiny random checkpoint."""
    made = {}
    for name, model_type, reference_class, auto, config in (
            ("bert", "bert", "BertModel", AutoModel, TINY_ENCODER),
            ("llama", "llama", "LlamaForCausalLM", AutoModelForCausalLM, TINY_DECODER),
            ("gpt2", "gpt2", "GPT2LMHeadModel", AutoModelForCausalLM, TINY_GPT2),
            ("bart", "bart", "BartForConditionalGeneration", AutoModelForSeq2SeqLM, TINY_SEQ2SEQ),
            ("t5", "t5", "T5ForConditionalGeneration", AutoModelForSeq2SeqLM, TINY_T5),
            ("whisper", "whisper", "WhisperForConditionalGeneration", AutoModelForSpeechSeq2Seq, TINY_WHISPER)):
        folder = save_reference_model(build_reference_model(model_type, reference_class, config),
                                      str(tmp_path_factory.mktemp(name)))
        made[name] = (load_reference_model(reference_class, folder), auto.from_pretrained(folder))
    return made


def reference_attentions(model, **inputs):
    with torch.no_grad():
        return model(**inputs, output_attentions=True, return_dict=True)


def assert_view_matches(view, kind: str, expected_layers, batch_index: int = 0):
    amap = view.maps[kind]
    assert amap.weights.shape[:2] == (len(expected_layers), expected_layers[0].shape[1])
    for layer, expected in enumerate(expected_layers):
        for head in range(expected.shape[1]):
            view.select(layer, head, kind)  # what the head view shows, read through the widget's state
            assert_close_scaled(torch.from_numpy(view.weights.copy()), expected[batch_index, head].float(),
                                what=f"{kind} layer {layer} head {head}")


# --- against the reference -------------------------------------------------------------------------


def test_encoder_weights_are_the_references(checkpoints):
    reference, model = checkpoints["bert"]
    view = AttentionView(model, inputs={"input_ids": IDS})
    assert view.kinds == ["self"] and not view.map.causal
    assert view.map.query_tokens == [str(i) for i in range(7)]  # no tokenizer: positions
    named = AttentionView(model, inputs={"input_ids": IDS}, tokens=list("abcdefg"))
    assert named.map.query_tokens == named.map.key_tokens == list("abcdefg")
    assert_view_matches(view, "self", reference_attentions(reference, input_ids=IDS).attentions)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_decoder_weights_are_the_references_and_causal(checkpoints, family):
    reference, model = checkpoints[family]
    view = AttentionView(model, inputs={"input_ids": IDS})
    expected = reference_attentions(reference, input_ids=IDS).attentions
    assert_view_matches(view, "self", expected)
    weights = view.map.weights  # (L, H, 7, 7)
    above = np.triu(np.ones((7, 7), dtype=bool), 1)
    assert np.all(weights[..., above] == 0) and view.map.causal  # lower-triangular, every head
    assert np.all(weights[..., ~above] > 0)
    assert_close_scaled(torch.from_numpy(weights.sum(-1)), torch.ones(weights.shape[:-1]), what="row sums")
    # the matrix marks the 21 cells above the diagonal as masked, and says why
    view.select(1, 3)
    assert view.to_html().count('class="w masked"') == 21 and "a decoder sees no later token" in view.to_html()
    assert "(causal: no token sees a later one)" in view.to_text()


@pytest.mark.parametrize("family", ["bart", "t5"])
def test_encoder_decoder_shows_encoder_decoder_and_cross_attention(checkpoints, family):
    reference, model = checkpoints[family]
    decoder_ids = torch.tensor([[model.config.decoder_start_token_id, 14, 33, 7]])
    view = AttentionView(model, inputs={"input_ids": IDS, "decoder_input_ids": decoder_ids})
    expected = reference_attentions(reference, input_ids=IDS, decoder_input_ids=decoder_ids)
    assert view.kinds == ["encoder", "decoder", "cross"] and view.kind == "encoder"
    assert_view_matches(view, "encoder", expected.encoder_attentions)
    assert_view_matches(view, "decoder", expected.decoder_attentions)
    assert_view_matches(view, "cross", expected.cross_attentions)
    assert view.maps["cross"].weights.shape[-2:] == (4, 7)  # decoder rows over encoder columns
    assert view.maps["decoder"].causal and not view.maps["encoder"].causal and not view.maps["cross"].causal
    # switching kind rebuilds the grid for that kind's layers and heads (BART's decoder: 3 x 2)
    view.kind = "decoder"
    layers, heads = len(expected.decoder_attentions), expected.decoder_attentions[0].shape[1]
    assert [value for _, value in view.head_grid.options] == [(i, h) for i in range(layers) for h in range(heads)]
    assert f"repeat({heads},32px)" in view.style_html.value


def test_padding_is_dropped_from_both_axes(checkpoints):
    """A padded batch shows each row as the reference computes it alone: BERT padded on the right,
    LLaMA on the left."""
    short = torch.tensor([[5, 17, 42, 8]])
    for family, pad_left in (("bert", False), ("llama", True)):
        reference, model = checkpoints[family]
        pad = torch.zeros(1, 3, dtype=torch.long)
        row = torch.cat([pad, short], 1) if pad_left else torch.cat([short, pad], 1)
        batch = torch.cat([IDS, row])
        mask = torch.ones_like(batch)
        if pad_left:
            mask[1, :3] = 0
        else:
            mask[1, 4:] = 0
        tokens = ["a", "b", "c", "d"]
        padded_tokens = ["<pad>"] * 3 + tokens if pad_left else tokens + ["<pad>"] * 3
        view = AttentionView(model, inputs={"input_ids": batch, "attention_mask": mask}, batch_index=1)
        alone = reference_attentions(reference, input_ids=short).attentions
        assert view.map.weights.shape[-2:] == (4, 4)
        assert_view_matches(view, "self", alone)
        # the same from weights computed before, labelled with the padded row's tokens
        output = reference_attentions(reference, input_ids=batch, attention_mask=mask)
        given = AttentionView(attentions=output.attentions, tokens=padded_tokens, attention_mask=mask, batch_index=1)
        assert given.map.query_tokens == tokens and given.map.key_tokens == tokens
        assert_view_matches(given, "self", alone)


def test_real_minilm_sentence_pair_through_its_tokenizer(minilm_path):
    """Text in, the tokenizer's own tokens on both axes, the reference's weights in the cells."""
    import transformers

    from workbench import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    view = AttentionView(AutoModel.from_pretrained(minilm_path), tokenizer, "The cat sat.", text_pair="It purred.")
    reference = transformers.BertModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    encoded = transformers.AutoTokenizer.from_pretrained(minilm_path)("The cat sat.", "It purred.",
                                                                      return_tensors="pt")
    expected = reference_attentions(reference, **encoded).attentions
    assert view.map.query_tokens == ["[CLS]", "the", "cat", "sat", ".", "[SEP]", "it", "pu", "##rred", ".", "[SEP]"]
    assert_view_matches(view, "self", expected)


# --- what it shows ---------------------------------------------------------------------------------


class Cells(HTMLParser):
    """The attributes of every <td> and <th> of the static HTML."""

    def __init__(self):
        super().__init__()
        self.cells = []

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self.cells.append(dict(attrs))


def parsed(html: str) -> list[dict]:
    parser = Cells()
    parser.feed(html)
    return parser.cells


def test_static_html_reads_the_weights_out(checkpoints):
    reference, model = checkpoints["llama"]
    view = AttentionView(model, inputs={"input_ids": IDS}, tokens=[str(i) for i in range(7)], layer=1, head=2)
    cells = parsed(view.to_html())
    grid = [c for c in cells if c.get("role") == "gridcell"]
    assert len(grid) == 2 * 4 and all(c.get("tabindex") == "0" for c in grid)
    selected = [c for c in grid if c.get("aria-selected") == "true"]
    assert len(selected) == 1 and selected[0]["aria-label"].startswith("layer 1, head 2: entropy")
    # each shaded cell's label holds its weight to 3 decimals: compare with the reference's
    expected = reference_attentions(reference, input_ids=IDS).attentions[1][0, 2]
    labels = [c["aria-label"] for c in cells if c.get("class") == "w"]
    assert len(labels) == 28  # 7 x 7, the 21 above the diagonal masked
    for label in labels:
        query, key, weight = re.fullmatch(r"(\d+) \u2192 (\d+): (\d\.\d{3})", label).groups()
        assert abs(float(weight) - float(expected[int(query), int(key)])) <= 5e-4
    rows = [c for c in cells if c.get("class") == "query"]
    assert len(rows) == 7 and all(c.get("tabindex") == "0" and " attends to " in c["aria-label"] for c in rows)
    # the entropy in the summary is the hand-computed mean row entropy, in bits
    p = expected.double()
    entropy = float(-(p * torch.log2(p.clamp_min(1e-300))).sum(-1).mean())
    assert f"entropy {entropy:.2f} bits" in view.to_text()
    assert "wb-view" in view.to_html() and "--wb-accent" in view.to_html()


def test_selection_moves_controls_and_rewrites_the_saved_view(checkpoints):
    _, model = checkpoints["bert"]
    view = AttentionView(model, inputs={"input_ids": IDS})

    class Handle:
        bundles = []

        def update(self, bundle, raw=False):
            self.bundles.append(bundle)

    view._display_handles = [Handle()]
    view.head_grid.value = (1, 3)  # what a click on the overview's thumbnail does
    assert (view.layer, view.head) == (1, 3)
    assert (view.layer_menu.value, view.head_menu.value) == (1, 3)
    assert view.head_grid.tooltips[view.head_grid.index].startswith("layer 1, head 3: entropy")
    # the thumbnail of each button is its head's pattern
    from workbench.widgets.attention_html import thumbnail_mask
    assert thumbnail_mask(view.map.weights[1, 3]) in view.style_html.value.split('button[value="7"]::before')[1]
    assert "layer 1, head 3:" in view.head_view.value
    assert "layer 1, head 3:" in Handle.bundles[-1]["text/html"]
    view.head_menu.value = 0
    assert view.head == 0 and "layer 1, head 0:" in Handle.bundles[-1]["text/html"]
    assert view.layer_menu.options[1][0].startswith("1 · ") and view.layer_menu.options[1][0].endswith(" bits")
    with pytest.raises(IndexError, match="heads 0..3"):
        view.select(0, 4)


def test_an_encoder_decoder_reads_the_target_through_the_tokenizer(minilm_path):
    """``target=``: the decoder reads the target tokens moved one to the right behind its start token."""
    from workbench import AutoTokenizer
    from workbench.models.bart import BartConfig, BartForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)  # any tokenizer whose ids fit the vocabulary
    config = BartConfig(**dict(TINY_SEQ2SEQ, vocab_size=tokenizer.vocab_size, decoder_start_token_id=101))
    torch.manual_seed(0)
    model = BartForConditionalGeneration(config).eval()
    view = AttentionView(model, tokenizer, "The cat sat.", target="Le chat.")
    assert view.maps["encoder"].query_tokens == ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]
    # the start token, then "[CLS] le chat ." moved one to the right
    assert view.maps["decoder"].query_tokens == ["[CLS]", "[CLS]", "le", "chat", "."]
    assert view.maps["cross"].query_tokens == view.maps["decoder"].query_tokens
    assert view.maps["cross"].key_tokens == view.maps["encoder"].query_tokens
    view.kind = "cross"
    assert "cross-attention (decoder over encoder)" in view.to_text() and view.map.weights.shape[-2:] == (5, 6)


def test_whisper_shows_its_audio_frames_and_decoder_tokens(checkpoints):
    """Speech: the encoder's positions are audio frames (labelled by position), the decoder reads tokens."""
    reference, model = checkpoints["whisper"]
    features = torch.randn(1, 8, 60, generator=torch.Generator().manual_seed(0))  # 60 frames -> 30 positions
    decoder_ids = torch.tensor([[2, 14, 33, 7]])
    view = AttentionView(model, inputs={"input_features": features, "decoder_input_ids": decoder_ids})
    expected = reference_attentions(reference, input_features=features, decoder_input_ids=decoder_ids)
    assert view.maps["encoder"].query_tokens == [str(i) for i in range(30)]
    assert_view_matches(view, "encoder", expected.encoder_attentions)
    assert_view_matches(view, "decoder", expected.decoder_attentions)
    assert_view_matches(view, "cross", expected.cross_attentions)
    with pytest.raises(ValueError, match="encoder attention's sequence has 30 tokens.*max_tokens=30"):
        AttentionView(model, inputs={"input_features": features, "decoder_input_ids": decoder_ids}, max_tokens=20)


# --- errors ----------------------------------------------------------------------------------------


def test_a_long_text_names_the_cap_and_how_to_raise_it(checkpoints):
    _, model = checkpoints["bert"]
    ids = torch.arange(3, 43)[None]  # 40 tokens
    with pytest.raises(ValueError, match=r"40 tokens.*max_tokens=32.*pass max_tokens=40"):
        AttentionView(model, inputs={"input_ids": ids}, max_tokens=32)
    assert AttentionView(model, inputs={"input_ids": ids}, max_tokens=40).map.weights.shape[-1] == 40


def test_a_model_without_attention_weights_is_named():
    class NoWeights(torch.nn.Module):
        def forward(self, input_ids, output_attentions=False, return_dict=True):
            return BaseModelOutput(last_hidden_state=input_ids.float())

    class FusedOnly(torch.nn.Module):
        def forward(self, input_ids, output_attentions=False, return_dict=True):
            return BaseModelOutput(last_hidden_state=input_ids.float(), attentions=(None, None))

    class NoFlag(torch.nn.Module):
        def forward(self, input_ids):
            return input_ids

    with pytest.raises(ValueError, match="output_attentions=True"):
        AttentionView(NoWeights(), inputs={"input_ids": IDS})
    with pytest.raises(ValueError, match=r"Layers \[0, 1\].*attn_implementation=\"eager\""):
        AttentionView(FusedOnly(), inputs={"input_ids": IDS})
    with pytest.raises(TypeError, match="takes no output_attentions.*attentions= and tokens="):
        AttentionView(NoFlag(), inputs={"input_ids": IDS})


def test_a_reference_model_on_sdpa_is_told_to_load_eager():
    """transformers 5 answers output_attentions=True under SDPA with an empty tuple."""
    import transformers

    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**TINY_DECODER)).eval()
    assert model.config._attn_implementation == "sdpa"
    with pytest.raises(ValueError, match=r"empty tuple.*attn_implementation=\"eager\""):
        AttentionView(model, inputs={"input_ids": IDS})
    model.set_attn_implementation("eager")
    assert AttentionView(model, inputs={"input_ids": IDS}).map.causal


def test_generate_s_per_step_attentions_are_named(checkpoints):
    _, model = checkpoints["llama"]
    output = model.generate(IDS, max_new_tokens=2, do_sample=False, output_attentions=True,
                            return_dict_in_generate=True)
    with pytest.raises(ValueError, match=r"per step.*output.attentions\[0\]"):
        AttentionView(attentions=output.attentions)
    assert AttentionView(attentions=output.attentions[0]).map.weights.shape[-1] == 7  # the prompt's step


def test_an_encoder_decoder_without_a_target_says_so(checkpoints):
    _, model = checkpoints["t5"]
    with pytest.raises(TypeError, match="target="):
        AttentionView(model, inputs={"input_ids": IDS})


def test_a_model_in_training_mode_runs_without_dropout_and_stays_in_training(checkpoints):
    reference, _ = checkpoints["bert"]
    model = AutoModel.from_pretrained(reference.name_or_path, attention_probs_dropout_prob=0.5).train()
    view = AttentionView(model, inputs={"input_ids": IDS})
    assert model.training  # put back
    assert_view_matches(view, "self", reference_attentions(reference, input_ids=IDS).attentions)


# --- the tutorial ----------------------------------------------------------------------------------


def test_tutorial_12_runs_and_finds_the_heads(tmp_path, monkeypatch, minilm_path, smollm2_gguf_path):
    """notebooks/12_inside_a_model.ipynb top to bottom in a fresh kernel, offline (as test_notebooks.py runs
    the others)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("gguf")
    from test_notebooks import run_notebook

    text, seconds = run_notebook("12_inside_a_model.ipynb", tmp_path, monkeypatch, tmp_path / "zoo")
    assert "AttentionView(BertModel): self-attention; 14 query x 14 key tokens" in text
    assert "tokens: [CLS] the cat sat on the mat . [SEP] it was tired . [SEP]" in text
    assert re.search(r"\d+ of 72 heads put more than half their attention on \[CLS\]/\[SEP\]", text)
    # MiniLM's most focused head: the previous token
    assert re.search(r"most focused: layer \d, head \d+ \(0\.\d\d bits\)\n"
                     r"  'the' -> '\[CLS\]' [\d.]+\n  'cat' -> 'the' ", text)
    assert re.search(r"causal: True; previous-token head: layer \d+, head \d \(0\.\d\d of its attention", text)
    assert "AttentionView(LlamaForCausalLM): self-attention; 11 query x 11 key tokens" in text
