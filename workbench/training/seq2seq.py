"""``Seq2SeqTrainer``: a Trainer whose evaluation can score ``model.generate()`` outputs.

With ``Seq2SeqTrainingArguments(predict_with_generate=True)``, ``evaluate``/``predict`` hand
``compute_metrics`` generated token ids (padded with the pad id to one length) instead of logits,
for metrics such as ROUGE or BLEU. Any model with a ``generate()`` method works: encoder-decoders
return only new tokens, decoder-only models return the prompt followed by the new tokens.
"""

from __future__ import annotations

from typing import Any

import torch

from .trainer import Trainer


class Seq2SeqTrainer(Trainer):
    """:class:`Trainer` plus generation during evaluation (see the module docstring)."""

    def evaluate(self, eval_dataset=None, ignore_keys: list[str] | None = None, metric_key_prefix: str = "eval",
                 **gen_kwargs) -> dict[str, float]:
        """As :meth:`Trainer.evaluate`; ``gen_kwargs`` (``max_new_tokens``, ``num_beams``, ...) go to generate()."""
        self._gen_kwargs = self._generation_kwargs(gen_kwargs)
        return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def predict(self, test_dataset, ignore_keys: list[str] | None = None, metric_key_prefix: str = "test",
                **gen_kwargs):
        self._gen_kwargs = self._generation_kwargs(gen_kwargs)
        return super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def _generation_kwargs(self, gen_kwargs: dict) -> dict:
        gen_kwargs = dict(gen_kwargs)
        if gen_kwargs.get("max_length") is None and gen_kwargs.get("max_new_tokens") is None:
            gen_kwargs["max_length"] = getattr(self.args, "generation_max_length", None)
        if gen_kwargs.get("num_beams") is None:
            gen_kwargs["num_beams"] = getattr(self.args, "generation_num_beams", None)
        config = getattr(self.args, "generation_config", None)
        if config is not None and "generation_config" not in gen_kwargs:
            if isinstance(config, (str, bytes)) or hasattr(config, "__fspath__"):
                from ..generation import GenerationConfig

                config = GenerationConfig.from_pretrained(config)
            gen_kwargs["generation_config"] = config
        return {k: v for k, v in gen_kwargs.items() if v is not None}

    def prediction_step(self, model, inputs: dict[str, Any], prediction_loss_only: bool,
                        ignore_keys: list[str] | None = None, **gen_kwargs):
        """With ``predict_with_generate``: (loss, generated ids, labels), ids and labels padded to one length."""
        if not getattr(self.args, "predict_with_generate", False) or prediction_loss_only:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        has_labels = "labels" in inputs
        inputs = self._prepare_inputs(inputs)
        gen_kwargs = gen_kwargs or dict(getattr(self, "_gen_kwargs", {}))
        generation_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        if "decoder_input_ids" in inputs and has_labels and inputs["labels"].shape == inputs["decoder_input_ids"].shape:
            # teacher-forcing inputs made from the labels would give the answer away
            generation_inputs = {k: v for k, v in generation_inputs.items()
                                 if k not in ("decoder_input_ids", "decoder_attention_mask")}
        generator = self.accelerator.unwrap_model(self.model)
        if not hasattr(generator, "generate"):
            raise TypeError(f"predict_with_generate=True needs a model with generate(); {type(generator).__name__} "
                            "has none. Set predict_with_generate=False.")
        with torch.no_grad():
            generated = generator.generate(**generation_inputs, **gen_kwargs)
        if hasattr(generated, "sequences"):
            generated = generated.sequences
        loss = None
        if has_labels:
            with torch.no_grad(), self.compute_loss_context_manager():
                loss = self.compute_loss(model, inputs).detach().mean()
        if self.args.prediction_loss_only:
            return loss, None, None
        labels = inputs["labels"] if has_labels else None
        if labels is not None and labels.shape[-1] < generated.shape[-1]:
            labels = self._pad_tensors_to_max_len(labels, generated.shape[-1], -100)
        return loss, generated, labels

    def _pad_tensors_to_max_len(self, tensor: torch.Tensor, max_length: int, pad_id: int | None = None) -> torch.Tensor:
        if pad_id is None:
            pad_id = getattr(self.processing_class, "pad_token_id", None)
            if pad_id is None:
                pad_id = getattr(getattr(self.model, "config", None), "pad_token_id", None)
            if pad_id is None:
                raise ValueError("Padding generated ids needs a pad token id: set tokenizer.pad_token or "
                                 "model.config.pad_token_id.")
        padded = tensor.new_full((tensor.shape[0], max_length), pad_id)
        padded[:, : tensor.shape[-1]] = tensor
        return padded
