"""Model cards: the same tiny run trained by the reference Trainer and by workbench's, each drafting its
card with the same arguments; the metadata the Hub reads, the hyperparameters and the results table agree."""

import re

import numpy as np
import pytest

from tests.training.tiny import TINY_BERT, tiny_dataset, tiny_model
from workbench import Trainer, TrainingArguments
from workbench.model_card import parse_model_card
from workbench.model_card_write import build_model_card, markdown_table, parse_log_history, save_model_card

transformers = pytest.importorskip("transformers")
huggingface_hub = pytest.importorskip("huggingface_hub")
pytestmark = pytest.mark.usefixtures("one_thread")

OPTIONS = dict(per_device_train_batch_size=4, per_device_eval_batch_size=4, learning_rate=1e-3, max_steps=4,
               eval_strategy="steps", eval_steps=2, logging_steps=1, save_strategy="no", seed=7, disable_tqdm=True,
               use_cpu=True, report_to="none")
CARD_ARGS = [  # (name, create_model_card keyword arguments): named datasets and task; then everything inferred
    ("named", dict(language="en", license="mit", tags=["tiny"], finetuned_from="bert-base-uncased",
                   tasks="text-classification", dataset_tags="glue", dataset="GLUE", dataset_args="sst2")),
    ("inferred", dict(license="apache-2.0")),
]


def accuracy(prediction):
    logits, labels = prediction
    return {"accuracy": float((np.argmax(logits, -1) == labels).mean())}


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    """{case: (our card, the reference's card)} as huggingface_hub's ModelCard.load reads them."""
    train, evaluation = tiny_dataset(16), tiny_dataset(8, seed=1)
    ours_model = tiny_model()
    reference_model = transformers.BertForSequenceClassification(transformers.BertConfig(**TINY_BERT))
    reference_model.load_state_dict(ours_model.state_dict())
    base = tmp_path_factory.mktemp("cards")
    ours = Trainer(model=ours_model, args=TrainingArguments(output_dir=str(base / "ours" / "tiny-run"), **OPTIONS),
                   train_dataset=train, eval_dataset=evaluation, compute_metrics=accuracy)
    reference_args = transformers.TrainingArguments(output_dir=str(base / "ref" / "tiny-run"), **OPTIONS)
    reference = transformers.Trainer(model=reference_model, args=reference_args, train_dataset=train,
                                     eval_dataset=evaluation, compute_metrics=accuracy)
    ours.train()
    reference.train()
    found = {}
    for name, kwargs in CARD_ARGS:
        pair = []
        for trainer in (ours, reference):
            trainer.create_model_card(**{k: list(v) if isinstance(v, list) else v for k, v in kwargs.items()})
            pair.append(huggingface_hub.ModelCard.load(f"{trainer.args.output_dir}/README.md"))
        found[name] = tuple(pair)
    return found


def section_items(text: str, heading: str) -> dict[str, str]:
    """``- key: value`` lines under a ``### heading``."""
    block = text.split(f"### {heading}", 1)[1].split("\n#", 1)[0]
    return dict(re.findall(r"^- ([^:\n]+): (.*)$", block, flags=re.M))


def reference_hyperparameters(items: dict) -> dict:
    """The reference's optimizer line names the enum member (``OptimizerNames.ADAMW_TORCH_FUSED``, Python 3.11's
    f-string of a str Enum); ours names the value (``adamw_torch_fused``), as TrainingArguments spells it."""
    if "optimizer" in items:
        items["optimizer"] = re.sub(r"OptimizerNames\.(\w+)", lambda m: m.group(1).lower(), items["optimizer"])
    return items


def results_table(text: str) -> list[dict[str, str]]:
    """The rows of the Training results table, as {column: cell}."""
    lines = [line for line in text.split("### Training results", 1)[1].splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]


@pytest.mark.parametrize("case", [name for name, _ in CARD_ARGS])
def test_metadata_matches_reference(cards, case):
    """Same YAML as the reference's card, plus pipeline_tag (the task) which the reference leaves out.
    Result values (metric, losses) agree to float noise: the two loops train the same weights on the same data."""
    ours, reference = cards[case]
    ours_meta, reference_meta = ours.data.to_dict(), reference.data.to_dict()
    assert ours_meta.pop("pipeline_tag") == "text-classification"
    if not reference_meta["model-index"][0]["results"]:  # an index with no complete result: huggingface_hub omits it
        assert "model-index" not in ours_meta
        reference_meta.pop("model-index")
    else:
        ours_value = ours_meta["model-index"][0]["results"][0]["metrics"][0].pop("value")
        reference_value = reference_meta["model-index"][0]["results"][0]["metrics"][0].pop("value")
        assert ours_value == pytest.approx(reference_value, abs=1e-6)
        # the reference takes an in-memory datasets.Dataset (no builder) for a Hub one and writes split: 'None'
        if reference_meta["model-index"][0]["results"][0]["dataset"].get("split") == "None":
            reference_meta["model-index"][0]["results"][0]["dataset"].pop("split")
    if case == "inferred":  # written over the "named" card: its tags are kept (the reference keeps them only
        assert ours_meta.pop("tags") == ["tiny", "generated_from_trainer"]  # when tags= is given)
        reference_meta.pop("tags")
    assert ours_meta == reference_meta
    assert ours.data.library_name == "transformers" and "generated_from_trainer" in ours.data.tags


