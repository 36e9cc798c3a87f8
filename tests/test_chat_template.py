"""Chat templates: parity with transformers' apply_chat_template and get_json_schema, the sandbox, errors.

Every parity test renders with workbench and with the reference from the same tokenizer folder
(SmolLM2's, which carries a real chat template) and compares the strings or token ids exactly.
The other templates are written here in the style of the ones on the Hub: tools (Hermes / Qwen
style), documents (Command-R style), {% generation %} blocks, typed content parts, reasoning.
"""

from __future__ import annotations

import datetime
import threading
import warnings
from enum import Enum
from typing import Any, Literal, Optional, Union

import pytest
import torch

from workbench import AutoTokenizer, ChatTemplateError, ChatTemplateSecurityError, get_json_schema
from workbench.tokenization import DocstringParsingException, TypeHintParsingException, compile_chat_template
from workbench.tokenization.chat_sandbox import CACHE_SIZE

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from transformers.utils import get_json_schema as reference_get_json_schema  # noqa: E402

TOOL_TEMPLATE = """\
{% if tools %}
<|im_start|>system
{% if messages[0].role == 'system' %}
{{ messages[0].content }}

{% endif %}
You may call these functions; their signatures are inside <tools></tools>:
<tools>
{% for tool in tools %}
{{ tool | tojson }}
{% endfor %}
</tools>
Call one with <tool_call>{"name": ..., "arguments": ...}</tool_call>.<|im_end|>
{% elif messages[0].role == 'system' %}
<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
{% for message in messages %}
{% if message.role == 'system' %}{% continue %}{% endif %}
{% if message.role == 'assistant' and message.tool_calls is defined %}
<|im_start|>assistant
{% if message.content is defined %}{{ message.content }}
{% endif %}
{% for call in message.tool_calls %}
<tool_call>
{{ {"name": call.function.name, "arguments": call.function.arguments} | tojson }}
</tool_call>
{% endfor %}
<|im_end|>
{% elif message.role == 'tool' %}
<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% else %}
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{% endfor %}
{% if add_generation_prompt %}
<|im_start|>assistant
{% endif %}"""

RAG_TEMPLATE = """\
{{ bos_token }}{% if documents %}<|system|>Answer from these documents and cite them as [n].
{% for document in documents %}
[{{ loop.index0 }}] {{ document.title }}: {{ document.text }}
{% endfor %}
{% endif %}
{% for message in messages %}
<|{{ message.role }}|>{{ message.content | trim }}{{ eos_token }}
{% endfor %}
{% if add_generation_prompt %}<|assistant|>{% endif %}"""

GENERATION_TEMPLATE = """\
{% for message in messages %}
{% if message.role == 'assistant' %}
<|im_start|>assistant
{% generation %}{{ message.content }}<|im_end|>{% endgeneration %}

{% else %}
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{% endfor %}
{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""

PARTS_TEMPLATE = """\
{% for message in messages %}
<|im_start|>{{ message.role }}
{% if message.content is string %}{{ message.content }}{% else %}
{% for part in message.content %}{% if part.type == 'text' %}{{ part.text }}{% else %}<{{ part.type }}>{% endif %}{% endfor %}
{% endif %}
<|im_end|>
{% endfor %}"""

REASONING_TEMPLATE = """\
{% for message in messages %}
<|{{ message.role }}|>{% if message.reasoning_content is defined %}<think>{{ message.reasoning_content }}</think>{% endif %}
{{ message.content }}{% if message.thinking is defined %} (thought: {{ message.thinking }}){% endif %}

{% endfor %}"""

TOJSON_TEMPLATE = (
    "{{ data | tojson }}|{{ data | tojson(indent=2) }}|{{ data | tojson(sort_keys=true, separators=(',', ':')) }}"
    "|{{ data | tojson(ensure_ascii=true) }}"
)

CHAT = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "What's 2 + 2?"},
    {"role": "assistant", "content": "4."},
    {"role": "user", "content": "And in Roman numerals, naïvely? ✨"},
]
PREFILL = CHAT + [{"role": "assistant", "content": "It is "}]
NO_SYSTEM = [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello. How can I help?"}]


# --- tools: Python functions, compared through get_json_schema -------------------------------------


class Unit(Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> float:
    """Get the current temperature in a city.

    Args:
        city: The city, e.g. "Paris, France"
        unit: The unit to report the temperature in

    Returns:
        The temperature, as a float.
    """
    return 21.0


def multiply(x: float, y: int | float) -> float:
    """
    Multiply two numbers.

    Args:
        x: The first number to multiply
        y: The second number to multiply;
            it may also be an integer.
    """
    return x * y


def search(
    query: str,
    tags: list[str],
    limit: Optional[int] = None,
    weights: dict[str, float] | None = None,
    point: tuple[int, str] = (0, ""),
    mode: Union[str, bool] = "fast",
    shape: list[int] | str = "",
    extra: Any = None,
    scale: Unit = Unit.CELSIUS,
    verbose: bool = False,
):
    """Search the knowledge base.

    Searches every indexed document.

    Args:
        query: What to look for
        tags: Tags the results must carry
        limit: At most this many results
        weights: A weight per field
        point: A (row, label) pair
        mode: How hard to search (choices: ["fast", "thorough"])
        shape: The output shape
        extra: Anything else
        scale: The temperature scale
        verbose: Print progress

    Raises:
        ValueError: when the query is empty.
    """


def no_arguments() -> str:
    """Tell the time."""
    return "noon"


class Calculator:
    def add(self, a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: The first integer
            b: The second integer

        Returns:
            The sum
        """
        return a + b


