"""Mixture-of-experts decoders: Mixtral, Qwen2-MoE and Qwen3-MoE.

    input_ids ─► embed_tokens ─► N × [ h = h + self_attn(input_layernorm(h))
                                       h = h + moe(post_attention_layernorm(h)) ] ─► norm ─► lm_head

    self_attn: Llama's (workbench/models/llama.py): q/k/v biases (Qwen2-MoE), per-head q/k norms
               (Qwen3-MoE), sliding windows
    moe:       gate ─► top-k of E gated-MLP experts per token (+ a sigmoid-gated shared expert:
               Qwen2-MoE), workbench.nn.moe.SparseMoeBlock; the layers that are not sparse
               (``mlp_only_layers``, or off the ``decoder_sparse_step``) keep a dense ``mlp``

Mixtral: https://arxiv.org/abs/2401.04088, Qwen2-MoE: https://arxiv.org/abs/2407.10671,
Qwen3-MoE: https://arxiv.org/abs/2505.09388. Everything but the feed-forward block is Llama's
decoder; the MoE choices are config fields read once, in :func:`is_sparse` and :func:`sparse_block`.
Checkpoints keep every expert as its own module (``model.layers.0.mlp.experts.3.up_proj.weight``;
Mixtral: ``model.layers.0.block_sparse_moe.experts.3.w3.weight``), which is what the modules here
are named. ``output_router_logits=True`` returns each sparse layer's (B·T, E) router logits, and the
causal LM then also gives the load-balancing ``aux_loss`` (added to ``loss`` with
``router_aux_loss_coef`` when labels are given).
"""

from __future__ import annotations

import re

from torch import nn

from ..errors import CheckpointError
from ..weights import iter_tensors

from ..nn.logits import keep_positions
from ..nn.losses import causal_lm_loss
from ..nn.mlp import LLAMA_NAMES
from ..nn.moe import SparseMoeBlock, load_balancing_loss
from ..outputs import MoeCausalLMOutputWithPast, MoeModelOutputWithPast
from .llama import (
    _SHARED_DEFAULTS,
    DecoderConfig,
    LlamaAttention,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlamaMLP,
    LlamaModel,
    rms_norm,
)
from .llama_variants import LlamaForQuestionAnswering, LlamaForTokenClassification

# ---------------------------------------------------------------------------------------------
# configs


class MoeDecoderConfig(DecoderConfig):
    """What the MoE families add to the Llama decoder. As in :class:`DecoderConfig`, the class
    attributes are facts a family fixes without writing them to config.json; a family whose
    config.json holds the key (Qwen's ``norm_topk_prob``) lists it in ``defaults``."""

    moe_block_name = "mlp"  # the checkpoint's name of a layer's sparse block
    expert_names = LLAMA_NAMES  # an expert's gate, up and down projections
    norm_topk_prob = False  # rescale the top-k routing weights to sum to 1
    moe_intermediate_size = None  # an expert's width; None: intermediate_size
    shared_expert_intermediate_size = 0  # 0: no shared expert
    decoder_sparse_step = 1  # layer i is sparse when (i + 1) % step == 0 ...
    mlp_only_layers = ()  # ... and i is not listed here
    router_jitter_noise = 0.0
    float32_routing_weights = False  # weight the experts' outputs in float32, not the activations' dtype (Mixtral)


_MOE_DEFAULTS = {**_SHARED_DEFAULTS, "output_router_logits": False, "router_aux_loss_coef": 0.001}


class MixtralConfig(MoeDecoderConfig):
    model_type = "mixtral"
    attribute_map = {"num_experts": "num_local_experts"}
    moe_block_name = "block_sparse_moe"
    expert_names = ("w1", "w3", "w2")
    norm_topk_prob = True
    float32_routing_weights = True
    defaults = {
        **_MOE_DEFAULTS,
        "vocab_size": 32000,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,  # (config.json's "head_dim": null stays null: hidden_size / heads)
        "max_position_embeddings": 4096 * 32,
        "rms_norm_eps": 1e-5,
        "pad_token_id": None,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "sliding_window": None,  # every layer, when set
        "num_experts_per_tok": 2,
        "num_local_experts": 8,
        "router_jitter_noise": 0.0,
    }

    def __post_init__(self) -> None:
        if not (self.rope_parameters or {}).get("rope_theta"):
            self.__dict__.setdefault("rope_theta", 1e6)  # Mixtral's RoPE base where config.json names none
        super().__post_init__()


