"""``fill-mask``: the likeliest tokens for each mask token in a text.

    "Paris is the [MASK] of France." ─► masked-LM logits at the mask (V,) ─► softmax ─► top k
    ─► {"score", "token" (id), "token_str" (the token decoded), "sequence" (the text filled in)}

>>> fill_mask = pipeline("fill-mask", model=path)                               # doctest: +SKIP
>>> fill_mask(f"Paris is the {fill_mask.tokenizer.mask_token} of France.", top_k=2)   # doctest: +SKIP
[{'score': 0.71, 'token': 3007, 'token_str': 'capital', 'sequence': 'paris is the capital of france.'}, ...]

As in the reference: ``top_k`` defaults to 5 (capped at the vocabulary, or at the number of
``targets``); ``targets`` (a str or a list) limits the choice to those tokens, and a target that
is not one token counts as its first token (with a warning). A text with several masks gives
one list per mask, each scored on its own. A list holding a single text gives that text's
answer, not a list of one (the reference's shape). Options for the tokenizer go in
``tokenizer_kwargs={"truncation": True}``. A text without the mask token is an error.
"""

from __future__ import annotations

import logging

from .base import Pipeline, check_tokenizer_kwargs

logger = logging.getLogger("workbench")


class FillMaskPipeline(Pipeline):
    task = "fill-mask"
    sequence_outputs = ("logits", "input_ids")

    def _sanitize_parameters(self, top_k=None, targets=None, tokenizer_kwargs=None):
        if self.tokenizer.mask_token_id is None:
            raise ValueError(
                f"The fill-mask pipeline needs a tokenizer with a mask token, and "
                f"{self.tokenizer.name_or_path or 'this one'} has none (mask_token is None). Use the tokenizer of a "
                "masked-language model."
            )
        pre, post = {}, {}
        if tokenizer_kwargs is not None:
            check_tokenizer_kwargs(self.tokenizer, tokenizer_kwargs, self.task)
            pre["tokenizer_kwargs"] = dict(tokenizer_kwargs)
        if top_k is not None:
            if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
                raise ValueError(f"top_k must be a positive int, got {top_k!r}.")
            post["top_k"] = top_k
        if targets is not None:
            post["target_ids"] = self._target_ids(targets)
        return pre, {}, post

    def _target_ids(self, targets) -> list[int]:
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in [targets] if isinstance(targets, str) else targets:
            if target in vocab:
                ids.append(vocab[target])
                continue
            pieces = self.tokenizer(target, add_special_tokens=False)["input_ids"]
            if not pieces:
                logger.warning("The target %r is not in the vocabulary and makes no token: it is ignored.", target)
                continue
            logger.warning("The target %r is not in the vocabulary: using its first token %r.", target,
                           self.tokenizer.convert_ids_to_tokens(pieces[0]))
            ids.append(pieces[0])
        if not ids:
            raise ValueError(f"targets={targets!r} gives no token to score: pass tokens of the vocabulary.")
        return list(dict.fromkeys(ids))

    def __call__(self, inputs, **kwargs):
        outputs = super().__call__(inputs, **kwargs)
        return outputs[0] if isinstance(inputs, list) and len(inputs) == 1 else outputs

    def check_input(self, item) -> None:
        if not isinstance(item, str):
            raise ValueError(f"{self.task} takes strings, got {type(item).__name__}: {item!r:.60}")
        if self.tokenizer.mask_token not in item:
            raise self._no_mask(item)

    def _no_mask(self, text: str) -> ValueError:
        mask = self.tokenizer.mask_token
        return ValueError(f"No mask token ({mask}) in the input {text!r:.80}: put {mask} where a word should go.")

    def preprocess(self, text, tokenizer_kwargs=None):
        encoded = self.tokenizer(text, return_tensors="pt", **(tokenizer_kwargs or {}))
        if not (encoded["input_ids"] == self.tokenizer.mask_token_id).any():
            raise self._no_mask(text)  # truncation cut it off
        yield encoded, None

    def _forward(self, model_inputs: dict) -> dict:
        return {"logits": self.model(**model_inputs).logits, "input_ids": model_inputs["input_ids"]}

    def postprocess(self, chunks, top_k=5, target_ids=None):
        (outputs, _), = chunks
        input_ids = outputs["input_ids"][0]  # (T,)
        masks = (input_ids == self.tokenizer.mask_token_id).nonzero().squeeze(-1)  # (M,)
        probs = outputs["logits"][0, masks].float().softmax(-1)  # (M, V)
        if target_ids is not None:
            probs = probs[:, target_ids]
        values, indices = probs.topk(min(top_k, probs.shape[-1]))
        single = len(masks) == 1
        answers = []
        for mask, row_values, row_indices in zip(masks.tolist(), values.tolist(), indices.tolist()):
            row = []
            for score, index in zip(row_values, row_indices):
                token = target_ids[index] if target_ids is not None else index
                filled = input_ids.clone()
                filled[mask] = token
                if self.tokenizer.pad_token_id is not None:
                    filled = filled[filled != self.tokenizer.pad_token_id]
                # with several masks the other masks stay visible in the sequence
                sequence = self.tokenizer.decode(filled, skip_special_tokens=single)
                row.append({"score": score, "token": token, "token_str": self.tokenizer.decode([token]),
                            "sequence": sequence})
            answers.append(row)
        return answers[0] if single else answers