class Opaque:
    pass


def returns_custom(name: str) -> Opaque:
    """Build an opaque object.

    Args:
        name: Its name
    """
    return Opaque()


SCHEMA_FUNCTIONS = [get_weather, multiply, search, no_arguments, Calculator().add, returns_custom]
WEATHER_SCHEMA = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current temperature in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": 'The city, e.g. "Paris, France"'},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The unit"},
            },
            "required": ["city"],
        },
    },
}
TOOL_CHAT = [
    {"role": "system", "content": "Use tools when they help."},
    {"role": "user", "content": "Weather in Zürich, and 3 × 4?"},
    {
        "role": "assistant",
        "content": None,  # the OpenAI format sends None; the key is dropped before rendering
        "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich"}}},
            {"type": "function", "function": {"name": "multiply", "arguments": {"x": 3, "y": 4}}},
        ],
    },
    {"role": "tool", "name": "get_weather", "content": "17.5"},
    {"role": "tool", "name": "multiply", "content": "12"},
]
DOCUMENTS = [
    {"title": "Tides", "text": "Tides are caused by the Moon's gravity."},
    {"title": "Moon", "text": "The Moon is 384,400 km away."},
]


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
    assert assert_same_text(pair, CHAT, chat_template=extra, greeting="hey") .startswith("<|im_start|><|im_end|>hey")


def test_strftime_now_and_raise_exception(pair):
    ours, _ = pair
    today = ours.apply_chat_template(CHAT, chat_template="{{ strftime_now('%Y-%m-%d') }}", tokenize=False)
    assert today in {str(datetime.date.today()), str(datetime.date.today() - datetime.timedelta(days=1))}
    strict = "{% if messages[0].role != 'user' %}{{ raise_exception('Conversations must start with a user turn') }}{% endif %}ok"
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
    assert ours.decode(ours.apply_chat_template(CHAT, return_dict=False)) == ours.apply_chat_template(CHAT, tokenize=False)