class Qwen2MoeConfig(MoeDecoderConfig):
    model_type = "qwen2_moe"
    attribute_map = {"attention_bias": "qkv_bias"}  # Qwen2-MoE's config.json names the q/k/v bias qkv_bias
    attention_output_bias = False
    defaults = {
        **_MOE_DEFAULTS,
        "vocab_size": 151936,
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "max_position_embeddings": 32768,
        "use_sliding_window": False,
        "sliding_window": 4096,
        "max_window_layers": 28,
        "decoder_sparse_step": 1,
        "moe_intermediate_size": 1408,
        "shared_expert_intermediate_size": 5632,
        "num_experts_per_tok": 4,
        "num_experts": 60,
        "norm_topk_prob": False,
        "mlp_only_layers": None,
        "qkv_bias": True,
        "layer_types": None,
        "pad_token_id": None,
        "bos_token_id": None,
        "eos_token_id": None,
    }

    @property
    def attention_bias(self) -> bool:
        return self.qkv_bias

    def __post_init__(self) -> None:
        if self.mlp_only_layers is None:
            self.mlp_only_layers = []
        if not self.use_sliding_window:
            self.sliding_window = 0  # what the reference writes
        if self.layer_types is None:  # even layers below max_window_layers use the window
            self.layer_types = [
                "sliding_attention" if i % 2 == 0 and i < self.max_window_layers and self.use_sliding_window
                else "full_attention"
                for i in range(self.num_hidden_layers)
            ]
        super().__post_init__()


class Qwen3MoeConfig(MoeDecoderConfig):
    model_type = "qwen3_moe"
    attribute_map = {"num_experts": "num_local_experts"}
    qk_norm = "head_dim"
    defaults = {
        **_MOE_DEFAULTS,
        "vocab_size": 151936,
        "hidden_size": 2048,
        "intermediate_size": 6144,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "max_position_embeddings": 32768,
        "attention_bias": False,
        "use_sliding_window": False,
        "sliding_window": 4096,  # every layer, with use_sliding_window
        "decoder_sparse_step": 1,
        "moe_intermediate_size": 768,
        "num_experts_per_tok": 8,
        "num_local_experts": 128,
        "norm_topk_prob": False,
        "mlp_only_layers": None,
        "pad_token_id": None,
        "bos_token_id": None,
        "eos_token_id": None,
    }

    def __post_init__(self) -> None:
        if not self.use_sliding_window:
            self.sliding_window = None
        if self.mlp_only_layers is None:
            self.mlp_only_layers = []
        super().__post_init__()


# ---------------------------------------------------------------------------------------------
# loading checkpoints whose experts are stacked

_STACKED_EXPERTS = re.compile(r"\.experts\.(gate_up_proj|down_proj)$")


class StackedExpertsLoading:
    """Loads the stacked expert layout too: the reference holds a layer's experts as one
    (E, 2·I, C) ``experts.gate_up_proj`` (gate rows, then up rows) and one (E, C, I)
    ``experts.down_proj``, and writes them so with ``save_pretrained(save_original_format=False)``
    (Mixtral's block then named ``mlp``). Each is split into the per-expert linears here;
    ``save_pretrained`` writes the per-expert keys, which the reference reads as well."""

    @property
    def _checkpoint_renames(self) -> tuple[tuple[str, str], ...]:
        block = self.config.moe_block_name  # Mixtral's block_sparse_moe: the stacked layout says mlp
        return ((r"\.mlp\.", f".{block}."),) if block != "mlp" else ()

    def _load_checkpoint(self, files, dtype, ignore_mismatched, read_already=frozenset()):
        info = super()._load_checkpoint(files, dtype, ignore_mismatched, read_already)
        stacked = {name for name in info.unexpected_keys if _STACKED_EXPERTS.search(name)}
        if not stacked:
            return info
        expected = dict(self.named_parameters())
        names = set(expected)
        gate, up, down = self.config.expert_names
        loaded = {}
        for name, tensor in iter_tensors(files, wanted=stacked.__contains__):
            if tensor is None:
                continue
            prefix = name.rsplit(".", 1)[0]  # ...layers.0.mlp.experts
            parts = {down: tensor} if name.endswith("down_proj") else dict(zip((gate, up), tensor.chunk(2, dim=1)))
            for proj, stack in parts.items():
                for index, weight in enumerate(stack):
                    key = self._checkpoint_key(f"{prefix}.{index}.{proj}.weight", names)
                    if key is None or weight.shape != expected[key].shape:
                        raise CheckpointError(
                            f"Stacked expert tensor {name!r} {tuple(tensor.shape)} does not fit {type(self).__name__} "
                            f"built from this config (expert {index}: {key or 'no such expert'}). The config's "
                            "num_experts / hidden_size / expert width do not match the weights: fix config.json."
                        )
                    loaded[key] = weight.to(dtype if weight.is_floating_point() else weight.dtype).contiguous()
        self.load_state_dict(loaded, strict=False, assign=True)  # the modules are still on the meta device
        info.unexpected_keys = [name for name in info.unexpected_keys if name not in stacked]
        info.missing_keys = [key for key in info.missing_keys if key not in loaded]
        return info


