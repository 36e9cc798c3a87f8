"""GenerationInspector and the generation hook it stands on (``generate(logits_observer=...)``).

Truths: the tokens ``generate()`` returns for the same arguments (greedy, and sampling after the
same seed) and the reference's ``generate()`` on the same tiny random checkpoint (a Llama over
SmolLM2's vocabulary, with its chat template); the reference's ``output_scores`` /
``output_logits`` for the probabilities; hand computations for the repetition penalty, the
no-repeat n-gram ban and top-k; the reference model's own hidden states, final norm and LM head
for the logit lens.
"""

from __future__ import annotations

import re

import pytest
import torch

import workbench
from workbench.generation import LogitsProcessorList

from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

pytest.importorskip("ipywidgets")
from workbench.widgets import GenerationInspector  # noqa: E402
from workbench.widgets.generation_inspector import STYLE  # noqa: E402
from workbench.widgets.generation_trace import format_probability  # noqa: E402

CHAT = [{"role": "user", "content": "Name three colours."}]
GREEDY = dict(max_new_tokens=10, do_sample=False, repetition_penalty=1.3, no_repeat_ngram_size=2)
SAMPLING = dict(max_new_tokens=8, do_sample=True, temperature=0.7, top_k=20, top_p=0.9)


@pytest.fixture(scope="module")
def tiny(tiny_chat_model_path):
    """(workbench model, workbench tokenizer, reference model, reference tokenizer) of the tiny chat llama."""
    transformers = pytest.importorskip("transformers")
    folder = tiny_chat_model_path
    return (workbench.AutoModelForCausalLM.from_pretrained(folder), workbench.AutoTokenizer.from_pretrained(folder),
            load_reference_model("LlamaForCausalLM", folder), transformers.AutoTokenizer.from_pretrained(folder))


@pytest.fixture(scope="module")
def tiny_gpt2(smollm2_path, tmp_path_factory):
    """A tiny random GPT-2 over SmolLM2's vocabulary: (workbench model, tokenizer, reference model)."""
    transformers = pytest.importorskip("transformers")
    reference_tokenizer = transformers.AutoTokenizer.from_pretrained(smollm2_path)
    config = dict(vocab_size=len(reference_tokenizer), n_embd=32, n_layer=3, n_head=4, n_positions=128,
                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    folder = save_reference_model(build_reference_model("gpt2", "GPT2LMHeadModel", config),
                                  str(tmp_path_factory.mktemp("tiny-gpt2")))
    reference_tokenizer.save_pretrained(folder)
    return (workbench.AutoModelForCausalLM.from_pretrained(folder), workbench.AutoTokenizer.from_pretrained(folder),
            load_reference_model("GPT2LMHeadModel", folder))


def chat_ids(tokenizer):
    return tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, return_tensors="pt", return_dict=True)


# --- the hook in generation/ -----------------------------------------------------------------------


def test_observer_sees_every_processor_in_order(tiny):
    model, tokenizer, _, _ = tiny
    inputs = chat_ids(tokenizer)
    calls = []
    out = model.generate(**inputs, **GREEDY, return_dict_in_generate=True, output_scores=True, output_logits=True,
                         logits_observer=lambda *call: calls.append(call))
    names = [type(processor).__name__ for processor, *_ in calls]
    assert names == ["RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor"] * len(out.scores)
    for step in range(len(out.scores)):
        (_, ids, before, middle), (_, _, middle_again, after) = calls[2 * step:2 * step + 2]
        assert ids.shape[1] == inputs["input_ids"].shape[1] + step
        assert torch.equal(before, out.logits[step]) and torch.equal(after, out.scores[step])
        assert middle is middle_again  # each processor gets what the one before it returned
    plain = model.generate(**inputs, **GREEDY)
    assert torch.equal(plain, out.sequences) and LogitsProcessorList().observer is None


# --- the recorded tokens and probabilities ---------------------------------------------------------


def test_greedy_trace_matches_generate_and_the_reference(tiny):
    model, tokenizer, reference, reference_tokenizer = tiny
    inspector = GenerationInspector(model, tokenizer, CHAT, **GREEDY)
    inputs = chat_ids(reference_tokenizer)
    theirs = reference.generate(**inputs, **GREEDY, return_dict_in_generate=True, output_scores=True,
                                output_logits=True)
    assert torch.equal(inspector.trace.sequences, model.generate(**chat_ids(tokenizer), **GREEDY))
    assert torch.equal(inspector.trace.sequences, theirs.sequences)
    assert [s.token_id for s in inspector.steps] == theirs.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    for step, (scores, logits) in zip(inspector.steps, zip(theirs.scores, theirs.logits)):
        ids = [c.id for c in step.candidates]
        assert_close_scaled(torch.tensor([c.probability for c in step.candidates]),
                            scores[0].softmax(-1)[ids], what=f"step {step.index} p after")
        assert_close_scaled(torch.tensor([c.raw_probability for c in step.candidates]),
                            logits[0].softmax(-1)[ids], what=f"step {step.index} p before")
        assert step.rank == 1 and step.token_id == int(scores[0].argmax())
        assert step.candidates[0].id == step.token_id  # greedy: the top candidate is the choice


