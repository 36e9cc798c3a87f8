"""The model family registry: one entry per ``model_type``, the one place each fact about a family lives.

An entry names the module under ``workbench.models`` that holds the family's code, its config class,
the model class behind each ``Auto*`` class, and a tiny config: the reference's config kwargs for a
small random model, which the shared test suite (``tests/model_registry.py``) builds and compares.
``workbench.auto`` picks classes from it, ``workbench/__init__.py`` exports the names lazily from it.

This module imports nothing heavy (no torch): ``import workbench`` reads it. Adding a family is
one file under ``workbench/models/`` plus one entry in ``FAMILIES`` below.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, eq=False)
class Family:
    """One ``model_type``: where its classes live and what they are called."""

    module: str  # workbench.models.<module>
    config: str  # the config class's name
    heads: dict[str, str]  # Auto class name -> model class name, e.g. "AutoModelForMaskedLM" -> "BertForMaskedLM"
    tiny: dict  # the reference's config kwargs for a tiny random model (the test suite's base case)
    also_exports: tuple[str, ...] = ()  # public names beyond the config and the heads
    # Auto classes that pick a class ``heads`` already holds, e.g. "AutoModelForTextEncoding" -> "BertModel"
    # (the suite tests each class once, under its ``heads`` entry)
    also_auto: dict[str, str] = field(default_factory=dict)
    # what the shared suite feeds the model: "text" (token ids), or a kind of tests/image_inputs.py
    # ("image": pixel_values, "image-text": token ids and pixel_values, ...)
    inputs: str = "text"

    @property
    def exports(self) -> tuple[str, ...]:
        """The names ``workbench`` exports lazily from the family's module."""
        return (self.config, *self.heads.values(), *self.also_exports)


def _named(prefix: str, suffixes: dict[str, str]) -> dict[str, str]:
    """``_named("Bert", {"AutoModel": "Model"})`` -> ``{"AutoModel": "BertModel"}``."""
    return {auto: prefix + suffix for auto, suffix in suffixes.items()}


ENCODER = {"AutoModel": "Model", "AutoModelForMaskedLM": "ForMaskedLM",
           "AutoModelForSequenceClassification": "ForSequenceClassification",
           "AutoModelForTokenClassification": "ForTokenClassification",
           "AutoModelForQuestionAnswering": "ForQuestionAnswering", "AutoModelForMultipleChoice": "ForMultipleChoice"}
DECODER = {"AutoModel": "Model", "AutoModelForCausalLM": "ForCausalLM",
           "AutoModelForSequenceClassification": "ForSequenceClassification"}
T5_HEADS = {"AutoModel": "Model", "AutoModelForSeq2SeqLM": "ForConditionalGeneration",
            "AutoModelForTextEncoding": "EncoderModel"}
SEQ2SEQ = {"AutoModel": "Model", "AutoModelForSeq2SeqLM": "ForConditionalGeneration"}
SEQ2SEQ_CLASSIFIER = {**SEQ2SEQ, "AutoModelForSequenceClassification": "ForSequenceClassification"}
LLAMALIKE_LM = {"AutoModel": "Model", "AutoModelForCausalLM": "ForCausalLM"}
LLAMALIKE_TOKENS = {**DECODER, "AutoModelForTokenClassification": "ForTokenClassification"}
LLAMALIKE_QA = {**LLAMALIKE_TOKENS, "AutoModelForQuestionAnswering": "ForQuestionAnswering"}

# the discriminator (replaced-token detection) is ELECTRA's pre-training head
ENC1_ELECTRA_HEADS = {**ENCODER, "AutoModelForPreTraining": "ForPreTraining", "AutoModelForCausalLM": "ForCausalLM"}
# an encoder's causal LM is causal only with is_decoder=True: tests/model_registry.py runs it as "<family>-as-decoder"
ENCODER_AND_CAUSAL = {**ENCODER, "AutoModelForCausalLM": "ForCausalLM"}
# the reference's other Auto classes for encoders' base models and masked LMs
TEXT_ENCODING = {"AutoModelForTextEncoding": "Model"}
MLM_PRETRAINING = {"AutoModelForPreTraining": "ForMaskedLM"}
BOTH_ALIASES = {**TEXT_ENCODING, **MLM_PRETRAINING}

# --- tiny configs -----------------------------------------------------------------------------

TINY_ENCODER = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                    max_position_embeddings=64, type_vocab_size=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
# DistilBERT's own config keys, with the generic names (hidden_size, ...) as the aliases it maps
TINY_DISTILBERT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, hidden_dim=37,
                       max_position_embeddings=64, dropout=0.0, attention_dropout=0.0)
# decoders: 4 query heads sharing 2 key/value heads; pad_token_id lets sequence classification
# find each row's last real token
TINY_DECODER = dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
TINY_GPT2 = dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0,
                 attn_pdrop=0.0, bos_token_id=98, eos_token_id=98, pad_token_id=0)
TINY_OPT = dict(vocab_size=99, hidden_size=32, ffn_dim=37, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=64, dropout=0.0, attention_dropout=0.0, pad_token_id=1, bos_token_id=2,
                eos_token_id=2)