# ---------------------------------------------------------------------------------------------
# modules


def is_sparse(config: MoeDecoderConfig, layer_idx: int) -> bool:
    """Whether layer ``layer_idx`` routes through experts (else it has a dense Llama ``mlp``)."""
    return (config.num_experts > 0 and (layer_idx + 1) % config.decoder_sparse_step == 0
            and layer_idx not in config.mlp_only_layers)


def sparse_block(config: MoeDecoderConfig) -> SparseMoeBlock:
    return SparseMoeBlock(config.hidden_size, config.moe_intermediate_size or config.intermediate_size,
                          config.num_experts, config.num_experts_per_tok, config.hidden_act,
                          normalize=config.norm_topk_prob, expert_names=config.expert_names,
                          shared_size=config.shared_expert_intermediate_size, jitter_noise=config.router_jitter_noise,
                          float32_weights=config.float32_routing_weights)


class MoeDecoderLayer(nn.Module):
    """Llama's layer with a sparse block (under the checkpoint's ``moe_block_name``) in place of the
    MLP; a dense layer (``is_sparse`` false) keeps Llama's ``mlp``."""

    make_norm = staticmethod(rms_norm)  # LlamaModel builds its final norm with the layer's make_norm

    def __init__(self, config: MoeDecoderConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(config, layer_idx)
        self.sparse = is_sparse(config, layer_idx)
        self.block_name = config.moe_block_name if self.sparse else "mlp"
        setattr(self, self.block_name, sparse_block(config) if self.sparse else LlamaMLP(config))
        self.input_layernorm = rms_norm(config)
        self.post_attention_layernorm = rms_norm(config)

    def forward(self, hidden_states, mask, rotary, cache, eager, cache_position=None, router_logits=None):
        """As Llama's layer; a sparse layer appends its (B·T, E) router logits to ``router_logits``
        when that is a list."""
        attended, weights = self.self_attn(self.input_layernorm(hidden_states), rotary, mask, cache, eager,
                                           cache_position)
        hidden_states = hidden_states + attended
        fed = getattr(self, self.block_name)(self.post_attention_layernorm(hidden_states))
        if self.sparse:
            fed, logits = fed
            if router_logits is not None:
                router_logits.append(logits)
        return hidden_states + fed, weights


class MoeModel(StackedExpertsLoading, LlamaModel):
    """Llama's decoder stack of :class:`MoeDecoderLayer`; the output adds ``router_logits``."""

    config_class = MoeDecoderConfig
    decoder_layer = MoeDecoderLayer

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                use_cache=None, output_router_logits=None, return_dict=None, **kwargs):
        """:meth:`LlamaModel.forward`; with ``output_router_logits`` (default: the config's) the
        output's ``router_logits`` holds one (B·T, num_experts) tensor per sparse layer."""
        if output_router_logits is None:
            output_router_logits = self.config.output_router_logits
        collected = [] if output_router_logits else None
        out = super().forward(input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache,
                              return_dict=True, layer_kwargs={"router_logits": collected}, **kwargs)
        result = MoeModelOutputWithPast(out.last_hidden_state, out.past_key_values, out.hidden_states, out.attentions,
                                        tuple(collected) if output_router_logits else None)
        return self._finish(result, return_dict)


