"""A real K-quant GGUF: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (../shared/ASSETS.md; assembled by
tests/assets.py), loaded by workbench and by the reference's own GGUF loader from the same file.

The file mixes Q4_K, Q6_K, Q5_0, Q8_0 and F32 tensors (llama.cpp's Q4_K_M recipe) and carries its
byte-level BPE vocabulary and chat template. Both sides dequantize with the gguf package, so the
weights must agree exactly; the chat prompts, rendered by each side's template, must give the same
ids, and greedy decoding the same tokens.
"""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.gguf import read_gguf_summary

from assets import QWEN_CODER_FILE, qwen_coder_gguf

pytestmark = pytest.mark.slow
transformers = pytest.importorskip("transformers")
pytest.importorskip("gguf")

CHATS = [
    [{"role": "user", "content": "Write a Python function that returns the square of n."}],
    [{"role": "system", "content": "You answer in one short sentence."},
     {"role": "user", "content": "What does the len() function return for a list?"}],
]
NEW_TOKENS = 20


@pytest.fixture(scope="module")
def folder():
    return str(qwen_coder_gguf().parent)


@pytest.fixture(scope="module")
def ours(folder):
    return (workbench.AutoTokenizer.from_pretrained(folder, gguf_file=QWEN_CODER_FILE),
            workbench.AutoModelForCausalLM.from_pretrained(folder, gguf_file=QWEN_CODER_FILE))


@pytest.fixture(scope="module")
def theirs(folder):
    return (transformers.AutoTokenizer.from_pretrained(folder, gguf_file=QWEN_CODER_FILE),
            transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=QWEN_CODER_FILE).eval())


def test_the_file_holds_k_quants(folder):
    summary = read_gguf_summary(f"{folder}/{QWEN_CODER_FILE}")
    assert {"Q4_K", "Q6_K", "Q5_0", "Q8_0"} <= set(summary["tensor_types"]), summary["tensor_types"]
    assert summary["config"]["model_type"] == "qwen2" and summary["has_tokenizer"]


def test_every_dequantized_tensor_equals_the_reference(ours, theirs):
    mine, reference = ours[1].state_dict(), theirs[1].state_dict()
    assert set(mine) == set(reference)
    assert [k for k in reference if not torch.equal(mine[k], reference[k])] == []


def left_padded(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.tensor([[pad] * (width - len(row)) + row for row in rows])
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows])
    return ids, mask


def test_chat_prompts_and_greedy_tokens_match_the_reference(ours, theirs):
    """Both chats in one left-padded batch (decoding is bound by reading the weights: a batch of
    two costs what one prompt does)."""
    (tokenizer, model), (reference_tokenizer, reference) = ours, theirs
    rows = []
    for chat in CHATS:
        ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True)["input_ids"]
        assert ids == reference_tokenizer.apply_chat_template(chat, add_generation_prompt=True)["input_ids"]
        rows.append(ids)
    ids, mask = left_padded(rows, model.config.pad_token_id)
    with torch.no_grad():
        mine = model.generate(ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False)
        expected = reference.generate(ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False)
    answers = tokenizer.batch_decode(mine[:, ids.shape[1]:])
    assert mine.tolist() == expected.tolist(), answers
    assert "def square(n" in answers[0]  # the model really answers: the quantized weights are right
