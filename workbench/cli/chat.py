"""``workbench chat MODEL``: talk to a chat model in the terminal.

    MODEL ──► resolve_model (folder | Hub id | .gguf file | folder + --gguf-file)
          ──► load: model + tokenizer ──► the text-generation pipeline
          ──► ChatSession.run: read a line ──► /command, or a user message
                 ──► pipeline(conversation, streamer=...) in a thread, text printed as it comes
                 ──► the reply joins the conversation

Torch and the models are imported inside the functions, after the arguments are parsed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from typing import Any, Callable

DESCRIPTION = """\
Chat with a model in the terminal. The replies stream as they are generated, and the
conversation is kept until /clear.

MODEL is a model folder (config.json and weights), a Hub repo id, a .gguf file, or a folder
with --gguf-file naming the .gguf file in it.

Commands during the chat:
""" + "\n".join(f"  {usage:<12} {text}" for usage, text in (
    ("/help", "list the commands"),
    ("/clear", "forget the conversation (the system prompt stays)"),
    ("/save [FILE]", "write the conversation as JSON (default: chat_history/MODEL/chat_TIME.json)"),
    ("/exit", "leave (Ctrl-D does too)"),
))  # fmt: skip

COMMANDS = DESCRIPTION.split("Commands during the chat:\n", 1)[1]
PROMPT = "> "
# what a Hub repo id looks like: "name" or "org/name"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ModelArgumentError(Exception):
    """MODEL (or --gguf-file) names nothing that can be loaded."""


def add_arguments(parser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model folder, Hub repo id, or .gguf file")
    parser.add_argument("--gguf-file", help="the .gguf file inside the MODEL folder or repo")
    parser.add_argument("--system", help="system prompt that starts the conversation")
    parser.add_argument("--max-new-tokens", type=_positive_int, default=256, help="longest reply, in tokens (256)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="weights' dtype (auto: the checkpoint's; float32 for GGUF files)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, mps, ... (default: cpu)")
    parser.add_argument("--do-sample", action=argparse.BooleanOptionalAction, default=None,
                        help="sample the replies (default: as the model's generation config says; "
                             "--temperature or --top-p turn it on)")
    parser.add_argument("--temperature", type=float, help="sampling temperature")
    parser.add_argument("--top-p", type=float, help="nucleus sampling: keep the most likely tokens up to this mass")
    parser.set_defaults(run=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of tokens, got {value}")
    return value


def run(args) -> int:
    try:
        folder, gguf_file = resolve_model(args.model, args.gguf_file)
        _status(f"Loading {args.model} ...")
        started = time.perf_counter()
        pipe = load_pipeline(folder, gguf_file, args.dtype, args.device)
    except KeyboardInterrupt:
        _status("Interrupted.")
        return 130
    except (ModelArgumentError, OSError, ValueError, ImportError, NotImplementedError) as error:
        print(f"workbench chat: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # a failure of workbench itself: still one line, but name the exception
        print(f"workbench chat: error: loading {args.model} failed: {type(error).__name__}: {_one_line(error)}",
              file=sys.stderr)
        return 1
    session = ChatSession(pipe, name=_display_name(args.model, gguf_file), system=args.system,
                          generate_kwargs=generation_settings(args, pipe.model))
    _status(f"{session.name} loaded in {time.perf_counter() - started:.1f}s ({session.describe_model()}).")
    return session.run()


# ---------------------------------------------------------------------------------------------
# the model


def resolve_model(model: str, gguf_file: str | None) -> tuple[str, str | None]:
    """(folder or repo id, GGUF file name or None) for ``MODEL [--gguf-file FILE]``; raises
    :class:`ModelArgumentError` for paths that do not exist, before anything heavy loads."""
    path = os.path.expanduser(model)
    if path.endswith(".gguf"):
        if gguf_file:
            raise ModelArgumentError(f"{model} is a .gguf file already: drop --gguf-file {gguf_file}.")
        if not os.path.isfile(path):
            raise ModelArgumentError(f"{model}: no such .gguf file.")
        return os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    if os.path.isdir(path):
        if gguf_file is None and not os.path.isfile(os.path.join(path, "config.json")):
            found = sorted(name for name in os.listdir(path) if name.endswith(".gguf"))
            if len(found) == 1:
                return path, found[0]
            if found:
                raise ModelArgumentError(f"{model} holds several .gguf files ({', '.join(found)}): pick one with "
                                         "--gguf-file.")
            raise ModelArgumentError(f"{model} is a folder without config.json or a .gguf file: point to a "
                                     "folder written by save_pretrained, or to a .gguf file.")
        return path, gguf_file
    if os.path.exists(path):
        raise ModelArgumentError(f"{model} is a file, not a model: give a model folder, a .gguf file, or a Hub id.")
    if model.startswith((".", "/", "~")) or not _REPO_ID.match(model):
        raise ModelArgumentError(f"{model}: no such file or folder (and it is not a Hub repo id like 'org/name').")
    return model, gguf_file  # a Hub repo id: the hub says if it does not exist


def load_pipeline(folder: str, gguf_file: str | None, dtype: str, device: str | None):
    """The text-generation pipeline over the model and its tokenizer (which must have a chat template)."""
    from ..auto import AutoModelForCausalLM
    from ..pipelines import pipeline
    from ..tokenization import AutoTokenizer

    options = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(folder, **options)
    if tokenizer.chat_template is None:
        raise ModelArgumentError(f"{gguf_file or folder} has no chat template, so it is not a chat model "
                                 "(try its -Instruct or -Chat version).")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **options)
    return pipeline("text-generation", model=model, tokenizer=tokenizer, device=device)


def generation_settings(args, model) -> dict[str, Any]:
    """generate() arguments from the options; sampling follows the model unless an option says otherwise."""
    settings: dict[str, Any] = {"max_new_tokens": args.max_new_tokens}
    sampling_given = args.temperature is not None or args.top_p is not None
    do_sample = args.do_sample
    if do_sample is None:
        model_default = getattr(getattr(model, "generation_config", None), "do_sample", None)
        do_sample = True if sampling_given else bool(model_default)
    settings["do_sample"] = do_sample
    for name in ("temperature", "top_p"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    return settings


def _display_name(model: str, gguf_file: str | None) -> str:
    name = gguf_file or os.path.basename(os.path.normpath(os.path.expanduser(model))) or model
    return name.removesuffix(".gguf")


# ---------------------------------------------------------------------------------------------
# the conversation


class ChatSession:
    """A conversation with ``pipe`` (a text-generation pipeline), read from and written to a terminal."""

    def __init__(self, pipe, name: str, system: str | None = None, generate_kwargs: dict | None = None,
                 read: Callable[[str], str] = input, write: Callable[[str], Any] | None = None) -> None:
        self.pipe, self.name, self.system = pipe, name, system
        self.generate_kwargs = dict(generate_kwargs or {})
        self.read = read
        self.write = write or _stdout
        self.messages: list[dict] = []
        self.clear()

    def describe_model(self) -> str:
        model = self.pipe.model
        parameters = sum(p.numel() for p in model.parameters())
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        return f"{type(model).__name__}, {parameters / 1e6:.1f}M parameters, {dtype}, {model.device}"

    def run(self) -> int:
        _enable_line_editing()
        self.write(f"Chatting with {self.name}. Type a message and press Enter; /help lists the commands, "
                   "/exit or Ctrl-D leaves.\n")
        while True:
            try:
                line = self.read(PROMPT)
            except EOFError:
                self.write("\n")
                return 0
            except KeyboardInterrupt:
                self.write("\n(/exit or Ctrl-D leaves)\n")
                continue
            line = line.strip()
            if not line:
                continue
            if line.startswith("/") and not line.startswith("//"):
                if self.command(line) == "exit":
                    return 0
                continue
            self.respond(line.removeprefix("/"))  # "//text" sends "/text"

    def command(self, line: str) -> str | None:
        name, _, argument = line.partition(" ")
        argument = argument.strip()
        if name in ("/exit", "/quit"):
            return "exit"
        if name == "/help":
            self.write(COMMANDS + "\n")
        elif name == "/clear":
            self.clear()
            self.write("Cleared the conversation.\n")
        elif name == "/save":
            stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
            path = argument or os.path.join("chat_history", self.name, f"chat_{stamp}.json")
            try:
                self.save(path)
            except OSError as error:
                self.write(f"Could not save to {path}: {error.strerror or error}\n")
            else:
                self.write(f"Saved {len(self.messages)} messages to {path}\n")
        else:
            self.write(f"Unknown command {name}. Commands:\n{COMMANDS}\n(Start a message with // to send a '/'.)\n")
        return None

    def clear(self) -> None:
        self.messages = [{"role": "system", "content": self.system}] if self.system else []

    def save(self, path: str) -> None:
        """The conversation and the settings as JSON (the reference chat's layout), written atomically."""
        from ..io import atomic_write_text

        settings = {"model": self.name, "system": self.system, "generation": self.generate_kwargs}
        atomic_write_text(path, json.dumps({"settings": settings, "chat_history": self.messages}, indent=2,
                                           ensure_ascii=False) + "\n")

    def respond(self, text: str) -> None:
        """Add the user's message, stream the reply to the terminal, and add the reply."""
        self.messages.append({"role": "user", "content": text})
        try:
            reply, stopped = self._generate()
        except Exception as error:  # the conversation stays usable: drop the message that failed
            self.messages.pop()
            self.write(f"\nerror: {_one_line(error)}\n")
            return
        self.messages.append({"role": "assistant", "content": reply})
        self.write(f" [{stopped}]\n" if stopped else "\n")

    def _generate(self) -> tuple[str, str | None]:
        """Run the pipeline in a thread and print its text as it comes; Ctrl-C stops the reply early."""
        from ..generation import StoppingCriteriaList, TextIteratorStreamer

        streamer = TextIteratorStreamer(self.pipe.tokenizer, skip_prompt=True, skip_special_tokens=True)
        interrupt = _Watch()
        result: dict[str, Any] = {}

        def work():
            try:
                result["out"] = self.pipe(list(self.messages), streamer=streamer, return_full_text=False,
                                          stopping_criteria=StoppingCriteriaList([interrupt]), **self.generate_kwargs)
            except BaseException as error:  # handed to the main thread, which raises it
                result["error"] = error
                streamer.end()

        thread = threading.Thread(target=work, name="workbench-chat-generate", daemon=True)
        thread.start()
        while True:
            try:
                for piece in streamer:
                    self.write(piece)
                break
            except KeyboardInterrupt:
                interrupt.set()  # generation stops after its current step; keep printing what is left
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["out"][0]["generated_text"], self._why_stopped(interrupt)

    def _why_stopped(self, watch: "_Watch") -> str | None:
        """Why the reply ended before the model finished it, if it did."""
        if watch.is_set():
            return "stopped"
        limit = self.generate_kwargs.get("max_new_tokens")
        eos = getattr(self.pipe.model.generation_config, "eos_token_id", None)
        eos = {eos} if isinstance(eos, int) else set(eos or ())
        if limit is not None and watch.steps >= limit and watch.last_token not in eos:
            return f"cut at {limit} tokens: --max-new-tokens sets the limit"
        return None


class _Watch(threading.Event):
    """A stopping criterion that ends generation once set (Ctrl-C during a reply), and counts the
    steps and notes the last token, so a reply cut by the length limit can say so."""

    def __init__(self) -> None:
        super().__init__()
        self.steps, self.last_token = 0, None

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        self.steps += 1
        self.last_token = int(input_ids[0, -1])
        return torch.full((input_ids.shape[0],), self.is_set(), dtype=torch.bool, device=input_ids.device)


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _status(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _enable_line_editing() -> None:
    if sys.stdin.isatty():
        try:
            import readline  # noqa: F401  (input() gains history and line editing)
        except ImportError:  # not on every platform
            pass


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
