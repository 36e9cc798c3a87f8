"""``ProcessorMixin``: a model's input parts (a tokenizer plus a feature extractor or an image
processor) behind one object, saved and loaded together.

    processor(audio=waveform, sampling_rate=16000)  ─► feature extractor ─► input_features
    processor(text="...")                            ─► tokenizer         ─► input_ids, attention_mask
    processor(images=image)                          ─► image processor   ─► pixel_values
    processor.batch_decode(generated_ids)            ─► tokenizer.batch_decode

``save_pretrained`` writes what transformers 5 writes: the tokenizer's own files, chat_template.jinja,
and processor_config.json with the other parts nested in it. ``from_pretrained`` also reads 4.x
folders (preprocessor_config.json beside the tokenizer files); see ``files.py``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from typing import Any, NamedTuple

from ..atomic_folder import paths_in, staged_save
from ..hub import HubOptions
from ..hub_push import PushToHubMixin
from ..io import atomic_write_text
from ..tokenization import AutoTokenizer, PreTrainedTokenizerFast
from ..tokenization.saving import save_tokenizer, write_chat_templates
from .auto import AutoFeatureExtractor
from .auto_image import AutoImageProcessor
from .base import BatchFeature, FeatureExtractionMixin
from .image_processing import BaseImageProcessor
from .files import PROCESSOR_CONFIG, load_processor_dict


class Part(NamedTuple):
    loader: type  # the Auto class whose from_pretrained(folder, **hub options) loads it
    kind: type  # what an instance must be
    nested: bool  # saved as an entry of processor_config.json (else in its own files beside it)


# attribute name -> how that part is loaded, checked and saved
PARTS = {
    "tokenizer": Part(AutoTokenizer, PreTrainedTokenizerFast, nested=False),
    "feature_extractor": Part(AutoFeatureExtractor, FeatureExtractionMixin, nested=True),
    "image_processor": Part(AutoImageProcessor, BaseImageProcessor, nested=True),
}
# call argument -> the part that reads it: processor(text=..., audio=..., images=...)
INPUTS = {"text": "tokenizer", "audio": "feature_extractor", "images": "image_processor"}
_NOT_SETTINGS = ("processor_class", "auto_map")  # keys of processor_config.json that describe the file


class ProcessorMixin(PushToHubMixin):
    """The shared half of every processor. A subclass names its parts, in constructor order:

    >>> class WhisperProcessor(ProcessorMixin):
    ...     attributes = ("feature_extractor", "tokenizer")
    """

    attributes: tuple[str, ...] = ()
    # whether the processor holds a chat template of its own (the reference's processors that take
    # ``chat_template=`` do; WhisperProcessor does not, its template is its tokenizer's)
    takes_chat_template = True

    def __init__(self, *args: Any, chat_template: str | dict[str, str] | None = None, **kwargs: Any) -> None:
        if len(args) > len(self.attributes):
            raise TypeError(f"{type(self).__name__} takes {len(self.attributes)} parts ({', '.join(self.attributes)}), "
                            f"got {len(args)} positional arguments.")
        unknown = sorted(set(kwargs) - set(self.attributes))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {unknown}; its parts are "
                            f"{', '.join(self.attributes)} (plus chat_template=).")
        for name, value in zip(self.attributes, args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__} got {name} both by position and by name.")
            kwargs[name] = value
        for name in self.attributes:
            if name not in kwargs:
                raise TypeError(f"{type(self).__name__} needs every part: {', '.join(self.attributes)} (missing {name}).")
            if not isinstance(kwargs[name], PARTS[name].kind):
                raise TypeError(f"{type(self).__name__}: {name} must be a {PARTS[name].kind.__name__}, got "
                                f"{type(kwargs[name]).__name__}. Pass the parts in the order "
                                f"({', '.join(self.attributes)}) or by name.")
            setattr(self, name, kwargs[name])
        if chat_template is not None and not self.takes_chat_template:
            raise TypeError(f"{type(self).__name__} takes no chat_template (as in the reference): give the template to "
                            "its tokenizer, processor.tokenizer.chat_template = ...")
        self.chat_template = chat_template
        self._extra: dict[str, Any] = {}  # settings of a saved processor_config.json this version does not use

    # --- loading and saving -------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """Load every part from a folder or Hub repo saved by transformers 5 (processor_config.json) or 4.x
        (preprocessor_config.json beside the tokenizer files).

        Keyword arguments: hub options (``revision``, ``subfolder``, ...); ``chat_template=`` (the
        processor's, or its tokenizer's when the processor takes none); a setting of a nested part
        (``feature_size=``) goes to that part, anything else to the tokenizer, and one they both have
        (``padding_side="left"``) to both, as in the reference.
        """
        options = HubOptions.pop_from(kwargs)
        saved = load_processor_dict(pretrained_model_name_or_path, options)
        own = {"chat_template": kwargs.pop("chat_template", saved.get("chat_template"))} if cls.takes_chat_template else {}
        parts, taken = {}, set()
        for name in cls.attributes:
            if PARTS[name].nested:
                parts[name], used = _load_nested_part(name, pretrained_model_name_or_path, options, kwargs)
                taken |= used
        # the tokenizer takes the rest, and the settings it shares with another part (padding_side)
        rest = {key: value for key, value in kwargs.items() if key not in taken or hasattr(PARTS["tokenizer"].kind, key)}
        if "tokenizer" in cls.attributes:
            loader = PARTS["tokenizer"].loader
            parts["tokenizer"] = loader.from_pretrained(pretrained_model_name_or_path, **dataclasses.asdict(options), **rest)
        elif rest:
            raise TypeError(f"{cls.__name__}.from_pretrained got {sorted(rest)}, which none of its parts takes.")
        processor = cls(**parts, **own)
        processor._extra = {key: value for key, value in saved.items()
                            if key not in cls.attributes and key not in _NOT_SETTINGS and key != "chat_template"}
        return processor

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> list[str]:
        """Write the tokenizer's files, chat_template.jinja (when the processor has a template) and
        processor_config.json holding the other parts: the folder transformers 5 writes. Returns the paths.
        ``push_to_hub=True`` then uploads them (``repo_id=``, ``token=``, ... as for :meth:`push_to_hub`)."""
        pending_push = self._start_push(save_directory, push_to_hub, kwargs)
        with staged_save(save_directory, owns=[PROCESSOR_CONFIG]) as folder:  # replaced as a whole
            written = []
            for name in self.attributes:
                if not PARTS[name].nested:  # the tokenizer: its own files, naming this processor as the reference's do
                    written += list(save_tokenizer(getattr(self, name), folder, processor_class=type(self).__name__))
            written += write_chat_templates(self.chat_template, folder)
            path = os.path.join(folder, PROCESSOR_CONFIG)
            atomic_write_text(path, self.to_json_string())
        if pending_push is not None:
            pending_push.finish()
        return paths_in(save_directory, folder, [*dict.fromkeys(written), path])

    def to_dict(self) -> dict[str, Any]:
        """processor_config.json: the nested parts' settings and the class name (the template has its own file)."""
        nested = {name: getattr(self, name).to_dict() for name in self.attributes if PARTS[name].nested}
        return {**self._extra, **nested, "processor_class": type(self).__name__}

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def __repr__(self) -> str:
        parts = "\n".join(f"- {name}: {getattr(self, name)!r}" for name in self.attributes)
        return f"{type(self).__name__}:\n{parts}\n\n{self.to_json_string()}"

    # --- inputs -------------------------------------------------------------------------------

    def __call__(self, text=None, audio=None, images=None, **kwargs: Any) -> BatchFeature:
        """Each input to its part (``text`` to the tokenizer, ``audio`` to the feature extractor), the
        outputs merged into one ``BatchFeature``. Keyword arguments go to every part in use whose call
        takes them (``return_tensors``, ``padding``); ``text_kwargs={...}`` / ``audio_kwargs={...}``
        reach one part only."""
        inputs = {"text": text, "audio": audio, "images": images}
        routed = self.route_kwargs(inputs, kwargs)
        merged = BatchFeature()
        for name, value in inputs.items():
            if value is not None:
                merged.update(getattr(self, INPUTS[name])(value, **routed[INPUTS[name]]))
        return merged

    def audio_and_text(self, audio, text, kwargs: dict[str, Any], **extractor_kwargs: Any):
        """A speech processor's call: ``audio`` to the feature extractor (with ``extractor_kwargs``),
        ``text`` to the tokenizer, ``kwargs`` routed to the parts that take them. Given both, the
        text's ``input_ids`` become the ``labels`` of the audio features, as in the reference; given
        one, that part's output as it is."""
        routed = self.route_kwargs({"audio": audio, "text": text}, kwargs)
        if audio is not None:
            features = self.feature_extractor(audio, **extractor_kwargs, **routed["feature_extractor"])
        if text is None:
            return features
        encodings = self.tokenizer(text, **routed["tokenizer"])
        if audio is None:
            return encodings
        features["labels"] = encodings["input_ids"]
        return features

    def route_kwargs(self, inputs: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """part name -> its keyword arguments: its ``<input>_kwargs`` dict, plus each keyword of
        ``kwargs`` that its call takes (one several parts take goes to each of them)."""
        routed = {part: dict(kwargs.pop(f"{name}_kwargs", None) or {}) for name, part in INPUTS.items()}
        given = [name for name, value in inputs.items() if value is not None]
        if not given:
            raise ValueError(f"{type(self).__name__} needs an input: pass {' or '.join(self._input_names())}.")
        used = set()
        for name in given:
            part = INPUTS[name]
            if part not in self.attributes:
                raise ValueError(f"{type(self).__name__} has no {part.replace('_', ' ')}, so it takes no {name}=; "
                                 f"it takes {' and '.join(self._input_names())}.")
            accepted = _call_parameters(getattr(self, part))
            for key, value in kwargs.items():
                if accepted is None or key in accepted:
                    routed[part].setdefault(key, value)
                    used.add(key)
        unused = sorted(set(kwargs) - used)
        if unused:
            raise TypeError(f"{type(self).__name__}: no part given an input takes {unused} (inputs: {', '.join(given)}).")
        return routed

    def _input_names(self) -> list[str]:
        return [f"{name}=" for name, part in INPUTS.items() if part in self.attributes]

    @property
    def model_input_names(self) -> list[str]:
        return [name for part in self.attributes for name in getattr(self, part).model_input_names]

    # --- outputs and chat ---------------------------------------------------------------------

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        """The tokenizer's ``batch_decode``: generated ids -> texts."""
        return self._tokenizer("batch_decode").batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        """The tokenizer's ``decode``."""
        return self._tokenizer("decode").decode(*args, **kwargs)

    def apply_chat_template(self, conversation, chat_template: str | None = None, tokenize: bool = False,
                            return_dict: bool = False, return_tensors: str | None = None,
                            processor_kwargs: dict | None = None, **kwargs: Any):
        """Format a conversation with the processor's chat template (the folder's chat_template.jinja or
        chat_template.json), else with the tokenizer's (where the reference raises). ``kwargs`` are the
        tokenizer's ``apply_chat_template`` options and template variables (``add_generation_prompt=True``).

        Returns the text (``tokenize=False``, the default, as in the reference), else the tokenizer
        output of ``self(text=...)``: ``input_ids`` alone, or all of it with ``return_dict=True``.
        Conversations that carry audio or images are not tokenized by workbench yet."""
        tokenizer = self._tokenizer("apply_chat_template")
        if kwargs.get("return_assistant_tokens_mask"):
            raise NotImplementedError("processor.apply_chat_template(return_assistant_tokens_mask=True) is not supported; "
                                      "call processor.tokenizer.apply_chat_template(...) for the mask.")
        template = self._resolve_chat_template(chat_template)
        text = tokenizer.apply_chat_template(conversation, chat_template=template, tokenize=False, **kwargs)
        if not tokenize:
            return text
        media = _media_types(conversation)
        if media:
            raise NotImplementedError(f"The conversation holds {', '.join(media)} parts; workbench's processors do not "
                                      "load media from conversations yet. Use tokenize=False and call the processor "
                                      "on the text and the media yourself.")
        options = dict(processor_kwargs or {})
        first = text[0] if isinstance(text, list) else text
        if tokenizer.bos_token is not None and first.startswith(tokenizer.bos_token):
            options["add_special_tokens"] = False  # the template wrote it already
        out = self(text=text, return_tensors=return_tensors, **options)
        return out if return_dict else out["input_ids"]

    def _resolve_chat_template(self, chat_template: str | None) -> str | None:
        """The processor's own template (or the named one of its templates); None lets the tokenizer pick its own."""
        own = self.chat_template
        if chat_template is None:
            if isinstance(own, dict):
                if "default" not in own:
                    raise ValueError(f"This processor has several chat templates ({', '.join(sorted(own))}) and none "
                                     "named 'default': pick one with apply_chat_template(..., chat_template='<name>').")
                return own["default"]
            return own
        if isinstance(own, dict) and chat_template in own:
            return own[chat_template]
        return chat_template

    def _tokenizer(self, method: str) -> PreTrainedTokenizerFast:
        if "tokenizer" not in self.attributes:
            raise ValueError(f"{type(self).__name__} has no tokenizer, so it has no {method}().")
        return self.tokenizer


def _load_nested_part(name: str, location, options: HubOptions, overrides: dict[str, Any]) -> tuple[Any, set[str]]:
    """Load a part saved inside processor_config.json (or preprocessor_config.json), with the overrides
    among its settings; returns it and the names of the overrides it took."""
    part = PARTS[name].loader.from_pretrained(location, **dataclasses.asdict(options))
    mine = {key: value for key, value in overrides.items() if key in part.settings}
    return (type(part)(**{**part.to_dict(), **mine}) if mine else part), set(mine)


def _call_parameters(part) -> set[str] | None:
    """The keyword names ``part(...)`` takes, or None when it takes any (``**kwargs``). A part whose
    call reads its keywords from a table (an image processor's settings) lists them in ``call_keywords``."""
    if getattr(part, "call_keywords", None) is not None:
        return set(part.call_keywords)
    parameters = inspect.signature(part.__call__).parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return {parameter.name for parameter in parameters}


def _media_types(conversation) -> list[str]:
    conversations = conversation if conversation and isinstance(conversation[0], (list, tuple)) else [conversation]
    found = {item.get("type") for messages in conversations for message in messages
             if isinstance(message.get("content"), list) for item in message["content"] if isinstance(item, dict)}
    return sorted(found & {"audio", "image", "video", "image_url"})
