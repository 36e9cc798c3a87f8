"""The model base class: build, load, save, resize, tie.

``from_pretrained`` is a short composition of named steps::

    resolve files -> read config -> build on the meta device -> fill from the checkpoint
    (one tensor at a time, no second copy) -> initialise what is missing -> tie -> place

so a model never exists twice in memory while it loads.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .adapters import ADAPTER_FILES, AdapterMixin, from_adapter_folder
from .atomic_folder import staged_save
from .config import PretrainedConfig
from .errors import CheckpointError
from .gguf import resolve_gguf_file  # the gguf package itself is imported only to read a file
from .gguf_packed import keep_gguf_quantized
from .hub import HubOptions
from .hub_push import PushToHubMixin
from .quantization import dequantize_model, pop_quantization_options, quantize_model
from .quantization_save import load_quantized_layers, quantized_checkpoint
from .weights import WEIGHT_FILES, CheckpointFiles, checkpoint_dtype, find_checkpoint_files, iter_tensors, parse_dtype, save_state_dict

logger = logging.getLogger("workbench")


@dataclass
class LoadingInfo:
    """What ``from_pretrained(..., output_loading_info=True)`` reports."""

    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    mismatched_keys: list[tuple[str, tuple, tuple]] = field(default_factory=list)

    def as_dict(self) -> dict[str, list]:
        return {
            "missing_keys": self.missing_keys,
            "unexpected_keys": self.unexpected_keys,
            "mismatched_keys": self.mismatched_keys,
            "error_msgs": [],
        }


class PreTrainedModel(AdapterMixin, nn.Module, PushToHubMixin):
    """Base of every workbench model.

    A family sets ``config_class``, ``base_model_prefix`` (the attribute holding the base model
    in head models, as in the checkpoint keys: ``bert``, ``model``, ``transformer``), and
    ``_tied_weights_keys`` (target -> source parameter names shared when
    ``config.tie_word_embeddings``).
    """

    config_class: type[PretrainedConfig] = PretrainedConfig
    base_model_prefix: str = ""
    _tied_weights_keys: dict[str, str] = {}
    # checkpoint keys that older exporters wrote and that mean nothing to the model
    _ignore_unexpected: tuple[str, ...] = ()
    # model tensors that checkpoints may leave out because their initial values are the right
    # ones (a fixed sinusoidal table, a zero output bias): initialised without a warning
    _ignore_missing: tuple[str, ...] = ()
    # (pattern, replacement) applied to checkpoint keys written by older exporters
    _checkpoint_renames: tuple[tuple[str, str], ...] = ()
    # module names whose weights stay float32 when loading in float16 (T5's "wo", whose outputs overflow it)
    _keep_in_fp32_modules: tuple[str, ...] = ()
    main_input_name = "input_ids"
    # heads that predict the next token (causal LM, seq2seq) set this: they get a
    # ``generation_config`` and ``generate()``
    is_generative: bool = False
    is_quantized: bool = False  # set by workbench.quantization.quantize_model
    quantization_config: Any = None

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        if not isinstance(config, PretrainedConfig):
            raise TypeError(f"{type(self).__name__} needs a PretrainedConfig, got {type(config).__name__}.")
        self.config = config
        if self.can_generate():
            self.generation_config = _generation_config_for(config)

    @classmethod
    def can_generate(cls) -> bool:
        return cls.is_generative

    # ------------------------------------------------------------------------------------------
    # construction

    @classmethod
    def from_config(cls, config: PretrainedConfig, *, dtype: str | torch.dtype | None = None, **kwargs: Any):
        """A randomly initialised model for ``config``."""
        config.update(kwargs)
        dtype = parse_dtype(dtype) or torch.get_default_dtype()
        model = cls._build_on_meta(config)
        model.to_empty(device="cpu")
        model.apply(model._init_weights)
        model.tie_weights()
        model.to(dtype)
        config.dtype = str(dtype).removeprefix("torch.")
        return model

    @classmethod
    def _build_on_meta(cls, config: PretrainedConfig):
        """The model's structure with no memory behind it; weights come later."""
        with torch.device("meta"), _SkipInitOnMeta():
            return cls(config)

    def _init_weights(self, module: nn.Module) -> None:
        """Initialise one module the way the family's reference does (normal(0, initializer_range))."""
        std = getattr(self.config, "initializer_range", 0.02)
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif getattr(module, "weight", None) is not None and "Norm" in type(module).__name__:
            nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any):
        """Load a checkpoint folder or Hub repo (see the module docstring for the steps).

        Keyword arguments: ``config``, ``dtype`` ("auto" by default: the config's dtype), ``device`` /
        ``device_map``, ``attn_implementation`` ("sdpa" or "eager"), ``ignore_mismatched_sizes``,
        ``output_loading_info``, the hub options (``cache_dir``, ``revision``, ``subfolder``,
        ``local_files_only``, ``token``), and config overrides such as ``num_labels=3``.

        ``quantization_config=BitsAndBytesConfig(...)`` or ``load_in_8bit=True`` / ``load_in_4bit=True``
        quantizes the Linear layers after loading (:mod:`workbench.quantization`).
        ``gguf_file="model.Q4_K_M.gguf"`` (in the folder or repo, a path, or the .gguf path as the first
        argument) reads the config from the GGUF metadata and the weights dequantized to float32, as the
        reference does, or with ``keep_quantized=True`` kept packed (:mod:`workbench.gguf_packed`).
        A folder or repo with ``adapter_config.json`` also loads the adapter (onto the base it names).
        """
        if model_args:
            raise TypeError(f"{cls.__name__}.from_pretrained takes the path and keyword arguments only.")
        with_adapter = from_adapter_folder(cls.from_pretrained, pretrained_model_name_or_path, kwargs)
        if with_adapter is not None:
            return with_adapter
        kwargs.pop("_adapter_lookup", None)
        options = HubOptions.pop_from(kwargs)
        config = kwargs.pop("config", None)
        dtype = kwargs.pop("dtype", kwargs.pop("torch_dtype", "auto"))
        device = kwargs.pop("device_map", None) or kwargs.pop("device", None)
        attn_implementation = kwargs.pop("attn_implementation", None)
        ignore_mismatched = kwargs.pop("ignore_mismatched_sizes", False)
        output_loading_info = kwargs.pop("output_loading_info", False)
        generation_config = kwargs.pop("generation_config", None)
        _reject_remote_code(kwargs.pop("trust_remote_code", False))
        quantization = pop_quantization_options(kwargs, device)
        _drop(kwargs, "low_cpu_mem_usage", "use_safetensors", "weights_only", "_fast_init", "resume_download")
        gguf_path = resolve_gguf_file(pretrained_model_name_or_path, kwargs.pop("gguf_file", None), options)
        keep_quantized = kwargs.pop("keep_quantized", False)

        if config is None:
            config = cls.config_class.from_pretrained(pretrained_model_name_or_path, gguf_file=gguf_path, **_hub_kwargs(options))
        config.update(kwargs)
        if attn_implementation is not None:
            config._attn_implementation = _check_attn_implementation(attn_implementation)
        if gguf_path is not None:  # the GGUF file is the whole checkpoint: config and weights
            files = CheckpointFiles([gguf_path], "gguf")
        else:
            files = find_checkpoint_files(pretrained_model_name_or_path, options)
        target_dtype = _resolve_dtype(dtype, config, files)

        model = keep_gguf_quantized(cls._build_on_meta(config), files, keep_quantized)
        info = model._load_checkpoint(files, target_dtype, ignore_mismatched, load_quantized_layers(model, files, quantization, device))
        model.tie_weights()  # before initialising: a tied output layer is not missing
        model._initialise_missing(info, target_dtype)
        model.tie_weights()
        model._report(info, str(pretrained_model_name_or_path))
        config.dtype = str(target_dtype).removeprefix("torch.")
        config.name_or_path = str(pretrained_model_name_or_path)
        if model.can_generate():
            # a bare .gguf file has no generation_config.json beside it: the config's settings apply
            source = None if str(pretrained_model_name_or_path).endswith(".gguf") else pretrained_model_name_or_path
            model.generation_config = generation_config or _generation_config_for(config, source, options)
        _place(model.eval(), device, quantization)
        return (model, info.as_dict()) if output_loading_info else model

    # ------------------------------------------------------------------------------------------
    # loading steps

    def _checkpoint_key(self, name: str, expected: set[str]) -> str | None:
        """Map a checkpoint tensor name to this model's parameter name, or None if it has none."""
        for pattern, replacement in self._checkpoint_renames:
            name = re.sub(pattern, replacement, name)
        if name in expected:
            return name
        prefix = self.base_model_prefix
        if prefix and name.startswith(prefix + ".") and name[len(prefix) + 1:] in expected:
            return name[len(prefix) + 1:]  # a head checkpoint loaded into the base model
        if prefix and f"{prefix}.{name}" in expected:
            return f"{prefix}.{name}"  # a base checkpoint loaded into a head model
        return None

    def _load_checkpoint(self, files, dtype: torch.dtype, ignore_mismatched: bool,
                         read_already: frozenset[str] = frozenset()) -> LoadingInfo:
        """Fill the model's tensors from ``files``; ``read_already``: names (checkpoint's and model's) of the
        tensors an earlier step read and placed (a quantized checkpoint's layers), skipped here."""
        expected = {k: v for k, v in (dict(self.named_parameters(remove_duplicate=False)) | dict(self.named_buffers())).items()
                    if k not in read_already}
        names = set(expected)
        # tensors already real were built from the checkpoint by an earlier step (GGUF layers kept packed)
        held = {k for k, t in expected.items() if not t.is_meta}
        info = LoadingInfo()
        loaded: set[str] = set(held)
        for name, tensor in iter_tensors(files, wanted=lambda n: self._checkpoint_key(n, names) not in held | {None},
                                         names=names):
            key = self._checkpoint_key(name, names)
            if name in read_already or key in held:
                continue
            if tensor is None or key is None:
                if not any(re.search(p, name) for p in self._ignore_unexpected):
                    info.unexpected_keys.append(name)
                continue
            if tuple(tensor.shape) != tuple(expected[key].shape):
                if not ignore_mismatched:
                    raise CheckpointError(
                        f"Tensor {name!r} in {os.path.dirname(files.paths[0])} has shape {tuple(tensor.shape)}, "
                        f"but {type(self).__name__} built from this config expects {tuple(expected[key].shape)}. "
                        "The config does not match the weights: fix config.json (or your overrides), "
                        "or pass ignore_mismatched_sizes=True to re-initialise that tensor."
                    )
                info.mismatched_keys.append((key, tuple(tensor.shape), tuple(expected[key].shape)))
                continue
            target = torch.float32 if dtype == torch.float16 and self._keeps_fp32(key) else dtype
            if tensor.is_floating_point() and tensor.dtype != target:
                tensor = tensor.to(target)
            _assign(self, key, tensor)
            loaded.add(key)
        tied = set(self.active_tied_weights())
        mismatched = {k for k, _, _ in info.mismatched_keys}  # reported there only, as the reference does
        info.missing_keys = [k for k in expected if k not in loaded and k not in tied and k not in mismatched
                             and not any(re.search(p, k) for p in self._ignore_missing)]
        return info

    def _keeps_fp32(self, key: str) -> bool:
        return any(part in self._keep_in_fp32_modules for part in key.split(".")[:-1])

    def _initialise_missing(self, info: LoadingInfo, dtype: torch.dtype) -> None:
        """Give every tensor the checkpoint lacked real memory and the family's random init."""
        for module in self.modules():
            tensors = list(module._parameters.items()) + list(module._buffers.items())
            missing = {n for n, t in tensors if t is not None and t.is_meta}
            if not missing:
                continue
            kept = {n: t for n, t in tensors if t is not None and n not in missing}
            module.to_empty(device="cpu", recurse=False)
            module.to(dtype)
            self._init_weights(module)
            for name, tensor in kept.items():  # a partly loaded module keeps what was loaded
                _assign(module, name, tensor)

    def _report(self, info: LoadingInfo, source: str) -> None:
        # a mismatched tensor is also missing (it was not loaded): name it once
        missing = list(dict.fromkeys([*info.missing_keys, *(k for k, _, _ in info.mismatched_keys)]))
        if missing:
            logger.warning(
                "Some weights of %s were not initialized from the checkpoint at %s and are newly "
                "initialized: %s\nYou should probably TRAIN this model on a down-stream task to be "
                "able to use it for predictions and inference.",
                type(self).__name__, source, missing,
            )
        if info.unexpected_keys:
            logger.info(
                "Some weights of the checkpoint at %s were not used when initializing %s: %s "
                "(expected when loading a checkpoint with another head).",
                source, type(self).__name__, info.unexpected_keys,
            )

    # ------------------------------------------------------------------------------------------
    # embeddings and tying

    def active_tied_weights(self) -> dict[str, str]:
        return dict(self._tied_weights_keys) if getattr(self.config, "tie_word_embeddings", False) else {}

    def tie_weights(self) -> None:
        for target, source in self.active_tied_weights().items():
            module_name, _, name = target.rpartition(".")
            if name not in self.get_submodule(module_name)._buffers:  # a buffer: an output layer kept packed
                setattr(self.get_submodule(module_name), name, self.get_parameter(source))

    def get_input_embeddings(self) -> nn.Embedding:
        base = getattr(self, self.base_model_prefix, self) if self.base_model_prefix else self
        if base is not self:
            return base.get_input_embeddings()
        raise NotImplementedError(f"{type(self).__name__} does not define get_input_embeddings")

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        base = getattr(self, self.base_model_prefix, self) if self.base_model_prefix else self
        if base is not self:
            return base.set_input_embeddings(embeddings)
        raise NotImplementedError(f"{type(self).__name__} does not define set_input_embeddings")

    def get_output_embeddings(self) -> nn.Module | None:
        return None

    def _resize_extra(self, new_num_tokens: int) -> None:
        """Hook for heads with more per-token tensors than the embeddings (an output bias)."""

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Grow or shrink the vocabulary (after ``tokenizer.add_tokens``); new rows start at the
        mean of the old embeddings, so new tokens do not dominate the output distribution.

        The embedding (and an untied output layer) get new ``nn.Parameter`` objects, since their
        shape changes: build the optimizer after resizing, as an optimizer built before would keep
        stepping the old tensors (the ``Trainer`` builds its optimizer when training starts)."""
        old = self.get_input_embeddings()
        if new_num_tokens is None:
            new_num_tokens = old.num_embeddings
        if pad_to_multiple_of:
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        self.set_input_embeddings(_resized_embedding(old, new_num_tokens, mean_resizing))
        output = self.get_output_embeddings()
        if output is not None and not self.active_tied_weights():
            _resize_output(output, new_num_tokens, mean_resizing)
        self._resize_extra(new_num_tokens)
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        return self.get_input_embeddings()

    # ------------------------------------------------------------------------------------------
    # saving and facts

    def save_pretrained(self, save_directory: str | os.PathLike, *, max_shard_size: int | str = "5GB",
                        state_dict: dict[str, torch.Tensor] | None = None, safe_serialization: bool = True,
                        push_to_hub: bool = False, **kwargs: Any) -> None:
        """Write config.json and safetensors weights that Hugging Face transformers loads as is.

        A model with adapters writes only the active adapter, in peft's format
        (``adapter_config.json`` + ``adapter_model.safetensors``), beside its generation config;
        ``merge_and_unload()`` first saves the merged model instead. A quantized model writes its int8 / int4
        layers as they are (:mod:`workbench.quantization_save`). ``push_to_hub=True`` then uploads
        what this save wrote (``repo_id=``, ``token=``, ... as for :meth:`push_to_hub`). The folder is
        replaced as a whole (``workbench.atomic_folder``): a crash mid-save leaves the previous save;
        other files in the folder (a tokenizer, checkpoints, a README) are kept."""
        if push_to_hub:  # this class's save below (not an override's again: it called us), then the upload
            pending_push = self._start_push(save_directory, push_to_hub, kwargs)
            PreTrainedModel.save_pretrained(self, save_directory, max_shard_size=max_shard_size, state_dict=state_dict,
                                            safe_serialization=safe_serialization)
            pending_push.finish()
            return
        if not safe_serialization:
            raise ValueError("workbench writes safetensors only (safe_serialization=True): pickled .bin files can run code when loaded.")
        if self._hf_peft_config_loaded:
            with staged_save(save_directory, owns=ADAPTER_FILES) as folder:
                self._save_adapter(folder, state_dict)
                if getattr(self, "generation_config", None) is not None:
                    self.generation_config.save_pretrained(folder)
            return
        with staged_save(save_directory, owns=WEIGHT_FILES) as folder:  # replaces the folder as a whole
            self.config.architectures = [type(self).__name__]
            self.config.save_pretrained(folder)
            if state_dict is None:
                tied = set(self.active_tied_weights())
                state_dict = {k: v for k, v in self.state_dict().items() if k not in tied}
            if self.is_quantized:  # config.json's quantization_config and the layers' checkpoint layout
                state_dict = quantized_checkpoint(self, folder, state_dict)
            save_state_dict(state_dict, folder, max_shard_size)
            generation_config = getattr(self, "generation_config", None)
            if generation_config is not None and hasattr(generation_config, "save_pretrained"):
                generation_config.save_pretrained(folder)

    def dequantize(self, dtype: torch.dtype = torch.float32) -> "PreTrainedModel":
        """Float nn.Linear layers again, from the quantized ones (their dequantized weights)."""
        dequantize_model(self, dtype)
        self.tie_weights()  # an output layer kept packed apart from the embedding (GGUF) is tied again
        return self

    def _finish(self, output, return_dict: bool | None):
        """A model output, or its tuple when ``return_dict=False`` (or the config says so)."""
        return output if (self.config.return_dict if return_dict is None else return_dict) else output.to_tuple()

    # ------------------------------------------------------------------------------------------
    # generation (the loop lives in workbench.generation; a model only hands over)

    def generate(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                 generation_config: Any = None, logits_processor: Any = None, stopping_criteria: Any = None,
                 streamer: Any = None, assistant_model: Any = None, **kwargs: Any):
        """Continue ``input_ids`` (B, T) token by token; returns the ids (B', T + new) or, with
        ``return_dict_in_generate=True``, an output holding them and the per-step scores.

        Settings come from ``kwargs`` (``max_new_tokens=20``, ``do_sample=True``, ``num_beams=4``,
        ...), then ``generation_config``, then ``self.generation_config``; see
        :class:`workbench.GenerationConfig`. Batches must be left-padded, with their ``attention_mask``.

        An encoder-decoder (BART, Marian, ...) encodes ``input_ids`` once (right padding is fine:
        pass the ``attention_mask``) and returns the decoder's ids, which start with
        ``decoder_start_token_id``; ``decoder_input_ids=`` gives the decoder a prefix to continue.

        >>> ids = tokenizer(["The sky is"], return_tensors="pt")          # doctest: +SKIP
        >>> out = model.generate(**ids, max_new_tokens=10)                 # doctest: +SKIP
        >>> tokenizer.batch_decode(out, skip_special_tokens=True)          # doctest: +SKIP
        """
        if not self.can_generate():
            raise TypeError(f"{type(self).__name__} has no language-model head to generate with: load a model "
                            "for text generation (AutoModelForCausalLM, say) instead.")
        from .generation.api import generate  # lazy: generation is a layer above the models

        return generate(self, input_ids, attention_mask, generation_config, logits_processor, stopping_criteria,
                        streamer, assistant_model, **kwargs)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(p.dtype for p in self.parameters() if p.is_floating_point())

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)} if exclude_embeddings else set()
        params = {id(p): p for p in self.parameters() if id(p) not in skip}
        return sum(p.numel() for p in params.values() if p.requires_grad or not only_trainable)

    @property
    def name_or_path(self) -> str:
        return self.config.name_or_path

    def _attn_implementation(self) -> str:
        return getattr(self.config, "_attn_implementation", None) or "sdpa"


# ---------------------------------------------------------------------------------------------
# helpers

class _SkipInitOnMeta(TorchFunctionMode):
    """Within a build on the meta device, the initialisers do nothing to meta tensors.

    Layers' own ``reset_parameters`` would run on tensors with no memory (wasted work, and on the
    meta device ``normal_`` imports torch._dynamo: most of a second); the weights are set afterwards
    anyway. A torch function mode is per thread and per block, so ``torch.nn.init`` itself is never
    changed: another thread, or a real tensor in this one, initialises as usual.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _INITIALISERS:
            target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)


