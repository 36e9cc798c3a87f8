"""The parameter contract, over every family of tests/model_registry.py: whatever ran before (an
evaluation under ``no_grad``, ``generate()``, ``to(dtype)``, ``eval()``/``train()``, hooks,
``torch.compile``), the parameters an optimizer holds are the ones the model computes with.

The truth each test checks against is the optimizer's own list and the model's own gradient path:
every parameter of the module tree is (by identity) one the optimizer steps, every trainable one
that received a gradient moved, and afterwards a forward without gradients (the fused inference
path) gives the outputs of a forward with gradients (the separate modules).
"""

from __future__ import annotations

import copy
import threading

import pytest
import torch
from torch import nn

import workbench
from workbench.auto import class_for_architecture

from image_inputs import build_inputs, top_level_tensors, whole_output
from model_registry import CASES, auto_class_name

# one head per case: the language-model head where there is one (it is the one that generates)
PREFERRED = ("AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoModelForSpeechSeq2Seq", "AutoModelForMaskedLM")


def pick_head(case) -> str:
    def rank(head: str) -> int:
        name = auto_class_name(head)
        return PREFERRED.index(name) if name in PREFERRED else len(PREFERRED)

    return min(case.heads, key=rank)


def build(case):
    head = pick_head(case)
    config = dict(case.config)
    if head.endswith("ForQuestionAnswering"):
        config["num_labels"] = 2
    torch.manual_seed(0)
    model = class_for_architecture(head).from_config(workbench.AutoConfig.for_model(case.model_type, **config))
    return model.train(), head


def batch(case, model, seed=0) -> dict[str, torch.Tensor]:
    """Two rows of 6 tokens (ids from 3 up: no special token by chance) and labels for the head's loss;
    a speech case gets random log-mel ``input_features`` for its encoder and the tokens as labels."""
    if case.inputs != "text":  # image cases: their kind's inputs; a classifier's labels
        inputs = {k: v.to(model.dtype) if v.is_floating_point() else v
                  for k, v in build_inputs(case, type(model).__name__, seed=seed).items()}
        if type(model).__name__.endswith("ForImageClassification"):
            inputs["labels"] = torch.tensor([0, 1])
        return inputs
    generator = torch.Generator().manual_seed(seed)
    config = case.config
    vocab = min(config["vocab_size"], config.get("decoder_vocab_size") or config["vocab_size"])
    input_ids = torch.randint(3, vocab, (2, 6), generator=generator)
    if case.speech:
        features = torch.randn(2, config["num_mel_bins"], 2 * config["max_source_positions"], generator=generator)
        return {"input_features": features.to(model.dtype), "labels": input_ids}
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    name = auto_class_name(type(model).__name__)
    if name in PREFERRED:
        inputs["labels"] = input_ids.clone()  # seq2seq heads derive the decoder inputs from them
    elif name == "AutoModelForSequenceClassification":
        inputs["labels"] = torch.tensor([0, 1])
    return inputs


def loss_of(model, inputs) -> torch.Tensor:
    out = model(**inputs)
    if getattr(out, "loss", None) is not None:
        return out.loss
    if whole_output(inputs):  # an image model without a loss: every float output it returns
        return sum(t.float().square().mean() for t in top_level_tensors(out).values() if t.is_floating_point())
    return out.last_hidden_state.square().mean()  # a base model: any loss that reaches every weight


def main_output(model, inputs) -> torch.Tensor:
    out = model(**{k: v for k, v in inputs.items() if k != "labels"}, **decoder_inputs(model, inputs))
    if getattr(out, "logits", None) is not None:
        return out.logits
    if whole_output(inputs) and getattr(out, "last_hidden_state", None) is None:
        return next(iter(top_level_tensors(out).values()))  # CLIP-like: logits_per_image
    return out.last_hidden_state


def decoder_inputs(model, inputs) -> dict:
    if not getattr(model.config, "is_encoder_decoder", False) or whole_output(inputs):
        # DETR decodes learned queries, not tokens; an image-to-text model's inputs hold their decoder ids
        return {}
    tokens = inputs["labels"] if "input_features" in inputs else inputs["input_ids"]
    start = torch.full_like(tokens[:, :1], model.config.decoder_start_token_id)
    return {"decoder_input_ids": torch.cat([start, tokens[:, :-1]], dim=1)}