# encoder-decoders: 2 encoder and 3 decoder layers; 8 relative-position buckets reaching 20 tokens
# put the 7-token test sequences into both the exact and the log-spaced buckets
TINY_T5 = dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=3, num_heads=4,
               relative_attention_num_buckets=8, relative_attention_max_distance=20, dropout_rate=0.0,
               pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
# without T5's d_model**-0.5 rescale (mT5 unties lm_head), logits of embeddings initialised at std 1
# reach ~10, where float32 rounding alone nears the suite's 1e-5: a smaller init keeps them ~1
TINY_MT5 = dict(TINY_T5, tie_word_embeddings=False, initializer_factor=0.1)
# encoder-decoders: encoder 2 layers x 4 heads, decoder 3 layers x 2 heads (so a mix-up of the two
# shows); special tokens below 3, so the random ids (from 3 up) never hold one by chance
TINY_SEQ2SEQ = dict(vocab_size=99, d_model=32, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=37,
                    decoder_layers=3, decoder_attention_heads=2, decoder_ffn_dim=41, max_position_embeddings=64,
                    dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=1, bos_token_id=0,
                    eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2)
TINY_PEGASUS = {k: v for k, v in TINY_SEQ2SEQ.items() if k != "bos_token_id"} | dict(
    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=1, scale_embedding=True)
# Marian starts the decoder from the pad token
TINY_MARIAN = dict(TINY_SEQ2SEQ, decoder_start_token_id=1, scale_embedding=True)
# 8 mel bins x 60 frames -> 30 encoder positions; encoder 2 layers x 4 heads, decoder 3 layers x 2 heads
TINY_WHISPER = dict(vocab_size=99, num_mel_bins=8, d_model=32, encoder_layers=2, encoder_attention_heads=4,
                    encoder_ffn_dim=41, decoder_layers=3, decoder_attention_heads=2, decoder_ffn_dim=37,
                    max_source_positions=30, max_target_positions=40, pad_token_id=0, bos_token_id=1, eos_token_id=1,
                    decoder_start_token_id=2, begin_suppress_tokens=None)

# parallel-block decoders (gpt_neox, phi, stablelm; gptj and codegen in GPT-2's key names):
# rotary on 4 of each head's 8 channels
TINY_PARALLEL = dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=64, pad_token_id=0)
TINY_GPTJ = dict(vocab_size=99, n_embd=32, n_inner=37, n_layer=2, n_head=4, n_positions=64, rotary_dim=4,
                 bos_token_id=98, eos_token_id=98, pad_token_id=0)
# gemma: an explicit head_dim, Gemma 2's scale and caps, Gemma 3's layer types set (its default
# pattern makes every layer of a 2-layer model local)
GEMMA_HEADS = {**DECODER, "AutoModelForTokenClassification": "ForTokenClassification"}
TINY_GEMMA = dict(TINY_DECODER, head_dim=16)
TINY_GEMMA2 = dict(TINY_GEMMA, sliding_window=4, query_pre_attn_scalar=12, attn_logit_softcapping=3.0,
                   final_logit_softcapping=2.0)
TINY_GEMMA3 = dict(TINY_GEMMA2, layer_types=["sliding_attention", "full_attention"])
# deberta group
TINY_MODERNBERT = dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=3, num_attention_heads=4,
                       max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1,
                       sep_token_id=2, global_attn_every_n_layers=2, local_attention=4, local_rope_theta=100.0)
TINY_MOBILEBERT = dict(TINY_ENCODER, trigram_input=False, embedding_size=16, intra_bottleneck_size=16,
                       num_feedforward_networks=2)
TINY_DEBERTA = dict(TINY_ENCODER, relative_attention=True, pos_att_type="c2p|p2c", max_relative_positions=4,
                    position_biased_input=False)
TINY_DEBERTA_V2 = dict(TINY_ENCODER, relative_attention=True, pos_att_type="p2c|c2p", position_buckets=4,
                       max_relative_positions=16, norm_rel_ebd="layer_norm", share_att_key=True,
                       position_biased_input=False)
# alibi and multi-query decoders
DECODER_QA = {**DECODER, "AutoModelForTokenClassification": "ForTokenClassification",
              "AutoModelForQuestionAnswering": "ForQuestionAnswering"}
TINY_BLOOM = dict(vocab_size=99, hidden_size=32, n_layer=2, n_head=4, pad_token_id=0)
TINY_FALCON = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_kv_heads=2,
                   new_decoder_architecture=True, pad_token_id=0)
TINY_MPT = dict(vocab_size=99, d_model=32, n_layers=2, n_heads=4, max_seq_len=64, pad_token_id=0)

# --- vision: convnext
# depth multiplier 0.25 with min_depth 8 (the narrow blocks round up to 8 channels), TF "SAME" padding,
# the last conv at 0.25 x 1280 = 320 channels (finegrained_output off); 32 x 32 images reach 1 x 1
CONVNEXT_TINY_MOBILENET_V2 = dict(image_size=32, depth_multiplier=0.25, min_depth=8, finegrained_output=False,
                                  classifier_dropout_prob=0.1, num_labels=3)
