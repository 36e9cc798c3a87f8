"""workbench.metrics against the libraries evaluate's metric scripts call, and evaluate's documented outputs.

Each metric is compared with its library called directly (scikit-learn, rouge_score, sacrebleu,
jiwer) on varied inputs, and with the example outputs in evaluate's metric cards.
"""

import collections
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from workbench import metrics
from workbench.metrics import MetricError

ROOT = Path(__file__).parents[1]


def random_labels(seed, n, num_classes):
    rng = np.random.RandomState(seed)
    return rng.randint(0, num_classes, size=n), rng.randint(0, num_classes, size=n), rng.rand(n)


# -- loading -------------------------------------------------------------------------------------

def test_every_listed_metric_loads_and_knows_its_name():
    assert metrics.list_metrics() == sorted(["accuracy", "precision", "recall", "f1", "exact_match", "squad",
                                             "rouge", "bleu", "sacrebleu", "wer", "cer"])
    for name in metrics.list_metrics():
        assert metrics.load(name).name == name
    assert metrics.load("evaluate-metric/rouge").name == "rouge"


def test_unknown_metric_lists_the_available_ones_and_suggests_a_close_match():
    with pytest.raises(ValueError, match=r"unknown metric 'acuracy'; did you mean 'accuracy'\?.*bleu, cer"):
        metrics.load("acuracy")
    with pytest.raises(MetricError, match="unknown metric 'perplexity' workbench.metrics has: accuracy"):
        metrics.load("perplexity")


def test_unknown_config_and_options_are_named():
    with pytest.raises(ValueError, match="no config 'nope' \\(configs: default, multilabel\\)"):
        metrics.load("f1", "nope")
    with pytest.raises(ValueError, match="unknown option\\(s\\) 'avg'.*accepts: labels, pos_label, average"):
        metrics.load("f1").compute(predictions=[0], references=[0], avg="macro")
    with pytest.raises(ValueError, match="load\\(\\) got unknown option"):
        metrics.load("accuracy", average="macro")


def test_load_kwargs_are_compute_defaults_and_evaluate_loading_options_are_ignored():
    f1 = metrics.load("f1", average="macro", cache_dir="/nowhere", experiment_id="x", trust_remote_code=True)
    preds, refs = [0, 2, 1, 0, 0, 1], [0, 1, 2, 0, 1, 2]
    assert f1.compute(predictions=preds, references=refs) == pytest.approx({"f1": 0.26666666666666666})
    assert f1.compute(predictions=preds, references=refs, average="micro")["f1"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="does not gather results across processes"):
        metrics.load("accuracy", num_process=2, process_id=1)


def run_python(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_imports_are_lazy():
    assert "workbench.metrics" not in run_python("import workbench; workbench.__version__")
    libraries = {"sklearn", "rouge_score", "sacrebleu", "jiwer", "torch", "transformers"}
    modules = run_python("from workbench import metrics; [metrics.load(n) for n in metrics.list_metrics()]")
    assert {m.split(".")[0] for m in modules} & libraries == set()


def test_a_missing_library_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)  # makes `import sklearn.metrics` fail
    with pytest.raises(ImportError, match="needs the 'scikit-learn' package: pip install scikit-learn"):
        metrics.load("accuracy").compute(predictions=[1], references=[1])
    monkeypatch.setitem(sys.modules, "jiwer", None)
    with pytest.raises(ImportError, match="pip install jiwer .*workbench\\[metrics\\]"):
        metrics.load("wer").compute(predictions=["a"], references=["a"])


# -- accuracy, precision, recall, f1 ---------------------------------------------------------------

