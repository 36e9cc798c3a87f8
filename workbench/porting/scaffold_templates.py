"""The text of the files ``workbench add-model`` writes (see :mod:`workbench.porting.scaffold`): the new
family's model file (its config and head classes, subclasses of the source family's) and its
conversion-script template. Plain string building, no imports from the package.
"""

from __future__ import annotations

import json
import textwrap

# the head a conversion script loads the checkpoint into: the first of these the family has
CONVERSION_HEADS = ("AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoModelForSpeechSeq2Seq",
                    "AutoModelForMaskedLM", "AutoModel")


def model_file(spec) -> str:
    """``workbench/models/<module>.py``: the config class (``model_type``, the source's defaults written
    out) and one subclass per head. ``spec`` is a :class:`workbench.porting.scaffold.Scaffold`."""
    imports = sorted({spec.source_config, *spec.heads.values()})
    intro = textwrap.fill(
        f"Every class here is the {spec.like} family's ({spec.source_module}.py) under {spec.prefix}'s names, so this "
        f"model is still {spec.like}'s. Fill in the differences: set the config defaults below to the checkpoint's, "
        "then override what the architecture does differently, in this file (a module of yours built in "
        "``__init__`` after ``super().__init__(config)``, a method of the source's class) or, where "
        f"{spec.source_module}.py already reads a config field for it, by setting that field below. Module names "
        "must stay the checkpoint's keys, so loading stays a strict state-dict load.", width=104)
    lines = [
        f'"""{spec.prefix}: scaffolded by ``workbench add-model --like {spec.like} --name {spec.name}``.',
        "",
        intro,
        "",
        "Checking, in order (``ActivationDiff`` shows the first module whose output differs):",
        "",
        f"    pytest tests/test_models.py -k {spec.name}         # the shared contract and parity suite",
        f"    python -m workbench.models.convert_{spec.module}_checkpoint CHECKPOINT --dry-run",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        _wrapped_import(spec.source_module, imports),
        "",
        "",
        f"class {spec.config}({spec.source_config}):",
        f'    """{spec.prefix}\'s config.json. The defaults are {spec.source_config}\'s, copied: set the checkpoint\'s."""',
        "",
        f'    model_type = "{spec.name}"',
        "    defaults = {",
        *(f"        {literal(key)}: {literal(value)}," for key, value in spec.defaults.items()),
        "    }",
    ]
    for auto, source_class in spec.heads.items():
        lines += ["", "", f"class {spec.new_heads[auto]}({source_class}):", f"    config_class = {spec.config}"]
        if auto != "AutoModel" and spec.base_model and source_class in spec.has_base_model_class:
            lines.append(f"    base_model_class = {spec.base_model}")
        elif auto != "AutoModel" and spec.base_model:
            lines.append(f"    # builds {spec.heads['AutoModel']} inside: {spec.source_module}.py's heads name it directly")
    return "\n".join(lines) + "\n"


def _wrapped_import(module: str, names: list[str]) -> str:
    text = f"from .{module} import {', '.join(names)}"
    if len(text) <= 120:
        return text
    body = textwrap.fill(", ".join(names) + ",", width=116, initial_indent="    ", subsequent_indent="    ")
    return f"from .{module} import (\n{body}\n)"


def registry_entry(spec) -> str:
    """The ``FAMILIES`` entry: module, config, every head, the tiny config (the source's)."""
    head_lines = _packed([f'"{auto}": "{name}",' for auto, name in spec.new_heads.items()], width=108)
    tiny = [f"{key}={literal(value)}," for key, value in spec.tiny.items()]
    tiny[0], tiny[-1] = "}, dict(" + tiny[0], tiny[-1].rstrip(",") + ")),"
    tiny_lines = _packed(tiny, width=110)
    return "\n".join([
        f"    # scaffolded from {spec.like} (workbench add-model); the tiny config is {spec.like}'s",
        f'    "{spec.name}": Family("{spec.module}", "{spec.config}", {{',
        *(f"        {line}" for line in head_lines),
        f"    {tiny_lines[0]}",
        *(f"            {line}" for line in tiny_lines[1:]),
    ]) + "\n"


def _packed(items: list[str], width: int) -> list[str]:
    """Items joined by spaces into lines of at most ``width`` characters (an item is never split)."""
    lines = [items[0]]
    for item in items[1:]:
        if len(lines[-1]) + 1 + len(item) <= width:
            lines[-1] += " " + item
        else:
            lines.append(item)
    return lines


def literal(value) -> str:
    """Python source for a config value, strings in double quotes (the package's style)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = ", ".join(literal(v) for v in value)
        return f"[{items}]" if isinstance(value, list) else f"({items}{',' if len(value) == 1 else ''})"
    return repr(value)


def conversion_script(spec) -> str:
    """``workbench/models/convert_<module>_checkpoint.py``: checkpoint keys in, workbench keys out."""
    head = next(spec.new_heads[auto] for auto in CONVERSION_HEADS if auto in spec.new_heads)
    return CONVERSION_TEMPLATE.format(prefix=spec.prefix, like=spec.like, name=spec.name, module=spec.module,
                                      config=spec.config, head=head)


CONVERSION_TEMPLATE = '''\
"""Convert an original {prefix} checkpoint into a workbench folder (Hugging Face layout).