@pytest.mark.parametrize("case", [name for name, _ in CARD_ARGS])
def test_hyperparameters_and_results_table_match_reference(cards, case):
    ours, reference = cards[case]
    assert section_items(ours.text, "Training hyperparameters") == reference_hyperparameters(
        section_items(reference.text, "Training hyperparameters"))
    ours_rows, reference_rows = results_table(ours.text), results_table(reference.text)
    assert [sorted(row) for row in ours_rows] == [sorted(row) for row in reference_rows]
    assert len(ours_rows) == 2  # an evaluation at steps 2 and 4
    for mine, theirs in zip(ours_rows, reference_rows):
        assert (mine["Epoch"], mine["Step"]) == (theirs["Epoch"], theirs["Step"])
        for key in ("Training Loss", "Validation Loss", "Accuracy"):
            assert float(mine[key]) == pytest.approx(float(theirs[key]), abs=2e-4)  # 4 decimals shown
    versions = re.findall(r"^- (\w+) \S+$", ours.text.split("### Framework versions", 1)[1], flags=re.M)
    assert versions == ["Workbench", "Pytorch", "Datasets", "Tokenizers"]


@pytest.mark.parametrize("options", [
    dict(gradient_accumulation_steps=2, warmup_steps=3, num_train_epochs=2, label_smoothing_factor=0.1, optim="sgd"),
    dict(per_device_eval_batch_size=16, max_steps=5, lr_scheduler_type="cosine", optim="adamw_torch"),
])
def test_hyperparameters_match_reference(tmp_path, options):
    """Accumulation, totals, warmup, epochs or steps, label smoothing, optimizer lines: the reference's list."""
    from transformers.modelcard import extract_hyperparameters_from_trainer

    from workbench.model_card_write import training_hyperparameters

    common = dict(output_dir=str(tmp_path), use_cpu=True, report_to="none", **options)
    model = transformers.BertForSequenceClassification(transformers.BertConfig(**TINY_BERT))
    reference = transformers.Trainer(model=model, args=transformers.TrainingArguments(**common))
    assert training_hyperparameters(TrainingArguments(**common)) == reference_hyperparameters(
        extract_hyperparameters_from_trainer(reference))


def test_card_reads_back_in_workbench_and_huggingface_hub(tmp_path):
    """A hand-built card: the metadata given is what huggingface_hub's loader and the model picker's parser read."""
    from huggingface_hub import EvalResult

    result = EvalResult(task_type="text-classification", dataset_type="imdb", dataset_name="IMDb",
                        metric_type="accuracy", metric_value=0.9)
    card = build_model_card("tiny-bert", base_model="bert-base-uncased", license="mit", language=["en", "fr"],
                            tags=["tiny", "bert"], datasets="imdb", metrics=["accuracy"],
                            pipeline_tag="text-classification", eval_results=[result], text="\nA tiny BERT.\n")
    path = save_model_card(card, tmp_path)
    loaded = huggingface_hub.ModelCard.load(path)
    assert (loaded.data.base_model, loaded.data.license, loaded.data.language, loaded.data.library_name) == (
        "bert-base-uncased", "mit", ["en", "fr"], "transformers")
    assert (loaded.data.tags, loaded.data.datasets, loaded.data.metrics, loaded.data.pipeline_tag) == (
        ["tiny", "bert"], ["imdb"], ["accuracy"], "text-classification")
    assert loaded.data.eval_results[0].metric_value == 0.9 and loaded.data.model_name == "tiny-bert"
    picker = parse_model_card(open(path, encoding="utf-8").read())
    assert (picker.license, picker.tags, picker.description) == ("mit", ["tiny", "bert"], "A tiny BERT.")
    assert not [p for p in tmp_path.iterdir() if p.name != "README.md"]  # written by one rename, no temp left


def test_log_history_parsing_matches_reference():
    """Edge cases of the results table: no training loss logged yet, extra metrics, timing keys dropped."""
    from transformers.modelcard import make_markdown_table
    from transformers.modelcard import parse_log_history as reference_parse

    history = [{"eval_loss": 0.9, "eval_f1_macro": 0.25, "eval_runtime": 1.0, "epoch": 0.5, "step": 1},
               {"loss": 0.81234567, "epoch": 1.0, "step": 2},
               {"eval_loss": 0.7, "eval_f1_macro": 0.5, "eval_samples_per_second": 3.0, "epoch": 1.0, "step": 2},
               {"train_runtime": 2.0, "train_loss": 0.8, "epoch": 1.0, "step": 2}]
    assert parse_log_history(history) == reference_parse(history)
    assert markdown_table(parse_log_history(history)[1]) == make_markdown_table(reference_parse(history)[1])
    evaluated_only = [{"eval_loss": 0.5, "epoch": 0, "step": 0}]
    assert parse_log_history(evaluated_only) == reference_parse(evaluated_only)