# torch.nn.init's public functions reach the mode themselves; the others (xavier_, trunc_normal_,
# ...) call these tensor methods, which do
_INITIALISERS = {getattr(nn.init, name) for name in ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_",
                                                     "zeros_", "eye_", "dirac_", "xavier_uniform_", "xavier_normal_",
                                                     "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_")
                 if hasattr(nn.init, name)} | {
    getattr(torch.Tensor, name) for name in ("normal_", "uniform_", "fill_", "zero_", "random_", "bernoulli_",
                                             "exponential_", "log_normal_", "cauchy_", "geometric_", "erfinv_")}


def _assign(root: nn.Module, key: str, tensor: torch.Tensor) -> None:
    """Put ``tensor`` in place of parameter or buffer ``key`` without copying it."""
    module_name, _, name = key.rpartition(".")
    module = root.get_submodule(module_name) if module_name else root
    if name in module._parameters:
        old = module._parameters[name]
        module._parameters[name] = nn.Parameter(tensor, requires_grad=old.requires_grad if old is not None else True)
    else:
        module._buffers[name] = tensor


def _resized_embedding(old: nn.Embedding, count: int, mean_resizing: bool) -> nn.Embedding:
    new = nn.Embedding(count, old.embedding_dim, padding_idx=old.padding_idx, dtype=old.weight.dtype, device=old.weight.device)
    keep = min(count, old.num_embeddings)
    with torch.no_grad():
        new.weight[:keep] = old.weight[:keep]
        if count > keep:
            fill = old.weight.mean(dim=0) if mean_resizing else torch.zeros_like(old.weight[0])
            new.weight[keep:] = fill
    return new