def test_classification_documented_outputs():
    refs, preds = [0, 1, 2, 0, 1, 2], [0, 1, 1, 2, 1, 0]
    accuracy = metrics.load("accuracy")
    assert accuracy.compute(references=refs, predictions=preds) == {"accuracy": 0.5}
    assert accuracy.compute(references=refs, predictions=preds, normalize=False) == {"accuracy": 3.0}
    assert accuracy.compute(references=refs, predictions=preds, sample_weight=[0.5, 2, 0.7, 0.5, 9, 0.4]) == {
        "accuracy": 0.8778625954198473}
    f1 = metrics.load("f1")
    assert f1.compute(references=[0, 1, 0, 1, 0], predictions=[0, 0, 1, 1, 0]) == {"f1": 0.5}
    assert round(f1.compute(references=[0, 1, 0, 1, 0], predictions=[0, 0, 1, 1, 0], pos_label=0)["f1"], 2) == 0.67
    per_class = f1.compute(predictions=[0, 2, 1, 0, 0, 1], references=[0, 1, 2, 0, 1, 2], average=None)["f1"]
    np.testing.assert_array_equal(per_class, [0.8, 0.0, 0.0])
    multilabel = metrics.load("f1", "multilabel")
    assert round(multilabel.compute(predictions=[[0, 1, 1], [1, 1, 0]], references=[[0, 1, 1], [0, 1, 0]],
                                    average="macro")["f1"], 2) == 0.67


