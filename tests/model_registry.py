"""The registry of tiny model configs that every model test runs over.

Adding an architecture adds entries here: the reference library builds a random model from
``config`` (transformers' config kwargs for ``model_type``), and the shared contract and parity
suites (test_models.py) run on it for every head listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


TINY_ENCODER = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                    max_position_embeddings=64, type_vocab_size=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
# DistilBERT's own config keys, with the generic names (hidden_size, ...) as the aliases it maps
TINY_DISTILBERT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, hidden_dim=37,
                       max_position_embeddings=64, dropout=0.0, attention_dropout=0.0)
ENCODER_HEADS = ("Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
                 "ForMultipleChoice")

# decoders: 4 query heads sharing 2 key/value heads; pad_token_id lets sequence classification
# find each row's last real token
TINY_DECODER = dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
DECODER_HEADS = ("Model", "ForCausalLM", "ForSequenceClassification")
LLAMA3_ROPE = dict(rope_type="llama3", rope_theta=10000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                   original_max_position_embeddings=16)
YARN_ROPE = dict(rope_type="yarn", rope_theta=10000.0, factor=4.0, original_max_position_embeddings=16)

CASES: list[Case] = [
    Case("bert", "bert", dict(TINY_ENCODER, num_labels=3), tuple("Bert" + h for h in ENCODER_HEADS)),
    Case("bert-untied-gelu-new", "bert", dict(TINY_ENCODER, hidden_act="gelu_new", tie_word_embeddings=False),
         ("BertModel", "BertForMaskedLM")),
    Case("llama-gqa", "llama", dict(TINY_DECODER, num_labels=3), tuple("Llama" + h for h in DECODER_HEADS), decoder=True),
    Case("llama-llama3-rope-tied-bias", "llama",
         dict(TINY_DECODER, num_key_value_heads=4, rope_parameters=LLAMA3_ROPE, tie_word_embeddings=True,
              attention_bias=True, mlp_bias=True),
         tuple("Llama" + h for h in DECODER_HEADS), decoder=True),
    Case("llama-yarn-rope", "llama", dict(TINY_DECODER, rope_parameters=YARN_ROPE), ("LlamaForCausalLM",), decoder=True),
    # the window (4) is shorter than the test sequences (7 and 9), so it changes the outputs
    Case("mistral-sliding-window", "mistral", dict(TINY_DECODER, sliding_window=4, head_dim=16),
         tuple("Mistral" + h for h in DECODER_HEADS), decoder=True),
    # q/k/v biases; layer 0 full attention, layer 1 in a window of 4
    Case("qwen2-bias-sliding-layers", "qwen2",
         dict(TINY_DECODER, use_sliding_window=True, sliding_window=4, max_window_layers=1),
         tuple("Qwen2" + h for h in DECODER_HEADS), decoder=True),
    Case("roberta", "roberta", dict(TINY_ENCODER, pad_token_id=1, num_labels=3), tuple("Roberta" + h for h in ENCODER_HEADS)),
    Case("roberta-untied-relu", "roberta", dict(TINY_ENCODER, pad_token_id=1, hidden_act="relu", tie_word_embeddings=False),
         ("RobertaModel", "RobertaForMaskedLM")),
    Case("xlm-roberta", "xlm-roberta", dict(TINY_ENCODER, pad_token_id=1, num_labels=3),
         ("XLMRobertaModel", "XLMRobertaForMaskedLM", "XLMRobertaForSequenceClassification")),
    Case("distilbert", "distilbert", dict(TINY_DISTILBERT, num_labels=3), tuple("DistilBert" + h for h in ENCODER_HEADS)),
    Case("distilbert-sinusoidal-untied-relu", "distilbert",
         dict(TINY_DISTILBERT, sinusoidal_pos_embds=True, activation="relu", tie_word_embeddings=False),
         ("DistilBertModel", "DistilBertForMaskedLM")),
]

TINY_GPT2 = dict(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0,
                 attn_pdrop=0.0, bos_token_id=98, eos_token_id=98, pad_token_id=0)
GPT2_HEADS = ("Model", "LMHeadModel", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")

CASES += [
    Case("gpt2", "gpt2", dict(TINY_GPT2, num_labels=3), tuple("GPT2" + h for h in GPT2_HEADS), decoder=True),
    Case("gpt2-untied-gelu-scaled-upcast", "gpt2",
         dict(TINY_GPT2, activation_function="gelu", tie_word_embeddings=False, n_inner=48,
              scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True),
         ("GPT2Model", "GPT2LMHeadModel"), decoder=True),
]

# OPT: pre-norm (125m, 1.3b, ...) and post-norm with projected word embeddings (opt-350m's layout)
TINY_OPT = dict(vocab_size=99, hidden_size=32, ffn_dim=37, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=64, dropout=0.0, attention_dropout=0.0, pad_token_id=1, bos_token_id=2,
                eos_token_id=2)
OPT_HEADS = ("Model", "ForCausalLM", "ForSequenceClassification", "ForQuestionAnswering")

CASES += [
    Case("opt", "opt", dict(TINY_OPT, num_labels=3), tuple("OPT" + h for h in OPT_HEADS), decoder=True),
    Case("opt-post-norm-projected-gelu", "opt",
         dict(TINY_OPT, do_layer_norm_before=False, word_embed_proj_dim=16, activation_function="gelu",
              enable_bias=False, layer_norm_elementwise_affine=False), ("OPTModel", "OPTForCausalLM"), decoder=True),
]

# encoder-decoders: 2 encoder and 3 decoder layers; 8 relative-position buckets reaching 20 tokens
# put the 7-token test sequences into both the exact and the log-spaced buckets
TINY_T5 = dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=3, num_heads=4,
               relative_attention_num_buckets=8, relative_attention_max_distance=20, dropout_rate=0.0,
               pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
T5_HEADS = ("Model", "ForConditionalGeneration", "EncoderModel")
# without T5's d_model**-0.5 rescale, logits of embeddings initialised at std 1 reach ~10, where float32
# rounding alone nears the suite's 1e-5: a smaller init keeps them ~1
UNSCALED = dict(tie_word_embeddings=False, initializer_factor=0.1)

CASES += [
    Case("t5", "t5", TINY_T5, tuple("T5" + h for h in T5_HEADS), encoder_decoder=True),
    # v1.1 / FLAN-T5: gated GELU, no rescaling of the decoder output before lm_head
    Case("t5-v1_1-gated-gelu-untied", "t5", dict(TINY_T5, feed_forward_proj="gated-gelu", **UNSCALED),
         ("T5ForConditionalGeneration", "T5EncoderModel"), encoder_decoder=True),
    Case("mt5", "mt5", dict(TINY_T5, **UNSCALED), tuple("MT5" + h for h in T5_HEADS), encoder_decoder=True),
    # a relative position bias in every layer
    Case("umt5", "umt5", TINY_T5, tuple("UMT5" + h for h in T5_HEADS), encoder_decoder=True),
]

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

CASES += [
    Case("bart", "bart", dict(TINY_SEQ2SEQ, num_labels=3),
         ("BartModel", "BartForConditionalGeneration", "BartForSequenceClassification"), encoder_decoder=True),
    Case("bart-scaled-untied-relu", "bart",
         dict(TINY_SEQ2SEQ, scale_embedding=True, tie_word_embeddings=False, activation_function="relu"),
         ("BartModel", "BartForConditionalGeneration"), encoder_decoder=True),
    # pre-norm layers, final layer norms, labels shifted from each row's last token
    Case("mbart", "mbart", dict(TINY_SEQ2SEQ, num_labels=3),
         ("MBartModel", "MBartForConditionalGeneration", "MBartForSequenceClassification"), encoder_decoder=True),
    # sinusoidal positions (not saved by MarianMTModel), no embedding layer norm
    Case("marian", "marian", TINY_MARIAN, ("MarianModel", "MarianMTModel"), encoder_decoder=True),
    Case("marian-separate-vocabularies", "marian",
         dict(TINY_MARIAN, share_encoder_decoder_embeddings=False, decoder_vocab_size=77),
         ("MarianMTModel",), encoder_decoder=True),
    # sinusoidal positions, pre-norm layers, final layer norms
    Case("pegasus", "pegasus", TINY_PEGASUS, ("PegasusModel", "PegasusForConditionalGeneration"), encoder_decoder=True),
]

# Head names whose Auto class is not "AutoModelFor" + the part after "For" (checked first, in order)
AUTO_CLASS_BY_ENDING = {"LMHeadModel": "AutoModelForCausalLM", "ForConditionalGeneration": "AutoModelForSeq2SeqLM",
                        "MTModel": "AutoModelForSeq2SeqLM", "EncoderModel": "AutoModelForTextEncoding"}


def auto_class_name(head: str) -> str:
    """``"BertForMaskedLM"`` -> ``"AutoModelForMaskedLM"``; ``"GPT2LMHeadModel"`` -> ``"AutoModelForCausalLM"``;
    ``"MarianMTModel"`` -> ``"AutoModelForSeq2SeqLM"``; ``"BertModel"`` -> ``"AutoModel"``."""
    ending = next((e for e in AUTO_CLASS_BY_ENDING if head.endswith(e)), None)
    if ending is not None:
        return AUTO_CLASS_BY_ENDING[ending]
    if "For" in head:
        return "AutoModelFor" + head.split("For", 1)[1]
    return "AutoModel"


def takes_decoder_inputs(case: Case, head: str) -> bool:
    """Encoder-decoder heads need decoder_input_ids; the encoder alone does not."""
    return case.encoder_decoder and auto_class_name(head) != "AutoModelForTextEncoding"


def head_cases() -> list[tuple[Case, str]]:
    return [(case, head) for case in CASES for head in case.heads]
