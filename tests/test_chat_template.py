"""Chat templates: parity with transformers' apply_chat_template, the sandbox, errors.

Every parity test renders with workbench and with the reference from the same tokenizer folder
(SmolLM2's, which carries a real chat template) and compares the strings or token ids exactly.
The other templates (tools, documents, {% generation %}, content parts) are in chat_cases.py;
get_json_schema has its own tests in test_tool_schema.py.
"""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from chat_cases import (
    CHAT, DOCUMENTS, GENERATION_TEMPLATE, NO_SYSTEM, PARTS_TEMPLATE, PREFILL, RAG_TEMPLATE, REASONING_TEMPLATE,
    TOJSON_TEMPLATE, TOOL_CHAT, TOOL_TEMPLATE, WEATHER_SCHEMA, get_weather, multiply, untyped,
)  # fmt: skip
from workbench import AutoTokenizer, ChatTemplateError, ChatTemplateSecurityError, get_json_schema
from workbench.tokenization import TypeHintParsingException
from workbench.tokenization.chat_sandbox import CACHE_SIZE, compile_chat_template

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(smollm2_path):
    """(workbench, reference) SmolLM2 tokenizers loaded from the same folder."""
    return AutoTokenizer.from_pretrained(smollm2_path), transformers.AutoTokenizer.from_pretrained(smollm2_path)


def rendered(pair, conversation, **kwargs):
    """The chat as text, from workbench and from the reference."""
    ours, reference = pair
    return (
        ours.apply_chat_template(conversation, tokenize=False, **kwargs),
        reference.apply_chat_template(conversation, tokenize=False, **kwargs),
    )


def assert_same_text(pair, conversation, **kwargs) -> str:
    ours, theirs = rendered(pair, conversation, **kwargs)
    assert ours == theirs
    return ours


# --- parity: text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("conversation", [CHAT, NO_SYSTEM, CHAT[:2]], ids=["system", "no-system", "one-turn"])
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_smollm2_template(pair, conversation, add_generation_prompt):
    text = assert_same_text(pair, conversation, add_generation_prompt=add_generation_prompt)
    assert text.endswith("<|im_start|>assistant\n") == add_generation_prompt
    assert text.startswith("<|im_start|>system\n")  # SmolLM2 adds a default system message


def test_smollm2_continue_final_message(pair):
    text = assert_same_text(pair, PREFILL, continue_final_message=True)
    assert text.endswith("<|im_start|>assistant\nIt is ")  # open-ended, trailing space kept
    for prefill in ("", "  ", "Done.\n"):
        assert_same_text(pair, CHAT + [{"role": "assistant", "content": prefill}], continue_final_message=True)


def test_batch_of_conversations(pair):
    batch = [CHAT, NO_SYSTEM, PREFILL]
    ours, theirs = rendered(pair, batch, add_generation_prompt=True)
    assert isinstance(ours, list) and ours == theirs
    ours, theirs = rendered(pair, [NO_SYSTEM, PREFILL], continue_final_message=True)
    assert ours == theirs and ours[1].endswith("It is ")


@pytest.mark.parametrize("as_functions", [False, True], ids=["schemas", "functions"])
def test_tool_template(pair, as_functions):
    tools = [get_weather, multiply] if as_functions else [WEATHER_SCHEMA, get_json_schema(multiply)]
    text = assert_same_text(pair, TOOL_CHAT, tools=tools, chat_template=TOOL_TEMPLATE, add_generation_prompt=True)
    assert "<tool_call>\n" in text and "Zürich" in text and "None" not in text
    assert '"name": "get_weather"' in text
    # without tools the same template takes its other branch
    assert_same_text(pair, CHAT, chat_template=TOOL_TEMPLATE)


def test_tool_use_template_is_picked_by_name_or_by_tools(pair, smollm2_path):
    ours, reference = (
        AutoTokenizer.from_pretrained(smollm2_path),
        transformers.AutoTokenizer.from_pretrained(smollm2_path),
    )
    templates = {"default": ours.chat_template, "tool_use": TOOL_TEMPLATE, "rag": RAG_TEMPLATE}
    ours.chat_template, reference.chat_template = dict(templates), dict(templates)
    both = (ours, reference)
    picks = [({}, "default"), ({"tools": [get_weather]}, "tool_use"), ({"chat_template": "rag"}, "rag"),
             ({"chat_template": "tool_use", "tools": [get_weather]}, "tool_use")]  # fmt: skip
    for kwargs, name in picks:
        text = assert_same_text(both, TOOL_CHAT[:2], **kwargs)
        source = {**kwargs, "chat_template": templates[name]}
        assert text == ours.apply_chat_template(TOOL_CHAT[:2], tokenize=False, **source)
    assert ours.get_chat_template("rag") == RAG_TEMPLATE
    with pytest.raises(ChatTemplateError, match=r"not a template of this tokenizer.*'default', 'rag', 'tool_use'"):
        ours.apply_chat_template(CHAT, chat_template="tool-use", tokenize=False)
    del ours.chat_template["default"]
    with pytest.raises(ChatTemplateError, match="none is named 'default'"):
        ours.apply_chat_template(CHAT, tokenize=False)