def test_tokenized_batch_with_padding_and_truncation(pair):
    ours, reference = pair
    batch = [CHAT, NO_SYSTEM]
    for kwargs in (
        {"padding": True, "return_tensors": "pt"},
        {"padding": "max_length", "truncation": True, "max_length": 40, "return_tensors": "np"},
        {"tokenizer_kwargs": {"padding_side": "left"}, "padding": True, "tools": [get_weather], "chat_template": TOOL_TEMPLATE},
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
    mine, theirs = ours.apply_chat_template(conversation, **options), reference.apply_chat_template(conversation, **options)
    assert set(mine) == set(theirs) == {"input_ids", "attention_mask", "assistant_masks"}
    for key in mine:
        assert_equal(mine[key], theirs[key])
    masks, ids = mine["assistant_masks"], mine["input_ids"]
    rows = masks.tolist() if hasattr(masks, "tolist") else masks
    rows, ids = (rows, ids) if isinstance(rows[0], list) else ([rows], [ids])
    ids = ids.tolist() if hasattr(ids, "tolist") else ids
    if "max_length" not in kwargs:  # the masked tokens decode to exactly the assistant turns
        assistant = [m["content"] + "<|im_end|>" for m in (conversation if isinstance(conversation[0], dict) else conversation[0]) if m["role"] == "assistant"]
        assert ours.decode([i for i, m in zip(ids[0], rows[0]) if m]) == "".join(assistant)


def test_assistant_mask_needs_a_generation_block_and_return_dict(pair):
    ours, _ = pair
    with pytest.warns(UserWarning, match=r"no \{% generation %\} block"):
        out = ours.apply_chat_template(CHAT, return_assistant_tokens_mask=True)
    assert set(out["assistant_masks"]) == {0}
    with pytest.raises(ChatTemplateError, match="return_dict=True"):
        ours.apply_chat_template(CHAT, chat_template=GENERATION_TEMPLATE, return_assistant_tokens_mask=True, return_dict=False)


def test_generation_spans_are_per_thread(pair):
    ours, _ = pair
    expected = ours.apply_chat_template(NO_SYSTEM, chat_template=GENERATION_TEMPLATE, return_assistant_tokens_mask=True)
    results = []

    def work():
        for _ in range(20):
            out = ours.apply_chat_template(NO_SYSTEM, chat_template=GENERATION_TEMPLATE, return_assistant_tokens_mask=True)
            results.append(out["assistant_masks"] == expected["assistant_masks"])

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 60 and all(results)


# --- get_json_schema ------------------------------------------------------------------------------


@pytest.mark.parametrize("func", SCHEMA_FUNCTIONS, ids=lambda f: f.__name__)
def test_get_json_schema_matches_reference(func):
    assert get_json_schema(func) == reference_get_json_schema(func)


def test_get_json_schema_details():
    schema = get_json_schema(search)["function"]
    properties = schema["parameters"]["properties"]
    assert schema["description"] == "Search the knowledge base.\n\nSearches every indexed document."
    assert schema["parameters"]["required"] == ["query", "tags"]
    assert properties["limit"] == {"type": "integer", "nullable": True, "description": "At most this many results"}
    assert properties["mode"] == {"type": ["boolean", "string"], "enum": ["fast", "thorough"], "description": "How hard to search"}
    assert properties["shape"]["anyOf"] == [{"type": "array", "items": {"type": "integer"}}, {"type": "string"}]
    assert properties["scale"]["enum"] == ["celsius", "fahrenheit"]
    assert get_json_schema(multiply)["function"]["parameters"]["properties"]["y"]["description"] == (
        "The second number to multiply; it may also be an integer."
    )
    assert "return" not in get_json_schema(returns_custom)["function"]  # an odd return hint is left out


def test_get_json_schema_accepts_typed_google_arguments():
    def scale(value: float, factor: float = 2.0) -> float:
        """Scale a value.

        Args:
            value (float): The value
            factor (float, optional): The factor
        """

    properties = get_json_schema(scale)["function"]["parameters"]["properties"]
    assert properties["factor"] == {"type": "number", "description": "The factor"}


def untyped(city, days: int):
    """Forecast.

    Args:
        city: The city
        days: How many days
    """


def undocumented(city: str, days: int):
    """Forecast.

    Args:
        city: The city
    """


def no_docstring(city: str):
    pass


def custom_argument(thing: Opaque):
    """Use a thing.

    Args:
        thing: The thing
    """


@pytest.mark.parametrize(
    "func, error, message",
    [
        (untyped, TypeHintParsingException, "argument 'city' has no type hint"),
        (undocumented, DocstringParsingException, "does not describe the argument 'days'"),
        (no_docstring, DocstringParsingException, "no docstring"),
        (custom_argument, TypeHintParsingException, "no JSON schema equivalent"),
    ],
)
def test_get_json_schema_errors(pair, func, error, message):
    reference_errors = (transformers.utils.TypeHintParsingException, transformers.utils.DocstringParsingException)
    with pytest.raises(reference_errors):
        reference_get_json_schema(func)
    with pytest.raises(error, match=message):
        get_json_schema(func)
    with pytest.raises(error, match=message):  # the same error through apply_chat_template
        pair[0].apply_chat_template(CHAT, tools=[func], chat_template=TOOL_TEMPLATE, tokenize=False)


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


def test_rich_objects_reach_templates_as_plain_data(pair):
    ours, _ = pair
    tensor_message = [{"role": "user", "content": [{"type": "image", "image": torch.zeros(2)}, {"type": "text", "text": "hi"}]}]
    probe = "{% for part in messages[0].content %}{{ part.image if part.image is defined else part.text }};{% endfor %}"
    assert ours.apply_chat_template(tensor_message, chat_template=probe, tokenize=False) == "<Tensor>;hi;"
    with pytest.raises(ChatTemplateSecurityError):
        ours.apply_chat_template(tensor_message, chat_template="{{ messages[0].content[0].image.__class__ }}", tokenize=False)


def test_template_builtins_expose_no_types(pair):
    ours, _ = pair
    safe = "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{{ dict(a=1) | tojson }}"
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
    assert tokenizer.apply_chat_template(CHAT[:2], tokenize=False) == "system: You are a terse assistant.\nuser: What's 2 + 2?\n"


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
    with pytest.raises(NotImplementedError, match="sanitize_control_tokens"):
        ours.apply_chat_template(CHAT, sanitize_control_tokens=True)