def _resize_output(output: nn.Linear, count: int, mean_resizing: bool) -> None:
    old_weight = output.weight
    keep = min(count, old_weight.shape[0])
    with torch.no_grad():
        weight = old_weight.new_empty((count, old_weight.shape[1]))
        weight[:keep] = old_weight[:keep]
        weight[keep:] = old_weight.mean(dim=0) if mean_resizing else 0
        output.weight = nn.Parameter(weight)
        if getattr(output, "bias", None) is not None:
            bias = output.bias.new_zeros(count)
            bias[:keep] = output.bias[:keep]
            output.bias = nn.Parameter(bias)
    output.out_features = count


def _generation_config_for(config: PretrainedConfig, source: str | os.PathLike | None = None,
                           options: HubOptions | None = None):
    """generation_config.json from ``source`` if it has one, else the settings ``config`` implies."""
    from .generation.configuration import load_generation_config  # lazy: generation sits above the models

    return load_generation_config(config, source, options)


def _drop(kwargs: dict[str, Any], *ignored: str) -> None:
    for name in ignored:
        kwargs.pop(name, None)


def _place(model: PreTrainedModel, device: Any, quantization: Any) -> None:
    """Move to ``device``, then quantize the Linear layers (the int8/int4 layers are CPU-only)."""
    if device is not None:
        model.to(_parse_device(device))
    if quantization is not None and not model.is_quantized:  # a quantized checkpoint's layers were built from it
        quantize_model(model, quantization)


def _hub_kwargs(options: HubOptions) -> dict[str, Any]:
    return {k: v for k, v in vars(options).items() if v not in (None, "", False)}


def _resolve_dtype(dtype: Any, config: PretrainedConfig, files) -> torch.dtype:
    if dtype == "auto":
        from_config = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
        return parse_dtype(from_config, "config.json 'dtype'") if from_config else (checkpoint_dtype(files) or torch.float32)
    return parse_dtype(dtype) or torch.get_default_dtype()


def _parse_device(device: Any) -> torch.device:
    if isinstance(device, dict):
        devices = set(device.values())
        if len(devices) != 1:
            raise ValueError("device_map with several devices is not supported: pass one device such as 'cpu' or 'cuda:0'.")
        device = devices.pop()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int):
        return torch.device("cuda", device)
    return torch.device(device)


def _check_attn_implementation(name: str) -> str:
    if name not in ("sdpa", "eager"):
        raise ValueError(f"attn_implementation={name!r} is not available: use 'sdpa' (default) or 'eager'.")
    return name


def _reject_remote_code(trust_remote_code: bool) -> None:
    if trust_remote_code:
        logger.warning("trust_remote_code=True is ignored: workbench never runs code downloaded with a checkpoint.")