def test_named_templates_survive_save_and_load(pair, tmp_path):
    ours = AutoTokenizer.from_pretrained(pair[0].name_or_path)
    ours.chat_template = {"default": pair[0].chat_template, "tool_use": TOOL_TEMPLATE}
    ours.save_pretrained(tmp_path)
    both = (AutoTokenizer.from_pretrained(tmp_path), transformers.AutoTokenizer.from_pretrained(str(tmp_path)))
    assert_same_text(both, TOOL_CHAT, tools=[get_weather])
    assert_same_text(both, CHAT, add_generation_prompt=True)


def test_documents_template(pair):
    text = assert_same_text(pair, CHAT[1:], documents=DOCUMENTS, chat_template=RAG_TEMPLATE, add_generation_prompt=True)
    assert "[1] Moon: The Moon is 384,400 km away." in text
    assert_same_text(pair, CHAT[1:], chat_template=RAG_TEMPLATE)  # no documents: that block is skipped
    # the template trims the message, so continue_final_message drops the trailing space too
    assert_same_text(pair, PREFILL, documents=DOCUMENTS, chat_template=RAG_TEMPLATE, continue_final_message=True)


def test_content_parts_reasoning_and_template_variables(pair):
    parts = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat, "}, {"type": "image"}]},
    ]
    assert_same_text(pair, parts, chat_template=PARTS_TEMPLATE)
    text = assert_same_text(pair, parts, chat_template=PARTS_TEMPLATE, continue_final_message=True)
    assert text.endswith("A cat, ")
    reasoning = [
        {"role": "user", "content": "Is 7 prime?"},
        {"role": "assistant", "content": "Yes.", "reasoning": "No divisor up to sqrt(7)."},
        {"role": "assistant", "content": "Sure.", "thinking": "Quick check.", "reasoning_content": None},
    ]
    assert "<think>No divisor" in assert_same_text(pair, reasoning, chat_template=REASONING_TEMPLATE)
    data = {"b": "é <tag> & 'quote'", "a": [1, 2.5, None, True, {"z": "ü"}]}
    assert "é <tag>" in assert_same_text(pair, CHAT, chat_template=TOJSON_TEMPLATE, data=data)
    extra = "{{ bos_token }}{{ eos_token }}{{ greeting }}{% for m in messages %}{{ m.content }}{% endfor %}"
    assert assert_same_text(pair, CHAT, chat_template=extra, greeting="hey").startswith("<|im_start|><|im_end|>hey")


def test_strftime_now_and_raise_exception(pair):
    ours, _ = pair
    today = ours.apply_chat_template(CHAT, chat_template="{{ strftime_now('%Y-%m-%d') }}", tokenize=False)
    assert today in {str(datetime.date.today()), str(datetime.date.today() - datetime.timedelta(days=1))}
    strict = (
        "{% if messages[0].role != 'user' %}{{ raise_exception('Conversations must start with a user turn') }}"
        "{% endif %}ok"
    )
    assert ours.apply_chat_template(NO_SYSTEM, chat_template=strict, tokenize=False) == "ok"
    with pytest.raises(ChatTemplateError, match="rejected this input: Conversations must start with a user turn"):
        ours.apply_chat_template(CHAT, chat_template=strict, tokenize=False)


# --- parity: tokens --------------------------------------------------------------------------------


def test_tokenized_outputs_match(pair):
    ours, reference = pair
    for kwargs in ({}, {"return_dict": False}, {"add_generation_prompt": True, "return_tensors": "pt"}):
        mine, theirs = ours.apply_chat_template(CHAT, **kwargs), reference.apply_chat_template(CHAT, **kwargs)
        assert type(mine).__name__ == type(theirs).__name__
        if isinstance(mine, list):
            assert mine == theirs and isinstance(mine[0], int)
            continue
        assert set(mine) == set(theirs) == {"input_ids", "attention_mask"}
        for key in mine:
            assert_equal(mine[key], theirs[key])
    ids = ours.apply_chat_template(CHAT, return_dict=False)
    assert ours.decode(ids) == ours.apply_chat_template(CHAT, tokenize=False)


