"""``workbench chat``, driven as a person would: through a pseudo-terminal, typing lines and reading
what appears on the screen. The model is SmolLM2-135M-Instruct from its GGUF file."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds: loading and replying share 2 cores with other work


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TERM": "dumb"}


def workbench(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=120, **kwargs)


class Terminal:
    """A program on a pseudo-terminal: ``type`` a line, ``expect`` a pattern on the screen."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=_env(),
                                        start_new_session=True)
        os.close(slave)
        self.screen = ""  # everything shown so far
        self.seen = 0  # where the next expect starts looking
        self.reads: list[tuple[int, str]] = []  # (position in screen, text) of each read

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096).decode("utf-8", "replace").replace("\r\n", "\n")
        except OSError:  # the program closed the terminal
            return False
        self.reads.append((len(self.screen), data))
        self.screen += data
        return bool(data)

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.screen, self.seen)
            if match:
                self.seen = match.end()
                return match
            if time.monotonic() > deadline or not self._read(min(1.0, deadline - time.monotonic())):
                raise AssertionError(f"{pattern!r} did not appear; the screen after position {self.seen}:\n"
                                     f"{self.screen[self.seen:]}")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def end_of_input(self) -> None:
        os.write(self.master, b"\x04")

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        return self.process.wait(timeout=1)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.fixture
def chat(smollm2_gguf_path, tmp_path):
    terminal = Terminal([sys.executable, "-m", "workbench", "chat", smollm2_gguf_path, "--system",
                         "You are a helpful assistant.", "--max-new-tokens", "24"], cwd=tmp_path)
    yield terminal
    terminal.close()


def test_a_conversation_with_save_clear_and_exit(chat, tmp_path):
    chat.expect(r"Chatting with SmolLM2-135M-Instruct\.Q4_1")
    chat.expect("> ")
    chat.type("What is the capital of France?")
    chat.expect(r"What is the capital of France\?\n")  # the terminal's echo of the typed line
    start = chat.seen
    chat.expect("Paris")
    reply_end = chat.expect(r"\n> ").start()
    pieces = [text for position, text in chat.reads if start <= position < reply_end and text.strip()]
    assert len(pieces) >= 2, f"the reply arrived in one piece, not streamed: {pieces}"

    chat.type("/save saved/chat.json")
    chat.expect(r"Saved 3 messages to saved/chat\.json")
    saved = json.loads((tmp_path / "saved" / "chat.json").read_text())
    history = saved["chat_history"]
    assert [m["role"] for m in history] == ["system", "user", "assistant"]
    assert history[0]["content"] == "You are a helpful assistant."
    assert history[1]["content"] == "What is the capital of France?" and "Paris" in history[2]["content"]
    assert not [p for p in (tmp_path / "saved").iterdir() if p.name != "chat.json"]  # no temporary file left

    chat.type("/help")
    chat.expect(r"/clear.*\n.*/save.*\n.*/exit")
    chat.type("/clear")
    chat.expect("Cleared the conversation")
    chat.type("/save saved/cleared.json")
    chat.expect("Saved 1 messages")
    assert json.loads((tmp_path / "saved" / "cleared.json").read_text())["chat_history"] == history[:1]
    chat.type("What is the capital of France?")
    chat.expect("Paris")
    chat.expect(r"\n> ")
    chat.type("/exit")
    assert chat.wait() == 0


def test_a_model_folder_and_end_of_input(tiny_chat_model_path, tmp_path):
    chat = Terminal([sys.executable, "-m", "workbench", "chat", tiny_chat_model_path, "--max-new-tokens", "3"],
                    cwd=tmp_path)
    try:
        chat.expect(r"Chatting with tiny-chat-llama")
        chat.expect("> ")
        chat.type("/nonsense")
        chat.expect(r"Unknown command /nonsense")
        chat.type("Hello")
        chat.expect(r"\[cut at 3 tokens")  # a random model never says it is done
        chat.expect(r"\n> ")
        chat.end_of_input()
        assert chat.wait() == 0
        assert "Traceback" not in chat.screen
    finally:
        chat.close()


@pytest.mark.parametrize("args, message", [
    (["/no/such/model.gguf"], "no such .gguf file"),
    (["./missing-folder"], "no such file or folder"),
    (["chat_history/x/y"], "not a Hub repo id"),
])  # fmt: skip
def test_a_bad_model_path_is_a_one_line_error(args, message):
    result = workbench("chat", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("workbench chat: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr


def test_a_folder_that_is_not_a_model(tmp_path):
    result = workbench("chat", str(tmp_path))
    assert result.returncode == 2 and "without config.json" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "config.json").write_text("{}")
    result = workbench("chat", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error:" in line]) == 1, result.stderr


def test_the_command_line_is_light_and_explains_itself():
    code = "import sys, workbench.cli; print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
    help_text = workbench("chat", "--help").stdout
    for option in ("--max-new-tokens", "--system", "--dtype", "--do-sample", "--temperature", "--top-p", "--gguf-file",
                   "/save"):
        assert option in help_text
    assert workbench().returncode == 2
    assert workbench("chat", "x", "--max-new-tokens", "0").returncode == 2
