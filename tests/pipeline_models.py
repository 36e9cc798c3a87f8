"""Tiny random task checkpoints for the pipeline tests, built by the reference library.

Each is a reference model of a few thousand parameters plus MiniLM's real WordPiece tokenizer
(vocab 30,522, lowercasing, offsets), saved to a folder that both libraries load.
"""

from __future__ import annotations

import os

from reference import build_reference_model
from tolerance import TOL, is_close_scaled

ENCODER = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
               max_position_embeddings=128, type_vocab_size=2, hidden_dropout_prob=0.0,
               attention_probs_dropout_prob=0.0)
DISTILBERT = dict(vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=128,
                  dropout=0.0, attention_dropout=0.0)
# RoBERTa pads with the tokenizer's pad id (0 for WordPiece), so its positions skip the same tokens
ROBERTA = dict(ENCODER, pad_token_id=0)
CONFIGS = {"bert": ENCODER, "distilbert": DISTILBERT, "roberta": ROBERTA}
CLASS_PREFIX = {"bert": "Bert", "distilbert": "DistilBert", "roberta": "Roberta"}


def label_config(labels: list[str]) -> dict:
    return dict(id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})


def save_tiny(folder, minilm_path: str, model_type: str, head: str, seed: int = 0, tokenizer_kwargs=None,
              **config) -> str:
    """``head`` is the class name's ending (``"ForTokenClassification"``); returns the folder."""
    import transformers

    folder = str(folder)
    model = build_reference_model(model_type, CLASS_PREFIX[model_type] + head, dict(CONFIGS[model_type], **config),
                                  seed=seed)
    model.save_pretrained(folder)
    kwargs = dict(tokenizer_kwargs or {})
    if model_type == "distilbert":  # DistilBERT tokenizers give no token types
        kwargs.setdefault("model_input_names", ["input_ids", "attention_mask"])
    transformers.AutoTokenizer.from_pretrained(minilm_path, **kwargs).save_pretrained(folder)
    assert os.path.isfile(os.path.join(folder, "config.json"))
    return folder


def reference_pipeline(task: str, folder: str, **kwargs):
    import transformers

    return transformers.pipeline(task, model=folder, **kwargs)


def close(ours, theirs, tol: float = TOL) -> bool:
    """Nested outputs equal, floats within ``tol`` x max(1, |theirs|) (numpy scalars count as floats)."""
    if isinstance(theirs, dict):
        return isinstance(ours, dict) and list(ours) == list(theirs) and all(close(ours[k], theirs[k], tol) for k in theirs)
    if isinstance(theirs, (list, tuple)):
        return isinstance(ours, (list, tuple)) and len(ours) == len(theirs) and all(
            close(a, b, tol) for a, b in zip(ours, theirs))
    if isinstance(theirs, str) or isinstance(ours, str):
        return ours == theirs
    if hasattr(theirs, "item"):
        theirs = theirs.item()
    if isinstance(theirs, float) or isinstance(ours, float):
        return is_close_scaled(float(ours), float(theirs), tol)
    return ours == theirs
