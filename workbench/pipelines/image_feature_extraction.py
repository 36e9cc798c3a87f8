"""``image-feature-extraction``: a vision model's last hidden states for an image, as nested lists.

    image ─► image processor ─► model ─► last_hidden_state (1, T, H)   or, pool=True, pooler_output (1, H)

As the reference (5.23): ``pool=True`` needs a model with a pooler (an error says so otherwise),
``return_tensors=True`` gives the tensor instead of lists, ``image_processor_kwargs={...}`` go to the
image processor.
"""

from __future__ import annotations

from .image_base import ImagePipeline


class ImageFeatureExtractionPipeline(ImagePipeline):
    task = "image-feature-extraction"

    def _sanitize_parameters(self, image_processor_kwargs=None, return_tensors=None, pool=None, timeout=None):
        pre = dict(image_processor_kwargs or {})
        if timeout is not None:
            pre["timeout"] = timeout
        post = {key: value for key, value in (("pool", pool), ("return_tensors", return_tensors)) if value is not None}
        return pre, {}, post

    def preprocess(self, image, timeout=None, **image_processor_kwargs):
        yield self.pixels(image, timeout, **image_processor_kwargs), None

    def _forward(self, model_inputs: dict) -> dict:
        outputs = self.model(**model_inputs)
        pooled = getattr(outputs, "pooler_output", None)
        return {"hidden": outputs[0], **({"pooled": pooled} if pooled is not None else {})}

    def postprocess(self, chunks, pool: bool = False, return_tensors: bool = False):
        (outputs, _), = chunks
        if pool and "pooled" not in outputs:
            raise ValueError(f"pool=True needs a pooled output, and {type(self.model).__name__} returns none (its "
                             "config has no pooler, e.g. add_pooling_layer=False): pass pool=False for the hidden states.")
        features = outputs["pooled"] if pool else outputs["hidden"]
        return features if return_tensors else features.tolist()