class MoeForCausalLM(StackedExpertsLoading, LlamaForCausalLM):
    """Llama's causal LM head on :class:`MoeModel`, with the load-balancing loss."""

    config_class = MoeDecoderConfig
    base_model_class = MoeModel

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=None, output_router_logits=None, logits_to_keep=0, return_dict=None, **kwargs):
        """Next-token logits and, with ``labels``, the shifted causal LM loss. With
        ``output_router_logits`` (default: the config's) also the router logits and ``aux_loss``,
        which ``loss`` then includes times ``config.router_aux_loss_coef``."""
        config = self.config
        if output_router_logits is None:
            output_router_logits = config.output_router_logits
        out = self.model(input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache,
                         output_router_logits=output_router_logits, return_dict=True, **kwargs)
        logits = self.lm_head(keep_positions(out.last_hidden_state, logits_to_keep))
        loss = causal_lm_loss(logits, labels) if labels is not None else None
        aux_loss = None
        if output_router_logits and out.router_logits:
            aux_loss = load_balancing_loss(out.router_logits, config.num_experts, config.num_experts_per_tok,
                                           attention_mask)
            if loss is not None:
                loss = loss + config.router_aux_loss_coef * aux_loss.to(loss.device)
        result = MoeCausalLMOutputWithPast(loss, aux_loss, logits, out.past_key_values, out.hidden_states,
                                           out.attentions, out.router_logits)
        return self._finish(result, return_dict)


# ---------------------------------------------------------------------------------------------
# the families: the same modules under each family's names (save_pretrained writes the class
# name into config.json's "architectures")


class MixtralModel(MoeModel):
    config_class = MixtralConfig


class MixtralForCausalLM(MoeForCausalLM):
    config_class = MixtralConfig
    base_model_class = MixtralModel


class MixtralForSequenceClassification(StackedExpertsLoading, LlamaForSequenceClassification):
    config_class = MixtralConfig
    base_model_class = MixtralModel


class MixtralForTokenClassification(StackedExpertsLoading, LlamaForTokenClassification):
    config_class = MixtralConfig
    base_model_class = MixtralModel


class MixtralForQuestionAnswering(StackedExpertsLoading, LlamaForQuestionAnswering):
    config_class = MixtralConfig
    base_model_class = MixtralModel
    base_model_prefix = "model"


class Qwen2MoeModel(MoeModel):
    config_class = Qwen2MoeConfig


class Qwen2MoeForCausalLM(MoeForCausalLM):
    config_class = Qwen2MoeConfig
    base_model_class = Qwen2MoeModel


class Qwen2MoeForSequenceClassification(StackedExpertsLoading, LlamaForSequenceClassification):
    config_class = Qwen2MoeConfig
    base_model_class = Qwen2MoeModel


class Qwen2MoeForTokenClassification(StackedExpertsLoading, LlamaForTokenClassification):
    config_class = Qwen2MoeConfig
    base_model_class = Qwen2MoeModel


class Qwen2MoeForQuestionAnswering(StackedExpertsLoading, LlamaForQuestionAnswering):
    config_class = Qwen2MoeConfig
    base_model_class = Qwen2MoeModel
    base_model_prefix = "model"


class Qwen3MoeModel(MoeModel):
    config_class = Qwen3MoeConfig


class Qwen3MoeForCausalLM(MoeForCausalLM):
    config_class = Qwen3MoeConfig
    base_model_class = Qwen3MoeModel


class Qwen3MoeForSequenceClassification(StackedExpertsLoading, LlamaForSequenceClassification):
    config_class = Qwen3MoeConfig
    base_model_class = Qwen3MoeModel


class Qwen3MoeForTokenClassification(StackedExpertsLoading, LlamaForTokenClassification):
    config_class = Qwen3MoeConfig
    base_model_class = Qwen3MoeModel


class Qwen3MoeForQuestionAnswering(StackedExpertsLoading, LlamaForQuestionAnswering):
    config_class = Qwen3MoeConfig
    base_model_class = Qwen3MoeModel
