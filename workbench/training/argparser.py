"""``HfArgumentParser``: command-line flags from dataclass fields.

Each field becomes ``--name`` (and ``--name-with-dashes``); its type hint decides the parsing:
``bool`` flags take an optional value (``--fp16`` or ``--fp16 false``) and a ``True`` default gets a
``--no_name`` twin; ``Literal``/``Enum`` fields get choices; ``list[X]`` takes one or more values;
``help`` comes from ``field(metadata={"help": ...})``.

>>> parser = HfArgumentParser(TrainingArguments)                                   # doctest: +SKIP
>>> (args,) = parser.parse_args_into_dataclasses(["--output_dir", "out", "--fp16"])  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from argparse import ArgumentDefaultsHelpFormatter, ArgumentParser, ArgumentTypeError
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union


def string_to_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("yes", "true", "t", "y", "1"):
        return True
    if text in ("no", "false", "f", "n", "0"):
        return False
    raise ArgumentTypeError(f"Expected a truth value (yes/no, true/false, t/f, y/n, 1/0), got {value!r}.")


def _choice_parser(choices: list) -> typing.Callable[[str], Any]:
    by_text = {str(choice): choice for choice in choices}
    return lambda text: by_text.get(text, text)


def HfArg(*, aliases: str | list[str] | None = None, help: str | None = None, default: Any = dataclasses.MISSING,
          default_factory: Any = dataclasses.MISSING, metadata: dict | None = None, **kwargs) -> dataclasses.Field:
    """``dataclasses.field`` with ``aliases`` and ``help`` as keywords."""
    metadata = dict(metadata or {})
    if aliases is not None:
        metadata["aliases"] = aliases
    if help is not None:
        metadata["help"] = help
    return dataclasses.field(metadata=metadata, default=default, default_factory=default_factory, **kwargs)


def _is_union(hint) -> bool:
    return typing.get_origin(hint) is Union or isinstance(hint, types.UnionType)


def _simplify(hint, name: str):
    """``Optional[X]`` -> X; a union with ``str`` -> the other member parsed as text; returns (hint, optional)."""
    if not _is_union(hint):
        return hint, False
    members = [m for m in typing.get_args(hint) if m is not type(None)]
    optional = len(members) < len(typing.get_args(hint))
    if len(members) == 1:
        return members[0], optional
    enums = [m for m in members if isinstance(m, type) and issubclass(m, Enum)]
    if enums:  # `Strategy | str`: choices from the enum
        return enums[0], optional
    if str in members:
        return str, optional
    raise ValueError(f"Field {name!r}: only Optional[X] or unions with str can be parsed from the command line, "
                     f"got {hint}.")


class HfArgumentParser(ArgumentParser):
    """An ``argparse.ArgumentParser`` whose arguments come from dataclasses' fields."""

    def __init__(self, dataclass_types=None, **kwargs) -> None:
        kwargs.setdefault("formatter_class", ArgumentDefaultsHelpFormatter)
        super().__init__(**kwargs)
        if dataclass_types is None:
            dataclass_types = []
        elif dataclasses.is_dataclass(dataclass_types) or not isinstance(dataclass_types, (list, tuple)):
            dataclass_types = [dataclass_types]
        self.dataclass_types = list(dataclass_types)
        for dtype in self.dataclass_types:
            self._add_dataclass_arguments(dtype)

    def _add_dataclass_arguments(self, dtype) -> None:
        group = self.add_argument_group(dtype._argument_group_name) if hasattr(dtype, "_argument_group_name") else self
        try:
            hints = typing.get_type_hints(dtype)
        except NameError as error:
            raise RuntimeError(f"Could not resolve the type hints of {dtype.__name__} ({error}); declare it at module "
                               "level so its annotations can be evaluated.") from error
        for f in dataclasses.fields(dtype):
            if f.init:
                self._add_field(group, f, hints[f.name])

    @staticmethod
    def _add_field(parser, f: dataclasses.Field, hint) -> None:
        names = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        kwargs = dict(f.metadata)
        aliases = kwargs.pop("aliases", [])
        aliases = [aliases] if isinstance(aliases, str) else list(aliases)
        hint, _ = _simplify(hint, f.name)
        origin = typing.get_origin(hint)
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        bool_kwargs = dict(kwargs)
        if origin is Literal or (isinstance(hint, type) and issubclass(hint, Enum)):
            choices = list(typing.get_args(hint)) if origin is Literal else [member.value for member in hint]
            kwargs.update(choices=choices, type=_choice_parser(choices))
            if isinstance(default, Enum):
                default = default.value
        elif hint is bool:
            # `--flag` alone means True; `--flag false` is accepted too
            kwargs.update(type=string_to_bool, nargs="?", const=True)
            default = False if not has_default else default
            has_default = True
        elif origin in (list, tuple) or hint in (list, tuple):
            item = (typing.get_args(hint) or (str,))[0]
            kwargs.update(type=item if item is not Any else str, nargs="+")
        elif hint is dict or origin is dict or hint is Any:
            kwargs["type"] = str  # JSON text, parsed by the dataclass itself
        else:
            kwargs["type"] = hint
        if has_default:
            kwargs["default"] = default
        else:
            kwargs["required"] = True
        parser.add_argument(*names, *aliases, **kwargs)
        if hint is bool and default is True:
            # `--no_flag` must come after `--flag`: both write the same destination
            parser.add_argument(f"--no_{f.name}", f"--no-{f.name.replace('_', '-')}", action="store_false",
                                dest=f.name, **{k: v for k, v in bool_kwargs.items() if k == "help"})

    def _build(self, values: dict[str, Any]) -> list:
        outputs = []
        for dtype in self.dataclass_types:
            keys = {f.name for f in dataclasses.fields(dtype) if f.init}
            outputs.append(dtype(**{k: v for k, v in values.items() if k in keys}))
        return outputs

    def parse_args_into_dataclasses(self, args=None, return_remaining_strings: bool = False,
                                    look_for_args_file: bool = True, args_filename: str | None = None,
                                    args_file_flag: str | None = None) -> tuple:
        """Parse ``args`` (default ``sys.argv[1:]``) into one instance per dataclass, in order; arguments
        added to the parser by hand come back as one more ``argparse.Namespace``.

        Arguments may also come from a ``.args`` file next to the script (``look_for_args_file``), from
        ``args_filename``, or from files named with ``args_file_flag``; the command line wins over files.
        """
        files = []
        if args_filename:
            files.append(Path(args_filename))
        elif look_for_args_file and sys.argv and sys.argv[0]:
            files.append(Path(sys.argv[0]).with_suffix(".args"))
        if args_file_flag:
            flag_parser = ArgumentParser()
            flag_parser.add_argument(args_file_flag, type=str, action="append")
            found, args = flag_parser.parse_known_args(args=args)
            files += [Path(p) for p in (vars(found).get(args_file_flag.lstrip("-")) or [])]
        file_args = [token for path in files if path.is_file() for token in path.read_text().split()]
        args = file_args + (list(args) if args is not None else sys.argv[1:])
        namespace, remaining = self.parse_known_args(args=args)
        values = vars(namespace)
        outputs = self._build(values)
        used = {f.name for dtype in self.dataclass_types for f in dataclasses.fields(dtype) if f.init}
        extra = {k: v for k, v in values.items() if k not in used}
        if extra:
            outputs.append(type(namespace)(**extra))
        if return_remaining_strings:
            return (*outputs, remaining)
        if remaining:
            raise ValueError(f"Some arguments were not used by HfArgumentParser: {remaining}")
        return tuple(outputs)

    def parse_dict(self, args: dict[str, Any], allow_extra_keys: bool = False) -> tuple:
        """One instance per dataclass from a plain dict (no argparse involved)."""
        used = {f.name for dtype in self.dataclass_types for f in dataclasses.fields(dtype) if f.init}
        unused = sorted(set(args) - used)
        if unused and not allow_extra_keys:
            raise ValueError(f"Some keys are not used by HfArgumentParser: {unused} (pass allow_extra_keys=True to ignore them).")
        return tuple(self._build(args))

    def parse_json_file(self, json_file: str | Path, allow_extra_keys: bool = False) -> tuple:
        """One instance per dataclass from a JSON file of ``{field: value}``."""
        with open(json_file, encoding="utf-8") as handle:
            return self.parse_dict(json.load(handle), allow_extra_keys=allow_extra_keys)

    def parse_yaml_file(self, yaml_file: str | Path, allow_extra_keys: bool = False) -> tuple:
        """One instance per dataclass from a YAML file (needs PyYAML)."""
        import yaml

        return self.parse_dict(yaml.safe_load(Path(yaml_file).read_text()), allow_extra_keys=allow_extra_keys)