def test_tokenized_batch_with_padding_and_truncation(pair):
    ours, reference = pair
    batch = [CHAT, NO_SYSTEM]
    for kwargs in (
        {"padding": True, "return_tensors": "pt"},
        {"padding": "max_length", "truncation": True, "max_length": 40, "return_tensors": "np"},
        {"tokenizer_kwargs": {"padding_side": "left"}, "padding": True, "tools": [get_weather],
         "chat_template": TOOL_TEMPLATE},  # fmt: skip
        {"return_dict": False},
    ):
        mine, theirs = ours.apply_chat_template(batch, **kwargs), reference.apply_chat_template(batch, **kwargs)
        if isinstance(theirs, list):
            assert mine == theirs
            continue
        assert set(mine) == set(theirs)
        for key in mine:
            assert_equal(mine[key], theirs[key])


def assert_equal(mine, theirs):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(mine, torch.Tensor) and mine.dtype == theirs.dtype
        assert torch.equal(mine, theirs)
    elif hasattr(theirs, "tolist"):
        assert type(mine) is type(theirs) and mine.tolist() == theirs.tolist()
    else:
        assert mine == theirs


# --- assistant masks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "conversation, kwargs",
    [
        (CHAT + [{"role": "assistant", "content": "IV, naïvely."}], {}),
        ([CHAT[:3], NO_SYSTEM, CHAT], {"padding": True}),
        ([CHAT[:3], NO_SYSTEM], {"padding": True, "return_tensors": "pt", "add_generation_prompt": True}),
        (CHAT[:3], {"return_tensors": "pt"}),
        ([CHAT[:3]], {"truncation": True, "max_length": 30}),
    ],
    ids=["single", "batch", "batch-pt", "single-pt", "truncated"],
)
def test_assistant_masks(pair, conversation, kwargs):
    ours, reference = pair
    options = dict(chat_template=GENERATION_TEMPLATE, return_dict=True, return_assistant_tokens_mask=True, **kwargs)
    mine = ours.apply_chat_template(conversation, **options)
    theirs = reference.apply_chat_template(conversation, **options)
    assert set(mine) == set(theirs) == {"input_ids", "attention_mask", "assistant_masks"}
    for key in mine:
        assert_equal(mine[key], theirs[key])
    masks, ids = mine["assistant_masks"], mine["input_ids"]
    rows = masks.tolist() if hasattr(masks, "tolist") else masks
    rows, ids = (rows, ids) if isinstance(rows[0], list) else ([rows], [ids])
    ids = ids.tolist() if hasattr(ids, "tolist") else ids
    if "max_length" not in kwargs:  # the masked tokens decode to exactly the assistant turns
        first = conversation if isinstance(conversation[0], dict) else conversation[0]
        assistant = [m["content"] + "<|im_end|>" for m in first if m["role"] == "assistant"]
        assert ours.decode([i for i, m in zip(ids[0], rows[0]) if m]) == "".join(assistant)


def test_assistant_mask_needs_a_generation_block_and_return_dict(pair):
    ours, _ = pair
    with pytest.warns(UserWarning, match=r"no \{% generation %\} block"):
        out = ours.apply_chat_template(CHAT, return_assistant_tokens_mask=True)
    assert set(out["assistant_masks"]) == {0}
    with pytest.raises(ChatTemplateError, match="return_dict=True"):
        ours.apply_chat_template(
            CHAT, chat_template=GENERATION_TEMPLATE, return_assistant_tokens_mask=True, return_dict=False
        )


def test_generation_spans_are_per_thread(pair):
    ours, _ = pair
    options = dict(conversation=NO_SYSTEM, chat_template=GENERATION_TEMPLATE, return_assistant_tokens_mask=True)
    expected = ours.apply_chat_template(**options)
    results = []

    def work():
        for _ in range(20):
            out = ours.apply_chat_template(**options)
            results.append(out["assistant_masks"] == expected["assistant_masks"])

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 60 and all(results)



# --- the sandbox ----------------------------------------------------------------------------------

ATTACKS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__['os'] }}",
    "{{ lipsum.__globals__['os'].system('id') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ messages.__class__.__base__.__subclasses__() }}",
    "{{ ''|attr('__class__') }}",
    "{{ '{0.__class__.__mro__}'.format('') }}",
    "{{ messages.append(1) }}",
    "{% set ns = namespace() %}{% set ns.__dict__ = 1 %}",
    "{% import 'os' as os %}{{ os.popen('id') }}",
    "{% include 'subprocess' %}",
    "{% extends '/etc/passwd' %}",
]


@pytest.mark.parametrize("template", ATTACKS)
def test_templates_cannot_reach_python_internals(pair, template):
    ours, _ = pair
    with pytest.raises(ChatTemplateSecurityError, match="chat template"):
        ours.apply_chat_template(CHAT, chat_template=template, tokenize=False)
    # a normal template still renders afterwards
    assert ours.apply_chat_template(NO_SYSTEM, tokenize=False).endswith("How can I help?<|im_end|>\n")