def without_gradients(case, model) -> set[str]:
    """Names of the parameters the loss does not reach (T5's relative bias beyond layer 0, say), or
    reaches with an exactly zero gradient (a fresh DETR's first decoder self-attention sees only zero
    queries and zero-initialised biases): found on a copy that nothing ran on before, so the chains
    below cannot change the answer. (Or a batch norm's shift that reaches another batch norm in training
    mode through linear layers only, which removes it: MobileNetV2's last blocks on 1 x 1 maps.)"""
    fresh = copy.deepcopy(model)
    loss_of(fresh, batch(case, fresh)).backward()
    return {n for n, p in fresh.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())}


def optimizer_for(model) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)


def train_step(case, model, optimizer) -> None:
    model.train()
    optimizer.zero_grad()
    loss_of(model, batch(case, model, seed=1)).backward()
    optimizer.step()


def assert_contract(case, model, optimizer, before: dict[str, torch.Tensor], unused: set[str]) -> None:
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    tree = list(model.named_parameters(remove_duplicate=False))
    strays = [n for n, p in tree if id(p) not in held]
    assert not strays, f"{case.name}: parameters the optimizer does not hold: {strays}"
    for name, param in tree:  # the module tree holds those same objects
        module_name, _, attribute = name.rpartition(".")
        assert getattr(model.get_submodule(module_name), attribute) is param, name
    still = [n for n, p in model.named_parameters() if p.requires_grad and n not in unused and torch.equal(p, before[n])]
    assert not still, f"{case.name}: trainable parameters the step did not move: {still}"
    # the inference path (fused projections, oneDNN) computes with the parameters just stepped
    model.eval()
    inputs = batch(case, model, seed=2)
    with torch.no_grad():
        inference = main_output(model, inputs)
    with torch.enable_grad():
        training = main_output(model, inputs).detach()
    torch.testing.assert_close(inference, training, rtol=1e-5, atol=1e-5)


def snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def evaluate_and_generate(case, model) -> None:
    """What a Trainer evaluation or a notebook cell does between two training steps."""
    model.eval()
    inputs = batch(case, model)
    with torch.no_grad():
        main_output(model, inputs)
    if model.can_generate():
        prompt = {k: v for k, v in inputs.items() if k != "labels"}
        model.generate(**prompt, max_new_tokens=3, num_beams=1, do_sample=False)


CASE_IDS = [case.name for case in CASES]


def check_chain(case, between) -> None:
    """Build the case's model and its optimizer, run ``between(case, model)`` (what a notebook does
    between two training cells), take a training step, and check the contract."""
    model, _ = build(case)
    if case.decoder or case.encoder_decoder:
        assert model.can_generate(), f"{case.name}: the head picked should generate"
    unused = without_gradients(case, model)
    optimizer = optimizer_for(model)
    between(case, model)
    before = snapshot(model)
    train_step(case, model, optimizer)
    assert_contract(case, model, optimizer, before, unused)


def dtype_round_trip(case, model) -> None:
    evaluate_and_generate(case, model)
    model.to(torch.float64)
    evaluate_and_generate(case, model)  # inference in float64: packed again, in float64
    model.train().to(torch.float32).eval()
    evaluate_and_generate(case, model)


def hooked_then_unhooked(case, model) -> None:
    seen = []
    handles = [m.register_forward_hook(lambda module, args, out: seen.append(module))
               for m in model.modules() if isinstance(m, nn.Linear)]
    evaluate_and_generate(case, model)  # hooks watch every linear: no fusion while they are there
    assert seen, f"{case.name}: the hooks saw nothing"
    for handle in handles:
        handle.remove()
    evaluate_and_generate(case, model)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_optimizer_keeps_training_the_model_after_inference(case):
    check_chain(case, evaluate_and_generate)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_contract_holds_across_dtype_round_trips_and_modes(case):
    check_chain(case, dtype_round_trip)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_contract_holds_with_a_hook_registered_then_removed(case):
    check_chain(case, hooked_then_unhooked)


