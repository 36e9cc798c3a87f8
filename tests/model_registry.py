"""The registry of tiny model configs that every model test runs over.

Each family's base case comes from its entry in ``workbench.models.registry.FAMILIES`` (its tiny config
and every head it registers); the variants below add configs that take other code paths. The
reference library builds a random model from ``config`` (transformers' config kwargs for
``model_type``), and the shared contract and parity suites (test_models.py) run on it for every
head listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.models.registry import FAMILIES, Family


@dataclass(frozen=True)
class Case:
    name: str
    model_type: str
    config: dict
    heads: tuple[str, ...]  # reference/workbench class names
    decoder: bool = False  # causal LM: also check cached decode == full forward
    # encoder-decoder: the inputs also hold decoder_input_ids (test_models.make_inputs, except for an
    # encoder alone), and the encoder-decoder contract tests run (cached decode, loss from labels)
    encoder_decoder: bool = False
    # speech: the encoder takes input_features (B, num_mel_bins, 2 * max_source_positions), not token ids
    speech: bool = False
    # "text", or the kind of image inputs tests/image_inputs.py builds (the family's ``inputs``)
    inputs: str = "text"
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def decodes_only_as_decoder(family: Family) -> bool:
    """An encoder family (it has a masked LM) whose causal LM (BertLMHeadModel, RobertaForCausalLM, ...)
    is causal only when its config says ``is_decoder=True``."""
    return {"AutoModelForMaskedLM", "AutoModelForCausalLM"} <= set(family.heads)


def base_case(model_type: str, family: Family) -> Case:
    """A family's registered tiny config, run with every head it registers (an encoder family's causal
    LM apart: see ``as_decoder_case``)."""
    tasks = set(family.heads)
    config = dict(family.tiny)
    if tasks & {"AutoModelForSequenceClassification", "AutoModelForTokenClassification"}:
        config["num_labels"] = 3  # not the default 2, so a head of the wrong width shows
    heads = {auto: name for auto, name in family.heads.items()
             if not (decodes_only_as_decoder(family) and auto == "AutoModelForCausalLM")}
    return Case(model_type, model_type, config, tuple(heads.values()),
                decoder="AutoModelForCausalLM" in heads,
                encoder_decoder=bool(tasks & {"AutoModelForSeq2SeqLM", "AutoModelForSpeechSeq2Seq"}),
                speech="AutoModelForSpeechSeq2Seq" in tasks, inputs=family.inputs)


def as_decoder_case(model_type: str, family: Family) -> Case:
    """An encoder family's causal LM, its tiny config with ``is_decoder=True``: causal self-attention and a
    key/value cache, so the decoder contract runs (cached decode, left padding) besides parity. RoBERTa's
    positions count from ``pad_token_id + 1`` (``extra["first_position"]``: left-padded rows start there)."""
    config = dict(family.tiny, is_decoder=True)
    first = config.get("pad_token_id", 1) + 1 if family.module == "roberta" else 0
    return Case(f"{model_type}-as-decoder", model_type, config, (family.heads["AutoModelForCausalLM"],),
                decoder=True, extra={"first_position": first})


# the registry's tiny configs, by the names other tests build on
TINY_ENCODER = FAMILIES["bert"].tiny
TINY_DISTILBERT = FAMILIES["distilbert"].tiny
TINY_DECODER = FAMILIES["llama"].tiny
TINY_GPT2 = FAMILIES["gpt2"].tiny
TINY_OPT = FAMILIES["opt"].tiny
TINY_T5 = FAMILIES["t5"].tiny
TINY_MT5 = FAMILIES["mt5"].tiny
TINY_SEQ2SEQ = FAMILIES["bart"].tiny
TINY_PEGASUS = FAMILIES["pegasus"].tiny
TINY_MARIAN = FAMILIES["marian"].tiny
TINY_WHISPER = FAMILIES["whisper"].tiny

LLAMA3_ROPE = dict(rope_type="llama3", rope_theta=10000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                   original_max_position_embeddings=16)
YARN_ROPE = dict(rope_type="yarn", rope_theta=10000.0, factor=4.0, original_max_position_embeddings=16)
PHI3_LONGROPE = dict(rope_type="longrope", rope_theta=10000.0, short_factor=[1.0, 1.5, 2.0, 3.0],
                     long_factor=[2.0, 3.0, 5.0, 8.0])
LLAMA_HEADS = tuple(FAMILIES["llama"].heads.values())

# variants: other config paths through the same code, on some of the heads
VARIANTS: list[Case] = [
    Case("bert-untied-gelu-new", "bert", dict(TINY_ENCODER, hidden_act="gelu_new", tie_word_embeddings=False),
         ("BertModel", "BertForMaskedLM")),
    Case("llama-llama3-rope-tied-bias", "llama",
         dict(TINY_DECODER, num_key_value_heads=4, rope_parameters=LLAMA3_ROPE, tie_word_embeddings=True,
              attention_bias=True, mlp_bias=True),
         LLAMA_HEADS, decoder=True),
    Case("llama-yarn-rope", "llama", dict(TINY_DECODER, rope_parameters=YARN_ROPE), ("LlamaForCausalLM",), decoder=True),
    # LongRoPE: short factors within 16 tokens (every sequence here), cos/sin scaled for 64 / 16;
    # the long factors: tests/test_llama_variants.py
    Case("phi3-longrope", "phi3", dict(FAMILIES["phi3"].tiny, partial_rotary_factor=1.0, rope_parameters=PHI3_LONGROPE,
                                       original_max_position_embeddings=16), ("Phi3ForCausalLM",), decoder=True),
    Case("roberta-untied-relu", "roberta",
         dict(FAMILIES["roberta"].tiny, hidden_act="relu", tie_word_embeddings=False),
         ("RobertaModel", "RobertaForMaskedLM")),
    Case("distilbert-sinusoidal-untied-relu", "distilbert",
         dict(TINY_DISTILBERT, sinusoidal_pos_embds=True, activation="relu", tie_word_embeddings=False),
         ("DistilBertModel", "DistilBertForMaskedLM")),
    Case("gpt2-untied-gelu-scaled-upcast", "gpt2",
         dict(TINY_GPT2, activation_function="gelu", tie_word_embeddings=False, n_inner=48,
              scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True),
         ("GPT2Model", "GPT2LMHeadModel"), decoder=True),
    # opt-350m's layout: post-norm, word embeddings projected from 16 to the hidden size
    Case("opt-post-norm-projected-gelu", "opt",
         dict(TINY_OPT, do_layer_norm_before=False, word_embed_proj_dim=16, activation_function="gelu",
              enable_bias=False, layer_norm_elementwise_affine=False), ("OPTModel", "OPTForCausalLM"), decoder=True),
    # v1.1 / FLAN-T5: gated GELU, no rescaling of the decoder output before lm_head (mT5's layout)
    Case("t5-v1_1-gated-gelu-untied", "t5", dict(TINY_MT5, feed_forward_proj="gated-gelu"),
         ("T5ForConditionalGeneration", "T5EncoderModel"), encoder_decoder=True),
    Case("bart-scaled-untied-relu", "bart",
         dict(TINY_SEQ2SEQ, scale_embedding=True, tie_word_embeddings=False, activation_function="relu"),
         ("BartModel", "BartForConditionalGeneration"), encoder_decoder=True),
    # parallel-block decoders: GPT-NeoX's sequential block (it keeps both norms) with a tied embed_out;
    # StableLM's parallel block (one norm feeds both branches), without q/k norms or q/k/v biases
    Case("gpt_neox-sequential-tied", "gpt_neox",
         dict(FAMILIES["gpt_neox"].tiny, use_parallel_residual=False, tie_word_embeddings=True, attention_bias=False),
         ("GPTNeoXForCausalLM",), decoder=True),
    Case("stablelm-parallel-plain", "stablelm",
         dict(FAMILIES["stablelm"].tiny, use_parallel_residual=True, qk_layernorm=False, use_qkv_bias=False),
         ("StableLmForCausalLM",), decoder=True),
    # DeBERTa-v2-xlarge's layout: a conv layer after the first layer, separate position projections, no
    # buckets, absolute positions; and the non-legacy LM head
    Case("deberta-v2-conv-unshared-absolute", "deberta-v2",
         dict(FAMILIES["deberta-v2"].tiny, conv_kernel_size=3, conv_act="gelu", share_att_key=False, position_buckets=-1,
              norm_rel_ebd="none", position_biased_input=True, legacy=False),
         ("DebertaV2Model", "DebertaV2ForMaskedLM")),
    # DeBERTa with talking heads, absolute positions and a narrower embedding (embed_proj)
    Case("deberta-talking-heads-projected", "deberta",
         dict(FAMILIES["deberta"].tiny, talking_head=True, position_biased_input=True, embedding_size=24),
         ("DebertaModel", "DebertaForMaskedLM")),
    # ModernBERT classifiers pooling the mean over real tokens; biases everywhere, no decoder bias
    Case("modernbert-mean-pooling-biases", "modernbert",
         dict(FAMILIES["modernbert"].tiny, classifier_pooling="mean", num_labels=3, attention_bias=True, mlp_bias=True,
              norm_bias=True, classifier_bias=True, decoder_bias=False),
         ("ModernBertForSequenceClassification", "ModernBertForMultipleChoice", "ModernBertForMaskedLM")),
    # MobileBERT without bottlenecks: LayerNorms, one FFN, the pooler passes the first token through
    Case("mobilebert-no-bottleneck-layer-norm", "mobilebert",
         dict(FAMILIES["mobilebert"].tiny, use_bottleneck=False, normalization_type="layer_norm",
              num_feedforward_networks=1, classifier_activation=False, num_labels=3),
         ("MobileBertModel", "MobileBertForMaskedLM", "MobileBertForSequenceClassification")),
    # MobileBERT's queries, keys and values all from the input bottleneck
    Case("mobilebert-bottleneck-attention", "mobilebert",
         dict(FAMILIES["mobilebert"].tiny, use_bottleneck_attention=True, key_query_shared_bottleneck=False),
         ("MobileBertModel",)),
    Case("marian-separate-vocabularies", "marian",
         dict(TINY_MARIAN, share_encoder_decoder_embeddings=False, decoder_vocab_size=77),
         ("MarianMTModel",), encoder_decoder=True),
    # alibi and multi-query decoders
    Case("bloom-post-layernorm-residual", "bloom",
         dict(FAMILIES["bloom"].tiny, apply_residual_connection_post_layernorm=True), ("BloomForCausalLM",), decoder=True),
    # the clamp bites on the perturbed weights
    Case("mpt-clip-qkv-scaled", "mpt", dict(FAMILIES["mpt"].tiny, attn_config=dict(clip_qkv=0.3, softmax_scale=0.2)),
         ("MptForCausalLM",), decoder=True),
    # Falcon-7B's layout (one key/value head, one norm before both branches), with biases
    Case("falcon-multi-query-parallel-bias", "falcon",
         dict(FAMILIES["falcon"].tiny, new_decoder_architecture=False, multi_query=True, bias=True),
         ("FalconForCausalLM",), decoder=True),
    # per-head [q, k, v], a sequential layer, relu
    Case("falcon-interleaved-sequential", "falcon",
         dict(FAMILIES["falcon"].tiny, new_decoder_architecture=False, multi_query=False, parallel_attn=False,
              num_kv_heads=None, activation="relu"), ("FalconModel", "FalconForCausalLM"), decoder=True),
    Case("gpt_bigcode-multi-head-unscaled", "gpt_bigcode",
         dict(FAMILIES["gpt_bigcode"].tiny, multi_query=False, scale_attn_weights=False), ("GPTBigCodeForCausalLM",),
         decoder=True),
    # --- vision: convnext
    # torchvision's layout (PyTorch padding, eps 1e-5, what the real MobileNetV2 port loads into), with
    # the last conv kept at 1280 channels, a separate 1x1 expansion in the stem, and DeepLab's atrous
    # trunk (output stride 8: the later blocks dilate instead of striding, so the head sees 4 x 4 maps)
    Case("mobilenet_v2-torchvision-padding-atrous", "mobilenet_v2",
         dict(FAMILIES["mobilenet_v2"].tiny, tf_padding=False, layer_norm_eps=1e-5, finegrained_output=True,
              first_layer_is_expansion=False, output_stride=8),
         ("MobileNetV2ForImageClassification", "MobileNetV2ForSemanticSegmentation"), inputs="image"),
    # ConvNeXt without layer scale, with drop path (the identity in eval; the contract tests train with
    # it), the backbone returning the last stage only (no out_features given); the backbone first, so
    # the parameter contract runs on it
    Case("convnext-no-layer-scale-drop-path-last-stage", "convnext",
         {**{k: v for k, v in FAMILIES["convnext"].tiny.items() if k != "out_indices"},
          "layer_scale_init_value": 0.0, "drop_path_rate": 0.05},
         ("ConvNextBackbone", "ConvNextForImageClassification"), inputs="image"),
    # --- audio: ctc
    # the large checkpoints' layout (wav2vec2-large-lv60, XLS-R, MMS): pre-norm layers, a LayerNorm after every
    # conv (with biases), MMS's per-layer adapters; the classifier mixes every layer's states
    Case("wav2vec2-stable-layer-norm", "wav2vec2",
         dict(FAMILIES["wav2vec2"].tiny, do_stable_layer_norm=True, feat_extract_norm="layer", conv_bias=True,
              adapter_attn_dim=8, use_weighted_layer_sum=True),
         ("Wav2Vec2ForCTC", "Wav2Vec2ForSequenceClassification"), inputs="audio-waveform"),
    # --- vision: vit
    # DINOv2's SwiGLU feed-forward (the giant model's), which its weights_in holds fused
    Case("dinov2-swiglu", "dinov2", dict(FAMILIES["dinov2"].tiny, use_swiglu_ffn=True), ("Dinov2Model",), inputs="image"),
]

CASES: list[Case] = [base_case(model_type, family) for model_type, family in FAMILIES.items()] + [
    as_decoder_case(model_type, family) for model_type, family in FAMILIES.items() if decodes_only_as_decoder(family)
] + VARIANTS


# model class name -> the Auto class the registry puts it under (class names are unique across families)
AUTO_CLASS_OF = {name: auto for family in FAMILIES.values() for auto, name in family.heads.items()}


def auto_class_name(head: str) -> str:
    """``"BertForMaskedLM"`` -> ``"AutoModelForMaskedLM"``; ``"MarianMTModel"`` -> ``"AutoModelForSeq2SeqLM"``."""
    return AUTO_CLASS_OF[head]


def takes_decoder_inputs(case: Case, head: str) -> bool:
    """Encoder-decoder heads need decoder_input_ids; the encoder alone does not."""
    return case.encoder_decoder and auto_class_name(head) != "AutoModelForTextEncoding"


def head_cases() -> list[tuple[Case, str]]:
    return [(case, head) for case in CASES for head in case.heads]
