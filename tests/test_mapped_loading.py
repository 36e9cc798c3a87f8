"""Loading maps safetensors files: parameters that need no conversion are views of the file's
memory map (no copy), converted ones are not, and the map is private (writes never reach the
file; saving back into the same folder works while the old file is still mapped)."""

import os

import pytest
import torch
import transformers
from safetensors.torch import load_file

from workbench import AutoModelForCausalLM

from reference import build_reference_model, save_reference_model

TINY = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, tie_word_embeddings=True, max_position_embeddings=64)
IDS = torch.tensor([[1, 5, 9, 13, 7, 3]])

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads /proc/self/maps (Linux)")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    model = build_reference_model("llama", "LlamaForCausalLM", TINY)
    return save_reference_model(model, str(tmp_path_factory.mktemp("llama")))


def mapped_ranges(path: str) -> list[tuple[int, int]]:
    """Address ranges of this process's memory maps of ``path`` (a renamed or deleted file included)."""
    inode = os.stat(path).st_ino
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and int(fields[4]) == inode and os.path.basename(fields[5]) == os.path.basename(path):
                start, end = (int(n, 16) for n in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


def in_file(tensor: torch.Tensor, ranges: list[tuple[int, int]]) -> bool:
    start, end = tensor.data_ptr(), tensor.data_ptr() + tensor.numel() * tensor.element_size()
    return any(low <= start and end <= high for low, high in ranges)


def test_parameters_are_views_of_the_mapped_file(folder):
    path = os.path.join(folder, "model.safetensors")
    model = AutoModelForCausalLM.from_pretrained(folder)
    ranges = mapped_ranges(path)
    assert ranges, "the safetensors file is not memory-mapped"
    stored = load_file(path)
    for name, param in model.named_parameters():
        assert in_file(param, ranges), f"{name} was copied out of the mapped file"
        assert torch.equal(param, stored[name])
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied: one mapped tensor
    theirs = transformers.LlamaForCausalLM.from_pretrained(folder).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(IDS).logits, theirs(IDS).logits, rtol=1e-5, atol=1e-5)
        # inference fuses gate/up without a copy (adjacent in the file); q/k/v are not adjacent
        # (k_proj, o_proj, q_proj, v_proj in the file's order), so they are packed into new memory
        mlp, attention = model.model.layers[0].mlp, model.model.layers[0].self_attn
        assert in_file(mlp.gate_proj.weight, ranges) and in_file(mlp.up_proj.weight, ranges)
        assert not in_file(attention.q_proj.weight, ranges)
    assert "mapped file" in repr(mlp.gate_proj) and "rows 0:" in repr(attention.q_proj)  # what print(model) shows


def test_converted_parameters_are_not_mapped(folder):
    path = os.path.join(folder, "model.safetensors")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    ranges = mapped_ranges(path)
    stored = load_file(path)
    for name, param in model.named_parameters():
        assert param.dtype == torch.bfloat16 and not in_file(param, ranges), name
        assert torch.equal(param, stored[name].to(torch.bfloat16))


def test_writes_stay_private_and_saving_into_the_same_folder_works(folder, tmp_path):
    save_reference_model(build_reference_model("llama", "LlamaForCausalLM", TINY), str(tmp_path))
    path = str(tmp_path / "model.safetensors")
    before = load_file(path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.mul_(2)  # as an optimizer step would, in place
        expected = model(IDS).logits
    assert torch.equal(load_file(path)["model.layers.0.mlp.down_proj.weight"], before["model.layers.0.mlp.down_proj.weight"])

    model.save_pretrained(tmp_path)  # replaces the file this model maps
    assert not mapped_ranges(path)  # a new file (new inode); the model still maps the replaced one
    with torch.no_grad():
        torch.testing.assert_close(model(IDS).logits, expected, rtol=0, atol=0)  # the old map is still readable
    saved = load_file(path)
    torch.testing.assert_close(saved["model.layers.0.mlp.down_proj.weight"], 2 * before["model.layers.0.mlp.down_proj.weight"])
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(IDS).logits, expected, rtol=1e-6, atol=1e-6)