def test_sampling_trace_matches_generate_after_the_same_seed(tiny):
    model, tokenizer, _, _ = tiny
    inspector = GenerationInspector(model, tokenizer, "The sky is", seed=5, **SAMPLING)
    torch.manual_seed(5)
    expected = model.generate(**tokenizer("The sky is", return_tensors="pt"), **SAMPLING)
    assert torch.equal(inspector.trace.sequences, expected)
    torch.manual_seed(6)
    other = model.generate(**tokenizer("The sky is", return_tensors="pt"), **SAMPLING)
    assert not torch.equal(other, expected)  # the seed matters, so the match above is not luck
    for step in inspector.steps:
        [temperature, top_k, top_p] = step.effects
        assert (temperature.processor, temperature.removed, temperature.changed) == ("TemperatureLogitsWarper", 0,
                                                                                    len(tokenizer))
        assert top_k.processor == "TopKLogitsWarper" and top_k.candidates - top_k.removed == 20
        assert top_p.processor == "TopPLogitsWarper" and top_p.candidates == 20
        kept = int((inspector.trace.scores[step.index][0] > -torch.inf).sum())
        assert kept == 20 - top_p.removed and step.probability > 0
        assert temperature.settings == "temperature=0.7" and top_k.settings == "top_k=20"


def test_repetition_penalty_effect_matches_a_hand_computation(tiny):
    model, tokenizer, _, _ = tiny
    inspector = GenerationInspector(model, tokenizer, CHAT, max_new_tokens=4, repetition_penalty=1.5)
    trace = inspector.trace
    for step in inspector.steps:
        [effect] = step.effects
        raw = trace.logits[step.index][0].double()
        seen = sorted(set(trace.sequences[0, :trace.input_ids.shape[1] + step.index].tolist()))
        penalised = raw.clone()
        penalised[seen] = torch.where(raw[seen] > 0, raw[seen] / 1.5, raw[seen] * 1.5)
        assert effect.processor == "RepetitionPenaltyLogitsProcessor" and effect.settings == "penalty=1.5"
        assert (effect.changed, effect.removed) == (len(seen), 0)
        p_before, p_after = raw.softmax(-1), penalised.softmax(-1)
        ids = [change.id for change in effect.changes]
        assert set(ids) <= set(seen) and len(ids) == 5
        moved = (p_after - p_before).abs()[seen]
        assert_close_scaled(torch.tensor([abs(c.after - c.before) for c in effect.changes], dtype=torch.float64),
                            moved.sort(descending=True).values[:5], what="largest moves")
        assert_close_scaled(torch.tensor([c.after for c in effect.changes], dtype=torch.float64), p_after[ids])
        assert_close_scaled(torch.tensor([c.score_after for c in effect.changes], dtype=torch.float64), penalised[ids])
        top = effect.changes[0]
        assert f"{top.text!r} p {format_probability(top.before)} → {format_probability(top.after)}" in effect.summary


def test_no_repeat_ngram_ban_lists_the_banned_tokens(tiny):
    model, tokenizer, _, _ = tiny
    inspector = GenerationInspector(model, tokenizer, "one two one two", max_new_tokens=3, no_repeat_ngram_size=1)
    trace = inspector.trace
    for step in inspector.steps:
        [effect] = step.effects
        seen = set(trace.sequences[0, :trace.input_ids.shape[1] + step.index].tolist())
        assert effect.removed == len(seen) and effect.changed == 0
        assert {c.id for c in effect.changes} <= seen and all(c.after == 0 for c in effect.changes)
        assert step.token_id not in seen
        assert effect.summary.startswith(f"removed {len(seen)} of {len(tokenizer)} candidates")


# --- logit lens ------------------------------------------------------------------------------------


def reference_lens(reference, ids, norm, head):
    with torch.no_grad():
        out = reference(ids, output_hidden_states=True)
    hidden = [h[0, -1] for h in out.hidden_states]
    return torch.stack([head(norm(h)) for h in hidden[:-1]] + [head(hidden[-1])]), out.logits[0, -1]


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_logit_lens_matches_the_reference_and_ends_at_the_real_logits(family, tiny, tiny_gpt2):
    from workbench.widgets.generation_trace import lens_logits

    if family == "llama":
        model, tokenizer, reference, _ = tiny
        norm, head, layers = reference.model.norm, reference.lm_head, 2
    else:
        model, tokenizer, reference = tiny_gpt2
        norm, head, layers = reference.transformer.ln_f, reference.lm_head, 3
    inspector = GenerationInspector(model, tokenizer, "The sky is", max_new_tokens=4)
    trace = inspector.trace
    for step in (0, 3):
        ids = trace.sequences[:, :trace.input_ids.shape[1] + step]
        names, logits, final = lens_logits(model, ids)
        expected, expected_final = reference_lens(reference, ids, norm, head)
        assert names[0] == "embeddings" and len(names) == layers + 1
        assert_close_scaled(logits, expected, what=f"{family} lens step {step}")
        assert_close_scaled(logits[-1], trace.logits[step][0], what="last lens row against the step's logits")
        assert_close_scaled(final, expected_final)
        rows = inspector.lens(step)
        assert [r.name for r in rows] == names
        assert rows[-1].top[0].id == int(trace.logits[step][0].argmax()) == inspector.steps[step].token_id
        assert rows[-1].chosen_rank == 1
        assert_close_scaled(torch.tensor([t.probability for t in rows[1].top]),
                            expected[1].softmax(-1).topk(len(rows[1].top)).values)


