"""The sentiment recipe's choices for a short first build (workbench/recipes/sentiment.py): the lower
stack frozen, bf16 autocast only where the CPU has bf16 instructions, fewer threads on busy cores.
The builds themselves are tested in tests/test_zoo.py."""

from __future__ import annotations

import os

import pytest
import torch

from workbench.recipes import sentiment


def test_bf16_autocast_only_with_native_bf16_instructions(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for flags, native in [({"avx2", "fma"}, False), ({"avx512f", "avx512bw", "avx512_vl"}, False),
                          ({"avx512f", "avx512_bf16"}, True), ({"amx_tile", "amx_bf16"}, True)]:
        monkeypatch.setattr(sentiment, "cpu_flags", lambda flags=flags: flags)
        assert sentiment.native_bf16() is native, flags


def test_cpu_flags_agree_with_proc_cpuinfo():
    if not os.path.exists("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo on this platform")
    listed = {flag for line in open("/proc/cpuinfo") if line.startswith("flags") for flag in line.split(":")[1].split()}
    flags = sentiment.cpu_flags()
    for name in ("avx2", "avx512_bf16", "amx_bf16"):
        assert (name in flags) == (name in listed), name


@pytest.mark.parametrize("load, cores, default, expected", [(0.3, 2, 2, 2), (1.0, 2, 2, 2), (2.0, 2, 2, 1),
                                                            (14.0, 2, 2, 1), (3.0, 8, 8, 6), (0.0, 8, 4, 4)])
def test_threads_follow_the_idle_cores(monkeypatch, load, cores, default, expected):
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(torch, "get_num_threads", lambda: default)
    threads, why = sentiment.useful_threads()
    assert threads == expected
    assert (why == "") == (threads == default) and (not why or f"load average is {load:.1f}" in why)


def test_torch_threads_are_restored_after_the_block():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), sentiment.torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("a failed build")
    assert torch.get_num_threads() == before


def test_frozen_lower_stack_does_not_move_and_the_rest_trains(minilm_path):
    model, trainable = sentiment.frozen_model(minilm_path)
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    lower = ("bert.embeddings.",) + tuple(f"bert.encoder.layer.{i}." for i in range(sentiment.FROZEN_LAYERS))
    assert frozen and all(name.startswith(lower) for name in frozen)
    assert {name for name, _ in model.named_parameters() if name.startswith(lower)} == set(frozen)
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert "classifier.weight" not in frozen

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    batch = {"input_ids": torch.randint(1000, 20000, (4, 12)), "labels": torch.tensor([0, 1, 0, 1])}
    model.train()
    model(**batch).loss.backward()
    optimizer.step()
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) == (name in frozen), name