@pytest.mark.parametrize("seed,num_classes", [(0, 2), (1, 2), (2, 3), (3, 5), (4, 7)])
def test_classification_equals_sklearn(seed, num_classes):
    from sklearn import metrics as skm

    refs, preds, weights = random_labels(seed, 40 + seed, num_classes)
    acc = metrics.load("accuracy")
    assert acc.compute(predictions=preds, references=refs)["accuracy"] == skm.accuracy_score(refs, preds)
    assert acc.compute(predictions=preds, references=refs, normalize=False, sample_weight=weights)["accuracy"] == \
        skm.accuracy_score(refs, preds, normalize=False, sample_weight=weights)
    averages = ["binary", "macro", "micro", "weighted"] if num_classes == 2 else ["macro", "micro", "weighted"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's zero-division warnings on unlucky draws
        for name, fn in [("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)]:
            metric = metrics.load(name)
            for average in averages:
                got = metric.compute(predictions=preds, references=refs, average=average)[name]
                assert type(got) is float and got == fn(refs, preds, average=average)
            if num_classes == 2:
                assert metric.compute(predictions=preds, references=refs, pos_label=0)[name] == \
                    fn(refs, preds, pos_label=0)
            labels = list(range(1, num_classes))
            assert metric.compute(predictions=preds, references=refs, average="macro", labels=labels,
                                  sample_weight=weights)[name] == \
                fn(refs, preds, average="macro", labels=labels, sample_weight=weights)
            np.testing.assert_array_equal(metric.compute(predictions=preds, references=refs, average=None)[name],
                                          fn(refs, preds, average=None))


def test_multilabel_equals_sklearn():
    from sklearn.metrics import f1_score, precision_score

    rng = np.random.RandomState(7)
    refs, preds = rng.randint(0, 2, (30, 4)), rng.randint(0, 2, (30, 4))
    for average in ["macro", "micro", "weighted", "samples"]:
        assert metrics.load("f1", "multilabel").compute(predictions=preds, references=refs, average=average)["f1"] \
            == f1_score(refs, preds, average=average)
    assert metrics.load("precision", config_name="multilabel").compute(
        predictions=preds.tolist(), references=refs.tolist(), average="micro")["precision"] == \
        precision_score(refs, preds, average="micro")
    assert metrics.load("accuracy", "multilabel").compute(predictions=preds, references=refs)["accuracy"] == \
        pytest.approx(float(np.mean((refs == preds).all(1))))


def test_numpy_torch_and_bool_inputs():
    torch = pytest.importorskip("torch")
    acc = metrics.load("accuracy")
    assert acc.compute(predictions=torch.tensor([1, 0, 1]), references=np.array([1, 1, 1]))["accuracy"] == 2 / 3
    assert acc.compute(predictions=[True, False], references=np.array([1.0, 0.0]))["accuracy"] == 1.0
    assert acc.compute(predictions=list(np.array([1, 2])), references=[torch.tensor(1), np.int32(0)])["accuracy"] == 0.5


def test_bad_classification_inputs_are_value_errors():
    acc = metrics.load("accuracy")
    logits = np.array([[0.1, 0.9], [0.8, 0.2]])
    with pytest.raises(ValueError, match="got a sequence of 2.*predictions=logits.argmax\\(-1\\)"):
        acc.compute(predictions=logits, references=[1, 0])
    with pytest.raises(ValueError, match="integer class label, got float 0.7.*argmax"):
        acc.compute(predictions=[0.7, 0.3], references=[1, 0])
    with pytest.raises(ValueError, match="integer class label, got str"):
        acc.compute(predictions=["pos"], references=[1])
    with pytest.raises(ValueError, match="got 3 predictions but 2 references"):
        acc.compute(predictions=[0, 1, 1], references=[0, 1])
    with pytest.raises(ValueError, match="must be a list, tuple or array, got int"):
        acc.compute(predictions=1, references=1)
    with pytest.raises(ValueError, match="nothing to score"):
        acc.compute()
    with pytest.raises(ValueError, match="predictions= and references= together"):
        acc.compute(predictions=[1])
    with pytest.raises(ValueError, match="list of 0/1 label indicators"):
        metrics.load("f1", "multilabel").compute(predictions=[1, 0], references=[1, 0])
    with pytest.raises(ValueError, match="different lengths"):
        metrics.load("f1", "multilabel").compute(predictions=[[1, 0], [1]], references=[[1, 0], [0, 1]],
                                                 average="micro")


def test_add_and_add_batch_accumulate_until_compute():
    from sklearn.metrics import f1_score

    refs, preds, _ = random_labels(11, 50, 3)
    f1 = metrics.load("f1", average="macro")
    for start in range(0, 30, 10):
        f1.add_batch(predictions=preds[start:start + 10], references=refs[start:start + 10])
    for p, r in zip(preds[30:40], refs[30:40]):
        f1.add(prediction=p, reference=r)
    # compute(predictions=...) scores them together with what was added before, as evaluate does
    result = f1.compute(predictions=preds[40:], references=refs[40:])
    assert result["f1"] == f1_score(refs, preds, average="macro")
    with pytest.raises(ValueError, match="nothing to score"):
        f1.compute()  # the buffer was emptied


def test_trainer_compute_metrics_example():
    EvalPrediction = collections.namedtuple("EvalPrediction", ["predictions", "label_ids"])
    rng = np.random.RandomState(3)
    logits, labels = rng.randn(64, 3).astype(np.float32), rng.randint(0, 3, 64)
    clf = metrics.combine(["accuracy", "f1"])

    def compute_metrics(eval_pred):
        logits, labels = eval_pred
        return clf.compute(predictions=logits.argmax(-1), references=labels, average="macro")

    result = compute_metrics(EvalPrediction(logits, labels))
    from sklearn.metrics import accuracy_score, f1_score
    assert result == {"accuracy": accuracy_score(labels, logits.argmax(-1)),
                      "f1": f1_score(labels, logits.argmax(-1), average="macro")}


# -- combine -------------------------------------------------------------------------------------

def test_combine_merges_results_like_evaluate():
    preds, refs = [0, 1, 1, 0], [0, 1, 0, 0]
    clf = metrics.combine(["accuracy", "f1", "precision", "recall"])
    assert clf.compute(predictions=preds, references=refs) == {
        "accuracy": 0.75, "f1": 2 / 3, "precision": 0.5, "recall": 1.0}
    assert metrics.combine(["accuracy", "f1"]).compute(predictions=[0, 1], references=[1, 1]) == {
        "accuracy": 0.5, "f1": 0.6666666666666666}
    assert metrics.combine(["accuracy", "f1"], force_prefix=True).compute(predictions=preds, references=refs) == {
        "accuracy_accuracy": 0.75, "f1_f1": 2 / 3}
    # the same key from two metrics is prefixed; two metrics with one name get a running index
    same = metrics.combine([metrics.load("f1"), metrics.load("f1", pos_label=0)])
    assert same.compute(predictions=preds, references=refs) == {"f1_0_f1": 2 / 3, "f1_1_f1": 0.8}
    named = metrics.combine({"pos": metrics.load("f1"), "neg": metrics.load("f1", pos_label=0)})
    assert named.compute(predictions=preds, references=refs) == {"pos_f1": 2 / 3, "neg_f1": 0.8}
    assert named.name == "pos+neg"


def test_combine_add_batch_and_option_routing():
    clf = metrics.combine(["accuracy", "recall"])
    clf.add_batch(predictions=[0, 1], references=[0, 1])
    clf.add(prediction=0, reference=1)
    assert clf.compute(average="micro") == {"accuracy": 2 / 3, "recall": 2 / 3}
    with pytest.raises(ValueError, match="accepts the option\\(s\\) 'bogus'"):
        clf.compute(predictions=[0], references=[0], bogus=1)


# -- exact_match, squad ----------------------------------------------------------------------------

def test_exact_match_documented_outputs():
    em = metrics.load("exact_match")
    refs, preds = ["the cat", "theater", "YELLING", "agent007"], ["cat?", "theater", "yelling", "agent"]
    assert em.compute(references=refs, predictions=preds)["exact_match"] == 0.25
    assert em.compute(references=refs, predictions=preds, regexes_to_ignore=["the ", "yell"], ignore_case=True,
                      ignore_punctuation=True)["exact_match"] == 0.5
    assert em.compute(references=refs, predictions=preds, regexes_to_ignore=["the ", "yell", "YELL"],
                      ignore_case=True, ignore_punctuation=True)["exact_match"] == 0.75
    assert em.compute(references=refs, predictions=preds, regexes_to_ignore=["the ", "yell", "YELL"],
                      ignore_case=True, ignore_punctuation=True, ignore_numbers=True)["exact_match"] == 1.0
    refs = ["The cat sat on the mat.", "Theaters are great.", "It's like comparing oranges and apples."]
    preds = ["The cat sat on the mat?", "Theaters are great.", "It's like comparing apples and oranges."]
    assert round(em.compute(references=refs, predictions=preds)["exact_match"], 2) == 0.33
    with pytest.raises(ValueError, match="each prediction must be a str, got int"):
        em.compute(predictions=[1], references=["1"])


def test_squad_documented_output_and_official_normalisation():
    squad = metrics.load("squad")
    preds = [{"prediction_text": "1976", "id": "56e10a3be3433e1400422b22"}]
    refs = [{"answers": {"answer_start": [97], "text": ["1976"]}, "id": "56e10a3be3433e1400422b22"}]
    assert squad.compute(predictions=preds, references=refs) == {"exact_match": 100.0, "f1": 100.0}

    preds = [{"id": "a", "prediction_text": "The Denver Broncos!"},
             {"id": "b", "prediction_text": "in the year 1976"},
             {"id": "c", "prediction_text": "Paris France"}]
    refs = [{"id": "b", "answers": {"text": ["1976", "year 1976"], "answer_start": [0, 0]}},
            {"id": "a", "answers": {"text": ["Denver Broncos"], "answer_start": [0]}},
            {"id": "c", "answers": [{"text": "London", "answer_start": 3}]}]
    # a: exact after normalisation; b: best of its answers, F1 2*(2/3*1)/(2/3+1) = 0.8; c: no overlap
    result = squad.compute(predictions=preds, references=refs)
    assert result == pytest.approx({"exact_match": 100 / 3, "f1": 100 * 1.8 / 3})
    assert metrics.text_match.normalize_squad_answer("  The  Cat's   an animal. ") == "cats animal"


def test_squad_missing_prediction_scores_zero_and_bad_inputs_are_named():
    squad = metrics.load("squad")
    preds = [{"id": "a", "prediction_text": "x"}, {"id": "zzz", "prediction_text": "y"}]
    refs = [{"id": "a", "answers": {"text": ["x"]}}, {"id": "b", "answers": {"text": ["y"]}}]
    with pytest.warns(UserWarning, match="1 question\\(s\\) have no prediction.*'b'"):
        assert squad.compute(predictions=preds, references=refs) == {"exact_match": 50.0, "f1": 50.0}
    with pytest.raises(ValueError, match="dict with keys \\('id', 'prediction_text'\\)"):
        squad.compute(predictions=["1976"], references=refs[:1])
    with pytest.raises(ValueError, match="no answer text"):
        squad.compute(predictions=preds[:1], references=[{"id": "a", "answers": {"text": []}}])


# -- rouge ---------------------------------------------------------------------------------------

SUMMARIES = [
    ("the cat sat on the mat", "the cat was sitting on the mat"),
    ("police killed the gunman", "the gunman was shot down by police"),
    ("running runners ran quickly", "the runner runs quick"),
    ("First sentence here.\nSecond one follows.", "first sentence.\nsecond follows here too."),
    ("completely different words", "nothing in common at all"),
    ("a b c d e f g", "a c e g b d f"),
]


def test_rouge_documented_output():
    rouge = metrics.load("rouge")
    assert rouge.compute(predictions=["hello there", "general kenobi"], references=["hello there", "general kenobi"]) \
        == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "rougeLsum": 1.0}


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score(use_stemmer):
    from rouge_score import rouge_scorer, scoring

    preds, refs = [p for p, _ in SUMMARIES], [r for _, r in SUMMARIES]
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=use_stemmer)
    direct = [scorer.score(r, p) for p, r in zip(preds, refs)]
    rouge = metrics.load("rouge", use_stemmer=use_stemmer)

    per_example = rouge.compute(predictions=preds, references=refs, use_aggregator=False)
    assert per_example == {t: [s[t].fmeasure for s in direct] for t in types}

    aggregator = scoring.BootstrapAggregator()
    for score in direct:
        aggregator.add_scores(score)
    np.random.seed(0)
    expected = {t: a.mid.fmeasure for t, a in aggregator.aggregate().items()}
    np.random.seed(0)  # the bootstrap draws from numpy's global state, in evaluate as here
    assert rouge.compute(predictions=preds, references=refs) == expected


def test_rouge_multi_reference_types_and_tokenizer():
    from rouge_score import rouge_scorer

    preds = ["the quick brown fox", "hello world"]
    refs = [["a quick brown dog", "the quick red fox"], ["hello there world"]]
    scorer = rouge_scorer.RougeScorer(["rouge2", "rougeL"])
    got = metrics.load("rouge").compute(predictions=preds, references=refs, rouge_types=["rouge2", "rougeL"],
                                        use_aggregator=False)
    assert got == {t: [scorer.score_multi(r, p)[t].fmeasure for p, r in zip(preds, refs)] for t in ["rouge2", "rougeL"]}
    # a custom tokenizer keeps non-ASCII text that rouge_score's default tokenizer would drop
    chars = metrics.load("rouge").compute(predictions=["日本語"], references=["日本人"], rouge_types=["rouge1"],
                                          tokenizer=list, use_aggregator=False)
    assert chars == {"rouge1": [pytest.approx(2 / 3)]}
    with pytest.raises(ValueError, match="each reference must be a str"):
        metrics.load("rouge").compute(predictions=["a"], references=[[1]])


# -- bleu, sacrebleu -------------------------------------------------------------------------------

TRANSLATIONS = [
    ("The cat is on the mat.", ["The cat sits on the mat.", "There is a cat on the mat."]),
    ("It is a guide to action which ensures that the military always obeys the commands of the party.",
     ["It is a guide to action that ensures that the military will forever heed Party commands.",
      "It is the guiding principle which guarantees the military forces always being under the command of the Party."]),
    ("he read the book because he was interested in world history",
     ["he was interested in world history because he read the book", "he read a book about world history"]),
    ("Hello, world! (1,000 people) - it's 3.5-ish; \"quoted\" & more",
     ["Hello world, 1,000 people -- it is 3.5ish; 'quoted' & more", "hello , world !"]),
]


def test_bleu_documented_outputs():
    bleu = metrics.load("bleu")
    predictions = ["hello there general kenobi", "foo bar foobar"]
    assert bleu.compute(predictions=predictions, references=[["hello there general kenobi", "hello there !"],
                                                             ["foo bar foobar"]]) == {
        "bleu": 1.0, "precisions": [1.0, 1.0, 1.0, 1.0], "brevity_penalty": 1.0,
        "length_ratio": 1.1666666666666667, "translation_length": 7, "reference_length": 6}
    assert bleu.compute(predictions=predictions, references=["hello there general kenobi", "foo bar foobar"]) == {
        "bleu": 1.0, "precisions": [1.0, 1.0, 1.0, 1.0], "brevity_penalty": 1.0, "length_ratio": 1.0,
        "translation_length": 7, "reference_length": 7}


def test_bleu_equals_sacrebleu_where_their_definitions_agree():
    """With one reference per sentence, unsmoothed, 13a-tokenised, sacrebleu's BLEU/100 is evaluate's bleu."""
    import sacrebleu

    bleu = metrics.load("bleu")
    for first in range(len(TRANSLATIONS)):
        preds = [p for p, _ in TRANSLATIONS[first:]]
        refs = [r[0] for _, r in TRANSLATIONS[first:]]
        direct = sacrebleu.corpus_bleu(preds, [refs], smooth_method="none", tokenize="13a")
        got = bleu.compute(predictions=preds, references=refs)
        assert got["bleu"] == pytest.approx(direct.score / 100, abs=1e-12)
        assert got["precisions"] == pytest.approx([p / 100 for p in direct.precisions])
        assert got["brevity_penalty"] == pytest.approx(direct.bp)
        assert (got["translation_length"], got["reference_length"]) == (direct.sys_len, direct.ref_len)


def test_bleu_multi_reference_uses_the_shortest_reference_and_clips_by_the_best_one():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tok = Tokenizer13a()
    preds, refs = [p for p, _ in TRANSLATIONS], [r for _, r in TRANSLATIONS]
    got = metrics.load("bleu").compute(predictions=preds, references=refs, max_order=2)
    hyps = [tok(p).split() for p in preds]
    ref_toks = [[tok(r).split() for r in rs] for rs in refs]
    assert got["translation_length"] == sum(map(len, hyps))
    assert got["reference_length"] == sum(min(map(len, rs)) for rs in ref_toks)
    for n in (1, 2):  # clipped n-gram precision, written out independently
        matched = total = 0
        for hyp, rs in zip(hyps, ref_toks):
            grams = collections.Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            for gram, count in grams.items():
                matched += min(count, max(sum(tuple(r[i:i + n]) == gram for i in range(len(r) - n + 1)) for r in rs))
            total += max(len(hyp) - n + 1, 0)
        assert got["precisions"][n - 1] == pytest.approx(matched / total)
    ratio = got["translation_length"] / got["reference_length"]
    assert got["brevity_penalty"] == (1.0 if ratio > 1 else pytest.approx(np.exp(1 - 1 / ratio)))
    assert got["bleu"] == pytest.approx(np.sqrt(np.prod(got["precisions"])) * got["brevity_penalty"])


def test_bleu_smoothing_tokenizer_and_empty_cases():
    bleu = metrics.load("bleu")
    got = bleu.compute(predictions=["a b c"], references=["a b d"], smooth=True)
    # add-one on every order: (2+1)/(3+1), (1+1)/(2+1), (0+1)/(1+1), (0+1)/(0+1)
    assert got["precisions"] == [0.75, 2 / 3, 0.5, 1.0]
    assert got["bleu"] == pytest.approx((0.75 * 2 / 3 * 0.5) ** 0.25)
    assert bleu.compute(predictions=["a b c"], references=["a b d"])["bleu"] == 0.0
    assert bleu.compute(predictions=["x"], references=["a b"], tokenizer=str.split)["length_ratio"] == 0.5
    assert bleu.compute(predictions=[""], references=["a"])["brevity_penalty"] == 0.0


def to_streams(refs):
    return [list(stream) for stream in zip(*refs)]


@pytest.mark.parametrize("options", [
    {},
    {"smooth_method": "none"},
    {"smooth_method": "floor", "smooth_value": 0.2},
    {"smooth_method": "add-k", "smooth_value": 1},
    {"tokenize": "intl", "lowercase": True},
    {"tokenize": "char"},
    {"tokenize": "none", "use_effective_order": True},
])
def test_sacrebleu_equals_corpus_bleu(options):
    import sacrebleu

    preds, refs = [p for p, _ in TRANSLATIONS], [r for _, r in TRANSLATIONS]
    direct = sacrebleu.corpus_bleu(preds, to_streams(refs), **options)
    got = metrics.load("sacrebleu").compute(predictions=preds, references=refs, **options)
    assert got == {"score": direct.score, "counts": direct.counts, "totals": direct.totals,
                   "precisions": direct.precisions, "bp": direct.bp, "sys_len": direct.sys_len,
                   "ref_len": direct.ref_len}


def test_sacrebleu_documented_outputs_and_errors():
    sb = metrics.load("sacrebleu")
    result = sb.compute(predictions=["hello there general kenobi", "foo bar foobar"],
                        references=[["hello there general kenobi", "hello there !"],
                                    ["foo bar foobar", "foo bar foobar"]])
    assert list(result) == ["score", "counts", "totals", "precisions", "bp", "sys_len", "ref_len"]
    assert round(result["score"], 1) == 100.0
    result = sb.compute(predictions=["hello there general kenobi", "on our way to ankh morpork"],
                        references=[["hello there general kenobi", "hello there !"],
                                    ["goodbye ankh morpork", "ankh morpork"]])
    assert round(result["score"], 1) == 39.8
    with pytest.raises(ValueError, match="same number of references for every prediction, got counts \\[1, 2\\]"):
        sb.compute(predictions=["a", "b"], references=[["a"], ["b", "c"]])
    with pytest.raises(ValueError, match="reference list is empty"):
        sb.compute(predictions=["a"], references=[[]])


# -- wer, cer --------------------------------------------------------------------------------------

SPEECH = [
    ("this is the prediction", "this is the reference"),
    ("there is an other sample", "there is another one"),
    ("  extra   spaces here ", "extra spaces here"),
    ("completely", "nothing alike in this one"),
    ("the quick brown fox jumps over the lazy dog", "the quick brown fox jumped over a lazy dog"),
]


def test_wer_cer_documented_outputs():
    preds = ["this is the prediction", "there is an other sample"]
    refs = ["this is the reference", "there is another one"]
    assert metrics.load("wer").compute(predictions=preds, references=refs) == {"wer": 0.5}
    assert metrics.load("cer").compute(predictions=preds, references=refs) == {"cer": 0.34146341463414637}


@pytest.mark.parametrize("name", ["wer", "cer"])
def test_wer_cer_equal_jiwer(name):
    import jiwer

    direct = getattr(jiwer, name)
    preds, refs = [p for p, _ in SPEECH], [r for _, r in SPEECH]
    metric = metrics.load(name)
    for first in range(len(SPEECH)):
        expected = direct(refs[first:], preds[first:])
        assert metric.compute(predictions=preds[first:], references=refs[first:])[name] == pytest.approx(expected)
        assert metric.compute(predictions=preds[first:], references=refs[first:], concatenate_texts=True)[name] == \
            pytest.approx(expected)
    assert metric.compute(predictions=["a b"], references=["a b"]) == {name: 0.0}
    with pytest.raises(ValueError, match="each prediction must be a str, got NoneType"):
        metric.compute(predictions=[None], references=["a"])
