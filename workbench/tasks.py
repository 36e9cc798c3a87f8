"""The task table: every task workbench knows, in one place.

Each :class:`Task` names the Auto class its models load with, the pipeline that serves it (a
module under ``workbench.pipelines`` and a class in it; None for a head without a pipeline) and
the checkpoint ``pipeline(task)`` uses when no model is given. ``ALIASES`` maps the other names
the reference accepts; :func:`task_for_class` reads the task off a model class name
(``LlamaForCausalLM`` -> text-generation). ``pipeline()``, the zoo, the model catalog, the
widgets and the Trainer all read this module, which imports nothing of workbench (so any layer
may use it).

>>> from workbench.tasks import TASKS, resolve_task, task_for_class
>>> resolve_task("sentiment-analysis")
('text-classification', {})
>>> TASKS["text-classification"].auto_class
'AutoModelForSequenceClassification'
>>> task_for_class("GPT2LMHeadModel")
'text-generation'
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Default:
    """A default checkpoint and its ``model_type``, declared so that a test can check, without a
    download, that workbench loads its family."""

    model: str
    model_type: str


@dataclass(frozen=True)
class Task:
    name: str
    auto_class: str  # the name of the Auto class in workbench.auto
    pipeline_module: str | None = None  # under workbench.pipelines; None: a model head without a pipeline
    pipeline_class: str | None = None
    default: Default | None = None
    # what pipeline() loads beside the model (from the model's folder unless given): "tokenizer",
    # "feature_extractor" (audio), "image_processor" (images)
    loads: tuple[str, ...] = ("tokenizer",)
    # further Auto classes tried, in order, for a model the first cannot load (speech recognition serves
    # CTC models and speech encoder-decoders, as the reference's task does)
    other_auto_classes: tuple[str, ...] = ()

    @property
    def default_model(self) -> str | None:
        return self.default.model if self.default is not None else None

    @property
    def audio(self) -> bool:
        return "feature_extractor" in self.loads


TEXT, AUDIO, IMAGE, IMAGE_TEXT = ("tokenizer",), ("tokenizer", "feature_extractor"), ("image_processor",), \
    ("image_processor", "tokenizer")


def _task(name: str, auto_class: str, module: str | None = None, cls: str | None = None,
          default: tuple[str, str] | None = None, loads: tuple[str, ...] = TEXT,
          other_auto_classes: tuple[str, ...] = ()) -> tuple[str, Task]:
    return name, Task(name, auto_class, module, cls, Default(*default) if default else None, loads, other_auto_classes)


# Defaults are the reference's, except where its family does not load in workbench (said beside).
TASKS: dict[str, Task] = dict([
    _task("feature-extraction", "AutoModel", "feature_extraction", "FeatureExtractionPipeline",
          ("distilbert/distilbert-base-cased", "distilbert")),
    _task("text-classification", "AutoModelForSequenceClassification", "text_classification",
          "TextClassificationPipeline", ("distilbert/distilbert-base-uncased-finetuned-sst-2-english", "distilbert")),
    _task("token-classification", "AutoModelForTokenClassification", "token_classification",
          "TokenClassificationPipeline", ("dbmdz/bert-large-cased-finetuned-conll03-english", "bert")),
    # the reference dropped this task in 5.0; its 4.x default
    _task("question-answering", "AutoModelForQuestionAnswering", "question_answering", "QuestionAnsweringPipeline",
          ("distilbert/distilbert-base-cased-distilled-squad", "distilbert")),
    _task("fill-mask", "AutoModelForMaskedLM", "fill_mask", "FillMaskPipeline",
          ("distilbert/distilroberta-base", "roberta")),
    _task("zero-shot-classification", "AutoModelForSequenceClassification", "zero_shot_classification",
          "ZeroShotClassificationPipeline", ("facebook/bart-large-mnli", "bart")),
    _task("text-generation", "AutoModelForCausalLM", "text_generation", "TextGenerationPipeline",
          ("HuggingFaceTB/SmolLM3-3B", "smollm3")),
    # the reference dropped these three in 5.0; their 4.x defaults
    _task("text2text-generation", "AutoModelForSeq2SeqLM", "text2text_generation", "Text2TextGenerationPipeline",
          ("google-t5/t5-base", "t5")),
    _task("summarization", "AutoModelForSeq2SeqLM", "text2text_generation", "SummarizationPipeline",
          ("sshleifer/distilbart-cnn-12-6", "bart")),
    _task("translation", "AutoModelForSeq2SeqLM", "text2text_generation", "TranslationPipeline",
          ("google-t5/t5-base", "t5")),
    _task("automatic-speech-recognition", "AutoModelForCTC", "automatic_speech_recognition",
          "AutomaticSpeechRecognitionPipeline", ("facebook/wav2vec2-base-960h", "wav2vec2"), loads=AUDIO,
          other_auto_classes=("AutoModelForSpeechSeq2Seq",)),
    # any AutoModelForAudioClassification model (AST, Wav2Vec2ForSequenceClassification, ...) with its feature extractor
    _task("audio-classification", "AutoModelForAudioClassification", "audio_classification",
          "AudioClassificationPipeline", ("superb/wav2vec2-base-superb-ks", "wav2vec2"), loads=("feature_extractor",)),
    _task("image-classification", "AutoModelForImageClassification", "image_classification",
          "ImageClassificationPipeline", ("google/vit-base-patch16-224", "vit"), loads=IMAGE),
    _task("image-feature-extraction", "AutoModel", "image_feature_extraction", "ImageFeatureExtractionPipeline",
          ("google/vit-base-patch16-224", "vit"), loads=IMAGE),
    _task("zero-shot-image-classification", "AutoModelForZeroShotImageClassification",
          "zero_shot_image_classification", "ZeroShotImageClassificationPipeline",
          ("openai/clip-vit-base-patch32", "clip"), loads=IMAGE_TEXT),
    _task("zero-shot-audio-classification", "AutoModel", "zero_shot_audio_classification",
          "ZeroShotAudioClassificationPipeline", ("laion/clap-htsat-fused", "clap"), loads=AUDIO),
    # the reference dropped these two in 5.0: image-to-text keeps its 4.x default; 4.x's VQA default,
    # dandelin/vilt-b32-finetuned-vqa (model_type vilt, not in workbench), is replaced by BLIP's VQA model
    _task("image-to-text", "AutoModelForImageTextToText", "image_to_text", "ImageToTextPipeline",
          ("ydshieh/vit-gpt2-coco-en", "vision-encoder-decoder"), loads=IMAGE_TEXT),
    _task("visual-question-answering", "AutoModelForVisualQuestionAnswering", "image_to_text",
          "VisualQuestionAnsweringPipeline", ("Salesforce/blip-vqa-base", "blip"), loads=IMAGE_TEXT),
    _task("object-detection", "AutoModelForObjectDetection", "object_detection", "ObjectDetectionPipeline",
          ("facebook/detr-resnet-50", "detr"), loads=IMAGE),
    # the reference's default, facebook/detr-resnet-50-panoptic, is a panoptic model, which workbench's pipeline
    # does not serve (semantic segmentation only): SegFormer-B0 on ADE20K, the reference's usual semantic example
    _task("image-segmentation", "AutoModelForSemanticSegmentation", "image_segmentation", "ImageSegmentationPipeline",
          ("nvidia/segformer-b0-finetuned-ade-512-512", "segformer"), loads=IMAGE),
    _task("multiple-choice", "AutoModelForMultipleChoice"),  # a head without a pipeline
])
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}
PIPELINE_TASKS = {name: task for name, task in TASKS.items() if task.pipeline_module is not None}

# Model class name ending -> task, first match wins ("Model" comes last: "GPT2LMHeadModel" ends so too).
CLASS_SUFFIXES = (
    ("ForCausalLM", "text-generation"), ("LMHeadModel", "text-generation"),
    ("ForSequenceClassification", "text-classification"), ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"), ("ForMaskedLM", "fill-mask"),
    ("ForMultipleChoice", "multiple-choice"), ("ForImageClassification", "image-classification"),
    ("ForObjectDetection", "object-detection"), ("ForSemanticSegmentation", "image-segmentation"),
    ("ForSpeechSeq2Seq", "automatic-speech-recognition"), ("ForCTC", "automatic-speech-recognition"),
    ("ForAudioClassification", "audio-classification"),
    ("ForConditionalGeneration", "text2text-generation"), ("MTModel", "text2text-generation"),
    ("Model", "feature-extraction"),
)
# classes whose name says nothing of the task (checked before the endings): image towers and image-text models
CLASS_TASKS = {
    "ViTModel": "image-feature-extraction", "DeiTModel": "image-feature-extraction",
    "Dinov2Model": "image-feature-extraction", "CLIPVisionModel": "image-feature-extraction",
    "SiglipVisionModel": "image-feature-extraction",
    "CLIPModel": "zero-shot-image-classification", "SiglipModel": "zero-shot-image-classification",
    "BlipModel": "zero-shot-image-classification",
    "VisionEncoderDecoderModel": "image-to-text", "BlipForConditionalGeneration": "image-to-text",
    "BlipForQuestionAnswering": "visual-question-answering", "ClapModel": "zero-shot-audio-classification",
    # speech encoders' sequence classifiers classify audio (AutoModelForAudioClassification), not text
    **{f"{family}ForSequenceClassification": "audio-classification" for family in ("Wav2Vec2", "Hubert", "WavLM")},
}
# families whose ...ForConditionalGeneration transcribes audio rather than text
SPEECH_MODEL_TYPES = ("whisper",)


def resolve_task(task: str) -> tuple[str, dict]:
    """A task name or alias -> (the task, its parameters): ``"sentiment-analysis"`` ->
    ``("text-classification", {})``; ``"translation_en_to_fr"`` keeps its languages. Only tasks
    with a pipeline resolve; an unknown name raises ``KeyError`` naming the closest known one."""
    if task.startswith("translation_"):
        source, _, target = task.removeprefix("translation_").partition("_to_")
        return "translation", {"src_lang": source, "tgt_lang": target}
    name = ALIASES.get(task, task)
    if name not in PIPELINE_TASKS:
        known = sorted(PIPELINE_TASKS) + sorted(ALIASES)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"Unknown task {task!r}.{hint} Supported tasks: {', '.join(known)}.")
    return name, {}


def task_for_class(name: str | None) -> str | None:
    """The task a model class (or a config's ``architectures`` entry) is built for, or None."""
    if not name:
        return None
    if name in CLASS_TASKS:
        return CLASS_TASKS[name]
    if name.endswith("ForConditionalGeneration") and name.lower().startswith(SPEECH_MODEL_TYPES):
        return "automatic-speech-recognition"
    return next((task for suffix, task in CLASS_SUFFIXES if name.endswith(suffix)), None)


def infer_task(model) -> str:
    """The pipeline task of a model (an instance or a class name): ``...ForCausalLM`` -> text-generation."""
    name = model if isinstance(model, str) else type(model).__name__
    task = task_for_class(name)
    if task not in PIPELINE_TASKS:
        raise ValueError(f"Cannot tell which task {name} is for: pass task= "
                         f"(one of {', '.join(sorted(PIPELINE_TASKS))}).")
    return task


def auto_class_name(task: str | None) -> str:
    """The Auto class a task's models load with (``AutoModel`` for None or an unknown task)."""
    spec = TASKS.get(ALIASES.get(task or "", task or ""))
    return spec.auto_class if spec is not None else "AutoModel"


__all__ = ["ALIASES", "CLASS_SUFFIXES", "CLASS_TASKS", "Default", "PIPELINE_TASKS", "TASKS", "Task", "auto_class_name",
           "infer_task", "resolve_task", "task_for_class"]