def test_unsupported_models_and_settings_say_so(tiny):
    model, tokenizer, _, _ = tiny
    from workbench.models.opt import OPTConfig, OPTForCausalLM

    opt = OPTForCausalLM(OPTConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, ffn_dim=32,
                                   num_attention_heads=2, word_embed_proj_dim=16))
    with pytest.raises(ValueError, match="Llama-family: model.norm, GPT-2: transformer.ln_f"):
        GenerationInspector(opt, tokenizer, "Hi", max_new_tokens=2)
    assert len(GenerationInspector(opt, tokenizer, "Hi", max_new_tokens=2, lens=False).steps) == 2
    with pytest.raises(ValueError, match="drop num_beams=2"):
        GenerationInspector(model, tokenizer, "Hi", max_new_tokens=2, num_beams=2)
    with pytest.raises(TypeError, match="a prompt string, a list of chat messages"):
        GenerationInspector(model, tokenizer, 3.5, max_new_tokens=2)


# --- the view --------------------------------------------------------------------------------------


class RecordingHandle:
    def __init__(self):
        self.updates = []

    def update(self, bundle, raw=False):
        self.updates.append(bundle)


def test_controls_drive_the_step_and_refresh_the_saved_view(tiny):
    model, tokenizer, _, _ = tiny
    inspector = GenerationInspector(model, tokenizer, CHAT, **GREEDY)
    handle = RecordingHandle()
    inspector._display_handles = [handle]
    steps = inspector.steps
    assert inspector.slider.label == f"step 1 of {len(steps)}: token {steps[0].text!r}"
    assert inspector.prev_button.disabled and not inspector.next_button.disabled
    inspector.next_button.click()
    inspector.next_button.click()
    assert inspector.step == 2 and inspector.slider.label == f"step 3 of {len(steps)}: token {steps[2].text!r}"
    assert inspector.token_buttons[2].button_style == "primary" and inspector.token_buttons[0].button_style == ""
    inspector.token_buttons[-1].click()
    assert inspector.step == len(steps) - 1 and inspector.next_button.disabled
    inspector.slider.value = 4
    assert inspector.step == 4 and f"step 5 of {len(steps)}" in inspector.detail.value
    assert len(handle.updates) == 4
    saved = handle.updates[-1]["text/html"]
    assert f"step 5 of {len(steps)}: token" in saved and "application/vnd.jupyter.widget-view+json" in handle.updates[-1]
    with pytest.raises(IndexError, match="steps 0..9"):
        inspector.step = 10


def test_the_control_used_gets_the_focus_back_after_the_refresh(tiny):
    """Refreshing the saved view redraws the live one (the browser drops the focus): the control
    that moved the step is focused again; a step set from code leaves the focus alone."""
    model, tokenizer, _, _ = tiny
    inspector = GenerationInspector(model, tokenizer, "The sky is", max_new_tokens=4)
    inspector._display_handles = [RecordingHandle()]
    focused = []
    for control in (inspector.next_button, inspector.prev_button, inspector.slider, *inspector.token_buttons):
        control.focus = lambda control=control: focused.append(control)
    inspector.next_button.click()
    inspector.token_buttons[3].click()
    inspector.prev_button.click()
    inspector.slider.value = 0  # as a drag in the page sets it
    inspector.step = 2
    assert focused == [inspector.next_button, inspector.token_buttons[3], inspector.prev_button, inspector.slider]
    assert inspector.step == 2 and len(inspector._display_handles[0].updates) == 5


def test_static_view_shows_the_whole_trace_with_theme_variables(tiny):
    model, tokenizer, _, _ = tiny
    inspector = GenerationInspector(model, tokenizer, CHAT, step=3, **GREEDY)
    html = inspector.to_html()
    assert html.count('class="tok') == len(inspector.steps) and html.count('class="tok sel"') == 1
    step = inspector.steps[3]
    assert f"step 4 of {len(inspector.steps)}" in html and "RepetitionPenaltyLogitsProcessor" in html
    assert "Logit lens" in html and html.count('<th scope="row">') == 3  # embeddings + 2 layers
    for candidate in step.candidates:
        assert f">{candidate.id}<" in html
    assert 'class="wb-view' in html and not re.findall(r"#[0-9a-fA-F]{3,6}\b|rgb\(", STYLE)
    assert "every step" in html and all(f">{s.token_id}<" in html for s in inspector.steps)
    bundle = inspector._repr_mimebundle_()
    assert bundle["text/html"] == html and "application/vnd.jupyter.widget-view+json" in bundle
    assert inspector.to_text().startswith("GenerationInspector(") and step.text in inspector.to_text()