LLAMA = next(case for case in CASES if case.model_type == "llama")


def test_fused_projections_share_the_parameters_storage_and_keep_no_copy():
    """Fusion packs q/k/v and gate/up into one buffer that their parameters view: no second copy."""
    model, _ = build(LLAMA)
    params = {id(p): p for p in model.parameters()}
    before = sum(p.numel() * p.element_size() for p in params.values())
    identities = [id(p) for p in model.parameters()]
    evaluate_and_generate(LLAMA, model)
    assert [id(p) for p in model.parameters()] == identities
    storages = {p.untyped_storage().data_ptr(): p.untyped_storage().nbytes() for p in model.parameters()}
    assert sum(storages.values()) == before  # every byte of storage belongs to exactly one parameter
    attention = model.model.layers[0].self_attn
    shared = {attention.q_proj.weight.untyped_storage().data_ptr(), attention.k_proj.weight.untyped_storage().data_ptr(),
              attention.v_proj.weight.untyped_storage().data_ptr()}
    assert len(shared) == 1
    assert "weight=rows 0:" in repr(attention.q_proj)  # where a user sees it


def test_load_state_dict_lands_in_the_fused_weights():
    model, _ = build(LLAMA)
    evaluate_and_generate(LLAMA, model)  # fused
    other, _ = build(LLAMA)
    with torch.no_grad():
        for param in other.parameters():
            param.add_(0.05)
    identities = [id(p) for p in model.parameters()]
    model.load_state_dict(other.state_dict())
    assert [id(p) for p in model.parameters()] == identities
    inputs = batch(LLAMA, model)
    with torch.no_grad():
        torch.testing.assert_close(main_output(model, inputs), main_output(other.eval(), inputs), rtol=1e-5, atol=1e-5)


def test_contract_holds_after_a_compiled_inference_forward():
    torch._dynamo.reset()
    model, _ = build(LLAMA)
    unused = without_gradients(LLAMA, model)
    optimizer = optimizer_for(model)
    evaluate_and_generate(LLAMA, model)  # fused eagerly first, as generate() does before compiling
    compiled = torch.compile(model, backend="eager", fullgraph=False)
    inputs = batch(LLAMA, model)
    with torch.no_grad():
        compiled(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    before = snapshot(model)
    train_step(LLAMA, model, optimizer)
    assert_contract(LLAMA, model, optimizer, before, unused)
    with torch.no_grad():  # the compiled graph reads the stepped weights too
        again = compiled(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
        torch.testing.assert_close(again, model(**{k: v for k, v in inputs.items() if k != "labels"}).logits,
                                   rtol=1e-5, atol=1e-5)
    torch._dynamo.reset()


def test_building_models_leaves_torch_init_alone_in_other_threads():
    """Two threads build models while a third initialises a real tensor with torch.nn.init: a build
    must change what torch.nn.init does nowhere else (no process-wide patch), and each build's own
    initialisation must happen (std 0.02, the config's initializer_range)."""
    from workbench import LlamaConfig, LlamaForCausalLM

    original = torch.nn.init.normal_
    config = LlamaConfig(**LLAMA.config)
    stop = threading.Event()
    failures: list[str] = []

    def builder():
        try:
            while not stop.is_set():
                std = float(LlamaForCausalLM.from_config(config).lm_head.weight.detach().std())
                if not 0.015 < std < 0.025:
                    failures.append(f"a model built in a thread was not initialised (std {std:.3g})")
        except Exception as error:  # noqa: BLE001 (reported by the main thread)
            failures.append(repr(error))

    def initialiser():
        for _ in range(300):
            tensor = torch.zeros(64, 64)
            torch.nn.init.normal_(tensor)
            if torch.nn.init.normal_ is not original or tensor.std() < 0.5:
                failures.append(f"torch.nn.init.normal_ did not initialise (std {float(tensor.std()):.3f})")
                return

    builders = [threading.Thread(target=builder) for _ in range(2)]
    for thread in builders:
        thread.start()
    checker = threading.Thread(target=initialiser)
    checker.start()
    checker.join()
    stop.set()
    for thread in builders:
        thread.join()
    assert not failures, failures[:3]