# two stages (16 and 32 channels, 2 and 1 layers) on 8 x 8 then 4 x 4 patches; the backbone returns
# every map (stem included), each through its own norm
CONVNEXT_TINY_CONVNEXT = dict(image_size=32, num_stages=2, hidden_sizes=[16, 32], depths=[2, 1],
                              out_indices=[0, 1, 2], num_labels=3)
# --- vision: vit
VIT_HEADS = {"AutoModel": "Model", "AutoModelForImageClassification": "ForImageClassification",
             "AutoModelForMaskedImageModeling": "ForMaskedImageModeling"}
TINY_VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
                patch_size=8, num_channels=3, encoder_stride=8, num_labels=3)
TINY_VISION_ENC_DEC = dict(
    encoder=dict(model_type="vit", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                 image_size=32, patch_size=8),
    decoder=dict(model_type="gpt2", vocab_size=99, n_embd=24, n_layer=2, n_head=4, n_positions=64, resid_pdrop=0.0,
                 embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=98, eos_token_id=98, pad_token_id=0, is_decoder=True,
                 add_cross_attention=True),
    decoder_start_token_id=98, pad_token_id=0)
TINY_DINOV2 = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=32,
                   patch_size=8, num_labels=3, layerscale_value=0.5, out_features=["stage1", "stage2"])
# BLIP: text and vision 32 wide (VQA's answer decoder cross-attends to the question with the
# vision-width keys, so the two must match); 4 x 4 patches of 8 pixels; special tokens below 3, so the
# random ids (from 3 up) hold none; generation stops at sep_token_id (2)
TINY_BLIP = dict(
    text_config=dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=64, bos_token_id=1, eos_token_id=2, sep_token_id=2, pad_token_id=0),
    vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32,
                       patch_size=8),
    projection_dim=16, image_text_hidden_size=16)
# vision: clip (CLIP, SigLIP). Special tokens inside the tiny vocabulary; 32-pixel images in 8-pixel patches
TINY_CLIP_TEXT = dict(vocab_size=99, hidden_size=32, intermediate_size=37, projection_dim=24, num_hidden_layers=2,
                      num_attention_heads=4, max_position_embeddings=16, pad_token_id=1, bos_token_id=97,
                      eos_token_id=98)
TINY_CLIP_VISION = dict(hidden_size=32, intermediate_size=37, projection_dim=24, num_hidden_layers=2,
                        num_attention_heads=4, image_size=32, patch_size=8)
TINY_CLIP = dict(text_config=TINY_CLIP_TEXT, vision_config=TINY_CLIP_VISION, projection_dim=24, num_labels=3)
TINY_SIGLIP_TEXT = {k: v for k, v in TINY_CLIP_TEXT.items() if k != "projection_dim"}
TINY_SIGLIP_VISION = {k: v for k, v in TINY_CLIP_VISION.items() if k != "projection_dim"}
TINY_SIGLIP = dict(text_config=TINY_SIGLIP_TEXT, vision_config=TINY_SIGLIP_VISION, num_labels=3)

# --- audio: ctc
CTC_HEADS = {"AutoModelForCTC": "ForCTC", "AutoModel": "Model", "AutoModelForAudioClassification": "ForSequenceClassification",
             "AutoModelForAudioFrameClassification": "ForAudioFrameClassification",
             "AutoModelForAudioXVector": "ForXVector"}
# two convs (kernel 10 stride 5, kernel 3 stride 2): 400 samples -> 39 frames, a clip padded from 300 -> 29; a
# 16-wide positional conv in 2 groups; no LayerDrop (it would make the gradient checks random); 3 labels;
# TDNN 39 -> 35 -> 31 -> 31 frames
CTC_TINY_WAV2VEC2 = dict(vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=37, conv_dim=[32, 32], conv_kernel=[10, 3], conv_stride=[5, 2],
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, layerdrop=0.0, num_labels=3,
                         classifier_proj_size=16, tdnn_dim=[16, 16, 24], tdnn_kernel=[5, 3, 1], tdnn_dilation=[1, 2, 1],
                         xvector_output_dim=16, num_codevectors_per_group=8, codevector_dim=16, proj_codevector_dim=16)
# 16 buckets (8 each way, 4 of them exact) reaching 20 frames: the 39-frame clips use the log-spaced ones too
CTC_TINY_WAVLM = dict(CTC_TINY_WAV2VEC2, num_buckets=16, max_bucket_distance=20)
CTC_TINY_HUBERT = {k: v for k, v in CTC_TINY_WAV2VEC2.items()
                   if not k.startswith(("tdnn", "xvector", "num_codevectors", "codevector", "proj_codevector"))}


# --- audio: ast


# --- audio: clap


# --- the families ------------------------------------------------------------------------------