A template written by ``workbench add-model --like {like} --name {name}``. ``RENAMES`` maps the
original checkpoint's keys to workbench's, which are the Hugging Face checkpoint keys (module names
equal them). It starts as the identity: a checkpoint already in those names converts unchanged.
Fill it in until a dry run, which reads the checkpoint and writes nothing, reports no unmatched key
either way:

    python -m workbench.models.convert_{module}_checkpoint CHECKPOINT [--config config.json] --dry-run
    python -m workbench.models.convert_{module}_checkpoint CHECKPOINT [--config config.json] --output FOLDER

CHECKPOINT is a ``.safetensors``, ``.bin``/``.pt``/``.pth`` file or a folder of them; the config
(default: ``config.json`` beside it) gives the sizes. Tensors that must change shape (a fused qkv
split in three, a transposed matrix) go in :func:`convert_tensor`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

from .{module} import {config}, {head}

MODEL_CLASS = {head}  # the head whose keys the checkpoint holds

# (pattern, replacement) pairs, applied in order with re.sub to every checkpoint key; a replacement
# of None drops the key (optimizer state, buffers the model recomputes). For example:
#     (r"^transformer\\.blocks\\.(\\d+)\\.", r"model.layers.\\1."),
#     (r"\\.attn_out\\.", ".self_attn.o_proj."),
RENAMES: list[tuple[str, str | None]] = []


def convert_key(key: str) -> str | None:
    """The workbench key of one checkpoint key (None: dropped)."""
    for pattern, replacement in RENAMES:
        if re.search(pattern, key):
            if replacement is None:
                return None
            key = re.sub(pattern, replacement, key)
    return key


def convert_tensor(key: str, tensor: torch.Tensor) -> dict[str, torch.Tensor]:
    """One converted key's tensor(s): split or reshape here when the layouts differ."""
    return {{key: tensor}}


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    files = [path]
    if path.is_dir():
        files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin")) or sorted(path.glob("*.pt*"))
    if not files:
        raise FileNotFoundError(f"No .safetensors, .bin or .pt files in {{path}}: pass the checkpoint file itself.")
    state: dict[str, torch.Tensor] = {{}}
    for file in files:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state.update(load_file(file))
        else:
            loaded = torch.load(file, map_location="cpu", weights_only=True)
            state.update(loaded.get("model", loaded) if isinstance(loaded, dict) else loaded)
    return state


def convert(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {{}}
    for key, tensor in state.items():
        new_key = convert_key(key)
        if new_key is not None:
            out.update(convert_tensor(new_key, tensor))
    return out


def expected_keys(config: {config}) -> set[str]:
    """The keys a saved workbench model holds (tied copies left out, as save_pretrained does)."""
    with torch.device("meta"):
        model = MODEL_CLASS(config)
    return set(model.state_dict()) - set(model.active_tied_weights())


def unmatched(converted: dict[str, torch.Tensor], expected: set[str]) -> tuple[list[str], list[str]]:
    """(converted keys no workbench key takes, workbench keys no converted key fills)."""
    ignored = getattr(MODEL_CLASS, "_ignore_unexpected", ())
    extra = [k for k in converted if k not in expected and not any(re.search(p, k) for p in ignored)]
    return sorted(extra), sorted(expected - set(converted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\\n\\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--config", type=Path, help="config.json with the sizes (default: beside the checkpoint)")
    parser.add_argument("--output", type=Path, help="the folder to write (not with --dry-run)")
    parser.add_argument("--dry-run", action="store_true", help="report unmatched keys both ways, write nothing")
    args = parser.parse_args(argv)
    if not args.dry_run and args.output is None:
        parser.error("pass --output FOLDER, or --dry-run to only check the keys")
    folder = args.checkpoint if args.checkpoint.is_dir() else args.checkpoint.parent
    config_path = args.config or folder / "config.json"
    config = {config}.from_dict(json.loads(config_path.read_text()))
    converted = convert(read_checkpoint(args.checkpoint))
    extra, missing = unmatched(converted, expected_keys(config))
    print(f"{{len(converted)}} converted keys; {{len(extra)}} match no workbench key, {{len(missing)}} workbench keys unfilled")
    for title, keys in (("checkpoint keys (after RENAMES) that match no workbench key", extra),
                        ("workbench keys that no checkpoint key fills", missing)):
        if keys:
            print(f"{{title}}:")
            print("\\n".join(f"    {{key}}" for key in keys))
    if args.dry_run:
        return 1 if extra or missing else 0
    if extra or missing:
        print("Nothing written: fill in RENAMES (and convert_tensor) until the dry run reports no unmatched key.",
              file=sys.stderr)
        return 1
    model = MODEL_CLASS(config)
    model.load_state_dict(converted, strict=False)  # tied copies are the only keys not in the checkpoint
    model.tie_weights()
    model.save_pretrained(args.output)
    print(f"wrote {{args.output}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''
