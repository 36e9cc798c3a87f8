"""workbench.widgets: the TokenizerInspector on real tokenizers (ids, offsets, side by side, chat
views), and that importing workbench loads no UI library. Each other view has its own file
(tests/test_widgets_<view>.py); no kernel runs in any of them: the widgets work without one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from workbench import AutoTokenizer  # noqa: E402
from workbench.widgets import TokenizerInspector  # noqa: E402

ROOT = Path(__file__).parents[1]


# --- TokenizerInspector ----------------------------------------------------------------------------

TEXT = "Tokenization is unbelievable!\nNew line\tand café 🤗"


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    return AutoTokenizer.from_pretrained(smollm2_path)


@pytest.mark.parametrize("which", ["minilm", "smollm2"])
def test_inspector_tokens_ids_and_offsets_are_the_tokenizers_own(which, request):
    tokenizer = request.getfixturevalue(which)
    inspector = TokenizerInspector(tokenizer, text=TEXT)
    encoded = tokenizer(TEXT, return_offsets_mapping=True)
    assert inspector.ids == encoded["input_ids"]
    assert inspector.offsets == [tuple(o) for o in encoded["offset_mapping"]]
    assert [p.token for p in inspector.pieces] == tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    specials = [i for i in encoded["input_ids"] if i in tokenizer.all_special_ids]
    assert [p.id for p in inspector.pieces if p.special] == specials
    page = inspector.to_html()
    assert all(f"<sub>{i}</sub>" in page for i in encoded["input_ids"])
    assert page == inspector.output.value
    assert f"{len(encoded['input_ids'])} tokens" in page


def test_inspector_follows_the_text_box_and_the_special_tokens_box(minilm):
    inspector = TokenizerInspector(minilm, text="hello")
    inspector.text_box.value = "hello world"
    assert inspector.text == "hello world"
    assert [p.token for p in inspector.pieces] == ["[CLS]", "hello", "world", "[SEP]"]
    assert inspector.pieces[0].special and not inspector.pieces[1].special
    inspector.special_box.value = False
    assert inspector.ids == minilm("hello world", add_special_tokens=False)["input_ids"]
    inspector.text = "bye"
    assert inspector.text_box.value == "bye" and [p.token for p in inspector.pieces] == ["bye"]


def test_side_by_side_finds_where_wordpiece_and_bpe_split_differently(minilm, smollm2):
    inspector = TokenizerInspector(minilm, text="Tokenization is unbelievable", other=smollm2)
    assert [p.id for p in inspector.other_pieces] == smollm2("Tokenization is unbelievable")["input_ids"]
    (difference,) = inspector.differences  # token|ization is cut alike; " is" vs "is" is whitespace only
    assert (difference.start, difference.end, difference.text) == (16, 28, "unbelievable")
    assert difference.tokens == ["unbelievable"] and difference.other_tokens == ["·unbelie", "vable"]
    page = inspector.to_html()
    assert f"{len(inspector.pieces)} tokens" in page and f"{len(inspector.other_pieces)} tokens" in page
    assert "1 places split differently" in page and "·unbelie | vable" in page
    flagged = re.findall(r'class="tk diff"[^>]*>([^<]*)<', page)
    assert flagged == ["unbelievable", "·unbelie", "vable"]
    inspector.text = "Hello world"
    assert inspector.differences == [] and "at the same places" in inspector.to_html()


def test_inspector_bundle_carries_the_tokens_json_for_the_lab_renderer(minilm, smollm2):
    inspector = TokenizerInspector(minilm, text="Tokenization is unbelievable", other=smollm2)
    mime = "application/vnd.workbench.tokens+json"
    data = json.loads(json.dumps(inspector._repr_mimebundle_()[mime]))  # plain JSON
    assert (data["schema"], data["version"], data["name"]) == ("workbench.tokens", 1, inspector.to_dict()["name"])
    assert [t["id"] for t in data["tokens"]] == inspector.ids
    assert [(t["start"], t["end"]) for t in data["tokens"]] == inspector.offsets
    assert [t["text"] for t in data["other"]["tokens"]] == [p.text for p in inspector.other_pieces]
    assert [d["text"] for d in data["differences"]] == ["unbelievable"] and data["chat"] is None
    assert sorted(inspector._repr_mimebundle_(include=[mime, "text/plain"])) == [mime, "text/plain"]


CHAT = [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Hello! Again?"}, {"role": "assistant", "content": "Hello again, friend."}]


def test_chat_view_marks_the_assistant_contents_when_the_template_has_no_generation_block(smollm2):
    inspector = TokenizerInspector(smollm2, chat=CHAT)
    view = inspector.chat_view
    assert view.method == "offsets" and inspector.view == "chat"
    assert [p.id for p in view.pieces] == smollm2.apply_chat_template(CHAT, return_dict=False)
    marked = [p.id for p in view.pieces if p.assistant]
    assert smollm2.decode(marked) == "Hello!Hello again, friend."
    # exactly the tokens inside the two assistant contents: the user's "Hello!" is not marked
    inside = [p.id for p in view.pieces if any(s <= p.start and p.end <= e for s, e in view.spans)]
    assert marked == inside and len(view.spans) == 2
    assert all(view.text[s:e] in ("Hello!", "Hello again, friend.") for s, e in view.spans)
    assert f"{len(marked)} of them the assistant's" in inspector.to_html()
    inspector.view_buttons.value = "text"
    assert "chat template" not in inspector.output.value and "chat template" in inspector.to_html()


def test_chat_view_uses_the_generation_mask_when_the_template_has_one(smollm2):
    template = ("{% if tools %}<|im_start|>system\nTools:{% for t in tools %} {{ t.function.name }}{% endfor %}"
                "<|im_end|>\n{% endif %}"
                "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' %}{% generation %}"
                "{{ m.content }}<|im_end|>{% endgeneration %}{% else %}{{ m.content }}<|im_end|>{% endif %}\n"
                "{% endfor %}")
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                               "parameters": {"type": "object", "properties": {}}}}]
    inspector = TokenizerInspector(smollm2, chat=CHAT, chat_template=template, tools=tools)
    view = inspector.chat_view
    expected = smollm2.apply_chat_template(CHAT, chat_template=template, tools=tools, return_dict=True,
                                           return_assistant_tokens_mask=True)
    assert view.method == "generation" and view.text.startswith("<|im_start|>system\nTools: get_weather<|im_end|>")
    assert [p.id for p in view.pieces] == expected["input_ids"]
    assert [int(p.assistant) for p in view.pieces] == expected["assistant_masks"]
    assert smollm2.decode([p.id for p in view.assistant_tokens]) == "Hello!<|im_end|>Hello again, friend.<|im_end|>"


# ActivationDiff: tests/test_widgets_diff.py
# TrainingCurves: tests/test_widgets_curves.py


# --- the core stays free of UI libraries ---------------------------------------------------------


def test_importing_workbench_and_porting_loads_no_ui_library():
    code = ("import workbench, workbench.porting, workbench.widgets, workbench.catalog, sys, json; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    modules = json.loads(out.stdout.splitlines()[-1])
    assert not [m for m in modules if m.split(".")[0] in ("ipywidgets", "matplotlib", "IPython", "transformers")]
