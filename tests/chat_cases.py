"""Chat templates, conversations and tool functions shared by the chat template tests.

The templates are written in the style of the ones on the Hub: SmolLM2 / Hermes / Qwen for tools,
Command-R for documents, plus {% generation %} blocks, typed content parts and reasoning.
"""

from __future__ import annotations

from typing import Literal

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
{% for part in message.content %}
{% if part.type == 'text' %}{{ part.text }}{% else %}<{{ part.type }}>{% endif %}
{% endfor %}
{% endif %}
<|im_end|>
{% endfor %}"""

REASONING_TEMPLATE = """\
{% for message in messages %}
<|{{ message.role }}|>
{% if message.reasoning_content is defined %}<think>{{ message.reasoning_content }}</think>{% endif %}
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


# --- tools -------------------------------------------------------------------------------------------


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



def untyped(city, days: int):
    """Forecast.

    Args:
        city: The city
        days: How many days
    """


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
