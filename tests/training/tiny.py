"""A tiny BERT classifier and a synthetic dataset: fast enough to train in a test on a busy CPU."""

from __future__ import annotations

import torch

TINY_BERT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                 max_position_embeddings=64, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def tiny_model(seed: int = 0, **overrides):
    from workbench import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    return BertForSequenceClassification.from_config(BertConfig(**{**TINY_BERT, **overrides}))


def tiny_rows(count: int = 32, length: int = 8, seed: int = 0) -> list[dict]:
    """Rows whose label is whether token 5 appears: learnable in a few steps."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for index in range(count):
        ids = torch.randint(6, 99, (length,), generator=generator)
        label = index % 2
        if label:
            ids[int(torch.randint(1, length, (1,), generator=generator))] = 5
        ids[0] = 1
        rows.append({"input_ids": ids.tolist(), "attention_mask": [1] * length, "label": label})
    return rows


def tiny_dataset(count: int = 32, length: int = 8, seed: int = 0):
    import datasets

    rows = tiny_rows(count, length, seed)
    return datasets.Dataset.from_list([{**row, "text": "unused"} for row in rows])