@dataclasses.dataclass
class Message:
    role: str
    content: str


def test_rich_objects_reach_templates_as_plain_data(pair):
    ours, _ = pair
    content = [{"type": "image", "image": torch.zeros(2)}, {"type": "text", "text": "hi"}]
    tensor_message = [{"role": "user", "content": content}]
    probe = "{% for part in messages[0].content %}{{ part.image if part.image is defined else part.text }};{% endfor %}"
    assert ours.apply_chat_template(tensor_message, chat_template=probe, tokenize=False) == "<Tensor>;hi;"
    as_dataclasses = [Message(**message) for message in CHAT]
    assert ours.apply_chat_template(as_dataclasses, tokenize=False) == ours.apply_chat_template(CHAT, tokenize=False)
    with pytest.raises(ChatTemplateError, match="no attribute 'numpy'"):  # the tensor itself never gets in
        ours.apply_chat_template(tensor_message, chat_template="{{ messages[0].content[0].image.numpy() }}", tokenize=False)


def test_template_builtins_expose_no_types(pair):
    ours, _ = pair
    safe = (
        "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}"
        "{{ ns.n }}{{ dict(a=1) | tojson }}"
    )
    assert ours.apply_chat_template(CHAT, chat_template=safe, tokenize=False) == '4{"a": 1}'
    with pytest.raises(ChatTemplateError, match="has no attribute 'mro'"):  # `dict` is not the dict type
        ours.apply_chat_template(CHAT, chat_template="{{ dict.mro() }}", tokenize=False)


def test_compiled_templates_are_cached():
    compile_chat_template.cache_clear()
    template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    assert compile_chat_template(template) is compile_chat_template(template)
    assert compile_chat_template.cache_info().hits == 1
    for index in range(CACHE_SIZE + 4):
        compile_chat_template(f"{index}{template}")
    assert compile_chat_template.cache_info().currsize == CACHE_SIZE


# --- errors ---------------------------------------------------------------------------------------


def test_no_chat_template(minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    with pytest.raises(ChatTemplateError, match=r"no chat template.*tokenizer\.chat_template = "):
        tokenizer.apply_chat_template(CHAT)
    tokenizer.chat_template = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    expected = "system: You are a terse assistant.\nuser: What's 2 + 2?\n"
    assert tokenizer.apply_chat_template(CHAT[:2], tokenize=False) == expected


def test_argument_errors(pair):
    ours, _ = pair
    with pytest.raises(ChatTemplateError, match="cannot be combined"):
        ours.apply_chat_template(PREFILL, continue_final_message=True, add_generation_prompt=True)
    with pytest.raises(ChatTemplateError, match="empty conversation"):
        ours.apply_chat_template([])
    with pytest.raises(ChatTemplateError, match="list of messages"):
        ours.apply_chat_template("Hello")
    thinking = PREFILL[:-1] + [{"role": "assistant", "content": "", "reasoning_content": "Hmm"}]
    with pytest.raises(ChatTemplateError, match="never mentions that field"):
        ours.apply_chat_template(thinking, continue_final_message="reasoning_content", tokenize=False)
    with pytest.raises(ChatTemplateError, match="has no 'reasoning_content' to continue"):
        ours.apply_chat_template(PREFILL, continue_final_message="reasoning_content", tokenize=False)
    with pytest.raises(ChatTemplateError, match="does not compile.*line 1"):
        ours.apply_chat_template(CHAT, chat_template="{% for m in messages %}", tokenize=False)
    with pytest.raises(ChatTemplateError, match="has no attribute 'text'"):
        ours.apply_chat_template(CHAT, chat_template="{{ messages[0].text + 'x' }}", tokenize=False)
    with pytest.raises(ChatTemplateError, match="JSON schema"):
        ours.apply_chat_template(CHAT, tools=["get_weather"], tokenize=False)
    with pytest.raises(TypeHintParsingException, match="argument 'city' has no type hint"):
        ours.apply_chat_template(CHAT, tools=[untyped], chat_template=TOOL_TEMPLATE, tokenize=False)
    with pytest.raises(ChatTemplateError, match="got dict"):
        ours.apply_chat_template(CHAT, chat_template={"default": "{{ 1 }}"})
    with pytest.raises(NotImplementedError, match="sanitize_control_tokens"):
        ours.apply_chat_template(CHAT, sanitize_control_tokens=True)


def test_jinja2_loads_only_when_a_template_renders():
    code = (
        "import sys; from workbench import AutoTokenizer; assert 'jinja2' not in sys.modules; "
        "from workbench.tokenization.chat import render_conversations; "
        "render_conversations('{{ messages[0].content }}', [[{'role': 'user', 'content': 'hi'}]]); "
        "assert 'jinja2' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