# --- vision: resnet
# bottleneck layers (ResNet-50's), one stage of two layers (an identity shortcut); the backbone returns
# three of the five stages; 3 labels, so (B, num_labels) logits are not mistaken for a (B, B) similarity matrix
TINY_RESNET = dict(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 2, 1, 1],
                   layer_type="bottleneck", out_features=["stage1", "stage3", "stage4"], num_labels=3)
# DETR on its own ResNet (basic layers: ResNet-18's), all four stages out (the segmentation head reads three);
# 8 heads of 4 dims: the mask head takes d_model + heads channels, which its group norms need divisible by 8
TINY_DETR = dict(use_timm_backbone=False, backbone_config=dict(
                     model_type="resnet", embedding_size=8, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1],
                     layer_type="basic", out_features=["stage1", "stage2", "stage3", "stage4"]),
                 d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=8, decoder_attention_heads=8,
                 encoder_ffn_dim=37, decoder_ffn_dim=37, num_queries=5, num_labels=3, dropout=0.0)

FAMILIES: dict[str, Family] = {
    "bert": Family("bert", "BertConfig", {**_named("Bert", ENCODER), **_named("Bert", {
        "AutoModelForPreTraining": "ForPreTraining", "AutoModelForNextSentencePrediction": "ForNextSentencePrediction"}),
        "AutoModelForCausalLM": "BertLMHeadModel"}, TINY_ENCODER, also_auto=_named("Bert", TEXT_ENCODING)),
    "roberta": Family("roberta", "RobertaConfig", _named("Roberta", ENCODER_AND_CAUSAL),
                      dict(TINY_ENCODER, pad_token_id=1), also_auto=_named("Roberta", BOTH_ALIASES)),
    "xlm-roberta": Family("roberta", "XLMRobertaConfig", _named("XLMRoberta", ENCODER_AND_CAUSAL),
                          dict(TINY_ENCODER, pad_token_id=1), also_auto=_named("XLMRoberta", BOTH_ALIASES)),
    "distilbert": Family("distilbert", "DistilBertConfig", _named("DistilBert", ENCODER), TINY_DISTILBERT,
                         also_auto=_named("DistilBert", BOTH_ALIASES)),
    "gpt2": Family("gpt2", "GPT2Config", {
        "AutoModel": "GPT2Model", "AutoModelForCausalLM": "GPT2LMHeadModel",
        "AutoModelForSequenceClassification": "GPT2ForSequenceClassification",
        "AutoModelForTokenClassification": "GPT2ForTokenClassification",
        "AutoModelForQuestionAnswering": "GPT2ForQuestionAnswering",
    }, TINY_GPT2),
    "opt": Family("opt", "OPTConfig", _named("OPT", {**DECODER, "AutoModelForQuestionAnswering": "ForQuestionAnswering"}),
                  TINY_OPT),
    # one config-driven decoder, workbench/models/llama.py
    "llama": Family("llama", "LlamaConfig", _named("Llama", DECODER), TINY_DECODER),
    # the window (4) is shorter than the test sequences (7 and 9), so it changes the outputs
    "mistral": Family("llama", "MistralConfig", _named("Mistral", DECODER),
                      dict(TINY_DECODER, sliding_window=4, head_dim=16)),
    # q/k/v biases; layer 0 full attention, layer 1 in a window of 4
    "qwen2": Family("llama", "Qwen2Config", _named("Qwen2", DECODER),
                    dict(TINY_DECODER, use_sliding_window=True, sliding_window=4, max_window_layers=1)),
    # one encoder-decoder, workbench/models/t5.py; umt5 has a relative position bias in every layer
    "t5": Family("t5", "T5Config", _named("T5", T5_HEADS), TINY_T5),
    "mt5": Family("t5", "MT5Config", _named("MT5", T5_HEADS), TINY_MT5),
    "umt5": Family("t5", "UMT5Config", _named("UMT5", T5_HEADS), TINY_T5),
    # config-driven encoder-decoders, workbench/models/bart.py: mbart and pegasus are pre-norm with
    # final layer norms, marian and pegasus have sinusoidal positions
    "bart": Family("bart", "BartConfig", _named("Bart", SEQ2SEQ_CLASSIFIER), TINY_SEQ2SEQ),
    "mbart": Family("bart", "MBartConfig", _named("MBart", SEQ2SEQ_CLASSIFIER), TINY_SEQ2SEQ),
    "marian": Family("bart", "MarianConfig", {"AutoModel": "MarianModel", "AutoModelForSeq2SeqLM": "MarianMTModel"},
                     TINY_MARIAN),
    "pegasus": Family("bart", "PegasusConfig", _named("Pegasus", SEQ2SEQ), TINY_PEGASUS),
    "whisper": Family("whisper", "WhisperConfig", {
        "AutoModel": "WhisperModel", "AutoModelForSpeechSeq2Seq": "WhisperForConditionalGeneration",
    }, TINY_WHISPER),

    # --- gemma: gemma, gemma2, gemma3_text
    # workbench/models/gemma.py; head_dim (16) is not hidden_size / heads (8), as in Gemma's checkpoints
    "gemma": Family("gemma", "GemmaConfig", _named("Gemma", GEMMA_HEADS), TINY_GEMMA),
    # layer 0 in a window of 4, layer 1 global; caps small enough (3 and 2) to change the outputs
    "gemma2": Family("gemma", "Gemma2Config", _named("Gemma2", GEMMA_HEADS), TINY_GEMMA2),
    # the reference ignores Gemma 3's attn_logit_softcapping: set here, so applying it would fail parity
    "gemma3_text": Family("gemma", "Gemma3TextConfig", {
        "AutoModel": "Gemma3TextModel", "AutoModelForCausalLM": "Gemma3ForCausalLM",
        "AutoModelForSequenceClassification": "Gemma3TextForSequenceClassification",
    }, TINY_GEMMA3),

    # --- mixture of experts and qwen3: mixtral, qwen2_moe, qwen3, qwen3_moe
    # Qwen2's shape with per-head q/k norms; head_dim 16 (not hidden / heads = 8) as Qwen3's checkpoints
    # set it apart; layer 1 in a window of 4
    "qwen3": Family("llama_variants", "Qwen3Config", _named("Qwen3", LLAMALIKE_QA),
                    dict(TINY_DECODER, head_dim=16, use_sliding_window=True, sliding_window=4, max_window_layers=1)),
    # mixture of experts, workbench/models/moe.py: 4 experts, 2 per token, so the 14 test tokens
    # reach every expert and most pairs. Mixtral: every layer sparse, top-k weights renormalised; its
    # experts are intermediate_size wide, 24 not 37: the reference's grouped matmul needs rows of a
    # multiple of 16 bytes
    "mixtral": Family("moe", "MixtralConfig", _named("Mixtral", LLAMALIKE_QA),
                      dict(TINY_DECODER, intermediate_size=24, num_local_experts=4, num_experts_per_tok=2)),
    # Qwen2-MoE: a sigmoid-gated shared expert, top-k weights as they come; layer 1 dense
    # (mlp_only_layers), layer 0 in a window of 4
    "qwen2_moe": Family("moe", "Qwen2MoeConfig", _named("Qwen2Moe", LLAMALIKE_QA),
                        dict(TINY_DECODER, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                             shared_expert_intermediate_size=24, mlp_only_layers=[1], use_sliding_window=True,
                             sliding_window=4)),
    # Qwen3-MoE: per-head q/k norms, head_dim 16; layer 0 dense (decoder_sparse_step 2), renormalised top-k
    "qwen3_moe": Family("moe", "Qwen3MoeConfig", _named("Qwen3Moe", LLAMALIKE_QA),
                        dict(TINY_DECODER, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                             decoder_sparse_step=2, norm_topk_prob=True, head_dim=16)),

    # --- parallel-block decoders: gpt_neox, gptj, codegen, phi, stablelm
    # one config-driven decoder, workbench/models/parallel_decoder.py: half of each head rotates
    # (4 of 8 channels), so the pass-through channels are exercised
    "gpt_neox": Family("parallel_decoder", "GPTNeoXConfig", _named("GPTNeoX", {
        **DECODER, "AutoModelForTokenClassification": "ForTokenClassification",
        "AutoModelForQuestionAnswering": "ForQuestionAnswering"}), TINY_PARALLEL | dict(rotary_pct=0.5)),
    "gptj": Family("parallel_decoder", "GPTJConfig", _named("GPTJ", {
        **DECODER, "AutoModelForQuestionAnswering": "ForQuestionAnswering"}), TINY_GPTJ),
    "codegen": Family("parallel_decoder", "CodeGenConfig", {
        "AutoModel": "CodeGenModel", "AutoModelForCausalLM": "CodeGenForCausalLM"}, TINY_GPTJ),
    # grouped-query attention and q/k LayerNorms (Phi: one for all heads; StableLM: one per head)
    "phi": Family("parallel_decoder", "PhiConfig", _named("Phi", {
        **DECODER, "AutoModelForTokenClassification": "ForTokenClassification"}),
        TINY_PARALLEL | dict(num_key_value_heads=2, qk_layernorm=True)),
    "stablelm": Family("parallel_decoder", "StableLmConfig", _named("StableLm", {
        **DECODER, "AutoModelForTokenClassification": "ForTokenClassification"}),
        TINY_PARALLEL | dict(num_key_value_heads=2, qk_layernorm=True, use_qkv_bias=True, partial_rotary_factor=0.5)),

    # --- alibi and multi-query decoders: bloom, falcon, mpt, gpt_bigcode, starcoder2
    # ALiBi instead of position embeddings (workbench/nn/alibi.py); GPT-2's heads over their own base models
    "bloom": Family("bloom", "BloomConfig", _named("Bloom", DECODER_QA), TINY_BLOOM),
    "mpt": Family("mpt", "MptConfig", _named("Mpt", DECODER_QA), TINY_MPT),
    # RoPE and grouped key/value heads (Falcon-40B's layout); the other layouts are variants
    "falcon": Family("falcon", "FalconConfig", _named("Falcon", DECODER_QA), TINY_FALCON),
    # GPT-2 with multi-query attention (one key/value head) and nn.Linear projections
    "gpt_bigcode": Family("gpt_bigcode", "GPTBigCodeConfig", _named("GPTBigCode", {
        **DECODER, "AutoModelForTokenClassification": "ForTokenClassification"}), TINY_GPT2),
    # llama.py's decoder with LayerNorms, biases, a c_fc/c_proj MLP; the window (4) is shorter than
    # the test sequences, so it changes the outputs
    "starcoder2": Family("starcoder2", "Starcoder2Config", _named("Starcoder2", {
        **DECODER, "AutoModelForTokenClassification": "ForTokenClassification"}), dict(TINY_DECODER, sliding_window=4)),

    # --- llama-shaped decoders: phi3, granite, cohere, olmo2, smollm3
    # config fields of the decoder in workbench/models/llama.py, classes in llama_variants.py
    # phi3: fused qkv_proj / gate_up_proj, half of each head rotated
    "phi3": Family("llama_variants", "Phi3Config", _named("Phi3", LLAMALIKE_TOKENS),
                   dict(TINY_DECODER, partial_rotary_factor=0.5, bos_token_id=1, eos_token_id=2)),
    "granite": Family("llama_variants", "GraniteConfig", _named("Granite", LLAMALIKE_LM),
                      dict(TINY_DECODER, embedding_multiplier=4.0, residual_multiplier=0.5, attention_multiplier=0.25,
                           logits_scaling=2.0)),
    # parallel attention and MLP, per-head q/k layer norms, interleaved rotary pairs
    "cohere": Family("llama_variants", "CohereConfig", _named("Cohere", LLAMALIKE_LM),
                     dict(TINY_DECODER, use_qk_norm=True, logit_scale=0.5, bos_token_id=1, eos_token_id=2)),
    "olmo2": Family("llama_variants", "Olmo2Config", _named("Olmo2", DECODER), dict(TINY_DECODER, eos_token_id=2)),
    # layer 1 has no rotary embedding and attends in a window of 4
    "smollm3": Family("llama_variants", "SmolLM3Config", _named("SmolLM3", LLAMALIKE_QA),
                      dict(TINY_DECODER, no_rope_layer_interval=2, use_sliding_window=True, sliding_window=4,
                           bos_token_id=1, eos_token_id=2)),

    # --- encoders: albert, electra, camembert, mpnet, roformer
    # embeddings (16) narrower than the layers (32); one layer group shared by both layers
    "albert": Family("albert", "AlbertConfig", _named("Albert", {**ENCODER, "AutoModelForPreTraining": "ForPreTraining"}),
                     dict(TINY_ENCODER, embedding_size=16), also_auto=_named("Albert", TEXT_ENCODING)),
    # embeddings (16) narrower than the layers (32): the projection between them runs
    "electra": Family("electra", "ElectraConfig", _named("Electra", ENC1_ELECTRA_HEADS),
                      dict(TINY_ENCODER, embedding_size=16), also_auto=_named("Electra", TEXT_ENCODING)),
    # rotary positions; embeddings (16) narrower than the layers; multiple choice summarises the
    # first token (the reference's default, the last token, reads padding in a right-padded batch:
    # tests/test_enc1_families.py checks that default on unpadded inputs)
    "roformer": Family("roformer", "RoFormerConfig", _named("RoFormer", ENCODER_AND_CAUSAL),
                       dict(TINY_ENCODER, embedding_size=16, summary_type="first"),
                       also_auto=_named("RoFormer", TEXT_ENCODING)),
    # a relative position bias shared by the layers; no token types; RoBERTa's padding index
    "mpnet": Family("mpnet", "MPNetConfig", _named("MPNet", ENCODER),
                    dict({k: v for k, v in TINY_ENCODER.items() if k != "type_vocab_size"}, pad_token_id=1),
                    also_auto=_named("MPNet", MLM_PRETRAINING)),
    # RoBERTa under another name, workbench/models/roberta.py (as xlm-roberta)
    "camembert": Family("roberta", "CamembertConfig", _named("Camembert", ENCODER_AND_CAUSAL),
                        dict(TINY_ENCODER, pad_token_id=1), also_auto=_named("Camembert", MLM_PRETRAINING)),

    # --- encoders: deberta, deberta-v2, modernbert, mobilebert
    # DeBERTa-v3's layout: shared position keys, a layer-normed table of 2 x 4 log buckets over 16
    # distances (so the 7-token test rows reach the log-spaced buckets), no absolute positions
    "deberta-v2": Family("deberta_v2", "DebertaV2Config", _named("DebertaV2", ENCODER), TINY_DEBERTA_V2,
                         also_auto=_named("DebertaV2", BOTH_ALIASES)),
    # deberta-base's layout, its table read 4 distances each side (shorter than the test rows)
    "deberta": Family("deberta", "DebertaConfig",
                      _named("Deberta", {k: v for k, v in ENCODER.items() if k != "AutoModelForMultipleChoice"}),
                      TINY_DEBERTA, also_auto=_named("Deberta", BOTH_ALIASES)),
    # layers global, local (a window of 2 each side, shorter than the test rows), global; the local
    # layers' RoPE base differs from the global ones'
    "modernbert": Family("modernbert", "ModernBertConfig", _named("ModernBert", ENCODER), TINY_MODERNBERT),
    # bottlenecks (32 -> 16), 16-wide embeddings projected, two stacked FFNs, NoNorm. Trigram embeddings (the
    # default) are off: each token then reads its right neighbour, a padding token in a right-padded row, so
    # the reference itself breaks "padded batch == rows alone"; tests/test_mobilebert.py checks them against
    # the reference
    "mobilebert": Family("mobilebert", "MobileBertConfig", _named("MobileBert", {
        **ENCODER, "AutoModelForNextSentencePrediction": "ForNextSentencePrediction",
        "AutoModelForPreTraining": "ForPreTraining"}), TINY_MOBILEBERT, also_auto=_named("MobileBert", TEXT_ENCODING)),

    # --- added with workbench add-model: olmo
    # scaffolded from llama (workbench add-model --like llama --name olmo), then filled in: parameter-free
    # layer norms, and q/k/v clipped at 0.8 (about a third of the tiny model's projections are larger)
    "olmo": Family("olmo", "OlmoConfig", {
        "AutoModel": "OlmoModel", "AutoModelForCausalLM": "OlmoForCausalLM",
        "AutoModelForSequenceClassification": "OlmoForSequenceClassification",
    }, dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, eos_token_id=2, clip_qkv=0.8)),

    # --- vision: vit (ViT, DeiT, DINOv2, VisionEncoderDecoder)
    # 32x32 images in 8x8 patches (16 patch tokens); the masked-image-modelling decoder upsamples by 8 back to 32
    "vit": Family("vit", "ViTConfig", _named("ViT", VIT_HEADS), TINY_VIT, inputs="image-masked"),
    # ViT with a distillation token; the teacher-distilled classifier shares AutoModelForImageClassification
    # with the plain one (tests/test_vit_family.py compares it)
    "deit": Family("deit", "DeiTConfig", _named("DeiT", VIT_HEADS), TINY_VIT, inputs="image-masked",
                   also_exports=("DeiTForImageClassificationWithTeacher",)),
    # positions always resampled to the image; the backbone returns both layers' outputs as 4x4 maps
    "dinov2": Family("dinov2", "Dinov2Config", {"AutoModel": "Dinov2Model",
                     "AutoModelForImageClassification": "Dinov2ForImageClassification",
                     "AutoBackbone": "Dinov2Backbone"}, TINY_DINOV2, inputs="image"),
    # a ViT encoder (32 wide) and a GPT-2 decoder (24 wide, so enc_to_dec_proj runs) with cross-attention
    "vision-encoder-decoder": Family("vision_encoder_decoder", "VisionEncoderDecoderConfig",
                                     {"AutoModelForImageTextToText": "VisionEncoderDecoderModel"}, TINY_VISION_ENC_DEC,
                                     inputs="image-decoder-ids"),

    # --- vision: resnet (ResNet, DETR)
    # the classifier first: the parameter contract runs the first head, and its hooks watch linear layers
    "resnet": Family("resnet", "ResNetConfig", {
        "AutoModelForImageClassification": "ResNetForImageClassification", "AutoModel": "ResNetModel",
        "AutoBackbone": "ResNetBackbone"}, TINY_RESNET, inputs="image"),
    "detr": Family("detr", "DetrConfig", {
        "AutoModelForObjectDetection": "DetrForObjectDetection", "AutoModel": "DetrModel",
        "AutoModelForImageSegmentation": "DetrForSegmentation"}, TINY_DETR, inputs="image-pixel-mask",
        also_auto={"AutoModelForUniversalSegmentation": "DetrForSegmentation"}),

    # --- vision: convnext (ConvNeXT, MobileNetV2)
    # the classifier first: the shared contract tests pick a case's first head, and the trunk alone has no Linear
    "mobilenet_v2": Family("mobilenet_v2", "MobileNetV2Config", _named("MobileNetV2", {
        "AutoModelForImageClassification": "ForImageClassification", "AutoModel": "Model",
        "AutoModelForSemanticSegmentation": "ForSemanticSegmentation"}), CONVNEXT_TINY_MOBILENET_V2, inputs="image"),
    "convnext": Family("convnext", "ConvNextConfig", _named("ConvNext", {
        "AutoModel": "Model", "AutoModelForImageClassification": "ForImageClassification",
        "AutoBackbone": "Backbone"}), CONVNEXT_TINY_CONVNEXT, inputs="image"),

    # --- vision: swin (Swin, SegFormer)
    # 8x8 patches in windows of 4: stage 1 shifts (its mask bites), stage 2 (4x4) is one window; absolute
    # positions on; the backbone reports every stage; encoder_stride 8 rebuilds the 32x32 pixels
    "swin": Family("swin", "SwinConfig", _named("Swin", {
        "AutoModel": "Model", "AutoModelForImageClassification": "ForImageClassification",
        "AutoModelForMaskedImageModeling": "ForMaskedImageModeling", "AutoBackbone": "Backbone"}),
        dict(image_size=32, patch_size=4, num_channels=3, embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=4,
             use_absolute_embeddings=True, encoder_stride=8, num_labels=3, out_features=["stem", "stage1", "stage2"]),
        inputs="image"),
    # two stages (8x8 then 4x4 maps of a 32x32 image): the first attends to keys shrunk 2x per side, the second
    # to all of them; logits at 8x8
    "segformer": Family("segformer", "SegformerConfig", _named("Segformer", {
        "AutoModel": "Model", "AutoModelForImageClassification": "ForImageClassification",
        "AutoModelForSemanticSegmentation": "ForSemanticSegmentation"}),
        dict(num_channels=3, num_encoder_blocks=2, depths=[1, 2], sr_ratios=[2, 1], hidden_sizes=[16, 32],
             patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[4, 4], decoder_hidden_size=32,
             num_labels=3),
        inputs="image"),

    # --- vision: clip (CLIP, SigLIP)
    # workbench/models/clip.py: the joint model (text_config and vision_config held as sub-configs), each
    # tower a model type of its own; the suite's texts end with the end-of-text token CLIP pools at
    "clip": Family("clip", "CLIPConfig", {"AutoModel": "CLIPModel",
                                          "AutoModelForImageClassification": "CLIPForImageClassification"},
                   TINY_CLIP, also_auto={"AutoModelForZeroShotImageClassification": "CLIPModel"},
                   inputs="image-text-eos"),
    # eos_token_id 98 (not the legacy 2): pooling reads the first eos; tests/test_clip.py checks both rules
    "clip_text_model": Family("clip", "CLIPTextConfig", {"AutoModel": "CLIPTextModel"}, TINY_CLIP_TEXT,
                              also_exports=("CLIPTextModelWithProjection",),
                              also_auto={"AutoModelForTextEncoding": "CLIPTextModel"}),
    "clip_vision_model": Family("clip", "CLIPVisionConfig", {"AutoModel": "CLIPVisionModel"}, TINY_CLIP_VISION,
                                also_exports=("CLIPVisionModelWithProjection",), inputs="image"),
    # workbench/models/siglip.py: CLIP's layers, a bidirectional text tower pooled at its last position (so the
    # suite's texts are unpadded, as SigLIP's processor pads them all to one length), an attention-pooling head
    "siglip": Family("siglip", "SiglipConfig", {"AutoModel": "SiglipModel",
                                                "AutoModelForImageClassification": "SiglipForImageClassification"},
                     TINY_SIGLIP, also_auto={"AutoModelForZeroShotImageClassification": "SiglipModel"},
                     inputs="image-whole-text"),
    # the reference's AutoModel has no siglip_text_model; workbench's picks SiglipTextModel
    "siglip_text_model": Family("siglip", "SiglipTextConfig", {"AutoModel": "SiglipTextModel"}, TINY_SIGLIP_TEXT),
    "siglip_vision_model": Family("siglip", "SiglipVisionConfig", {"AutoModel": "SiglipVisionModel"},
                                  TINY_SIGLIP_VISION, inputs="image"),

    # --- vision: blip (BLIP)
    # ViT image tower, BERT-shaped text side with cross-attention (workbench/models/blip.py, blip_text.py);
    # the shared suite feeds each head its own inputs (tests/image_inputs.py, "blip")
    "blip": Family("blip", "BlipConfig", {
        "AutoModel": "BlipModel", "AutoModelForImageTextToText": "BlipForConditionalGeneration",
        "AutoModelForVisualQuestionAnswering": "BlipForQuestionAnswering",
    }, TINY_BLIP, also_exports=("BlipTextConfig", "BlipVisionConfig", "BlipTextModel", "BlipVisionModel",
                                "BlipTextLMHeadModel", "BlipForImageTextRetrieval"),
        also_auto={"AutoModelForZeroShotImageClassification": "BlipModel"}, inputs="blip"),

    # --- audio: ctc (Wav2Vec2, HuBERT, WavLM)
    # workbench/models/speech_encoder.py, speech_heads.py: the CTC head first (the parameter contract runs it)
    "wav2vec2": Family("wav2vec2", "Wav2Vec2Config", _named("Wav2Vec2", {
        **CTC_HEADS, "AutoModelForPreTraining": "ForPreTraining"}), CTC_TINY_WAV2VEC2, inputs="audio-waveform"),
    "hubert": Family("hubert", "HubertConfig", _named("Hubert", {
        k: v for k, v in CTC_HEADS.items() if k in ("AutoModelForCTC", "AutoModel", "AutoModelForAudioClassification")}),
        CTC_TINY_HUBERT, inputs="audio-waveform"),
    # the attention adds a gated relative position bias (workbench/nn/gated_relative_position.py)
    "wavlm": Family("wavlm", "WavLMConfig", _named("WavLM", CTC_HEADS), CTC_TINY_WAVLM, inputs="audio-waveform"),

    # --- audio: ast (Audio Spectrogram Transformer)

    # --- audio: clap (CLAP)
}
