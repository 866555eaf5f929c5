"""The README's commands, read from its code blocks, and a shell session that runs them in order.

The README is the source: every line of a code block that is not a comment is a command a newcomer
types. Its trailing comment may say what to expect:

- ``exit N`` (for instance ``# refused (exit 3): ...``): the command ends with that exit code;
- ``[needs ...]`` (for instance ``# [needs a mail server]``): it needs a service outside this
  machine, so it is not run here.

Everything else must exit 0. Commands that run until stopped (``make demo``, ``dealflow serve``,
``dealflow worker`` without ``--once``) are started in the background and checked; each one runs
until the next of its kind replaces it, as a newcomer would press Ctrl-C first, or until the end.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PORT = "8000"
EXIT = re.compile(r"\bexit (\d+)\b")
NEEDS = re.compile(r"\[needs ([^\]]+)\]")
SERVER = re.compile(r"^(make demo|(\.venv/bin/)?dealflow serve)\b")
WORKER = re.compile(r"^(\.venv/bin/)?dealflow worker\b(?!.*--once)")


@dataclass(frozen=True)
class Command:
    """One line of a README code block."""

    line: int
    text: str
    comment: str

    @property
    def expected_exit(self) -> int:
        """The exit code the README says this command ends with (0 unless it says otherwise)."""
        found = EXIT.search(self.comment)
        return int(found.group(1)) if found else 0

    @property
    def needs(self) -> str | None:
        """The outside service this command needs, if the README marks one."""
        if self.text.startswith("make test"):
            return "the test run itself"
        found = NEEDS.search(self.comment)
        return found.group(1) if found else None

    @property
    def long_running(self) -> str | None:
        """``server`` or ``worker`` for a command that runs until stopped, else None."""
        if SERVER.match(self.text):
            return "server"
        return "worker" if WORKER.match(self.text) else None

    def for_port(self, port: int) -> str:
        """The command with the README's port replaced by ``port`` (``make demo`` is given it)."""
        text = self.text.replace(PORT, str(port))
        if text.startswith("make demo") and "PORT=" not in text:
            text += f" PORT={port}"
        return text


def split_comment(line: str) -> tuple[str, str]:
    """The command and its trailing comment: a ``#`` that starts a word outside quotes, as in bash."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip(), line[i + 1 :].strip()
    return line.strip(), ""


def readme_commands(path: Path = README) -> Iterator[Command]:
    """Every command of the README's code blocks, in order."""
    inside = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if raw.lstrip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        text, comment = split_comment(raw)
        if text:
            yield Command(number, text, comment)


@dataclass
class Result:
    """What one command did."""

    command: Command
    code: int | None
    out: str
    err: str


def free_port() -> int:
    """A port no one listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Session:
    """A newcomer's terminal: the README's commands run one by one in ``home``, exports kept between them."""

    def __init__(self, home: Path, port: int, timeout: float = 300) -> None:
        self.home, self.port, self.timeout = home, port, timeout
        self.env = self._clean_env()
        self.running: dict[str, tuple[subprocess.Popen[bytes], Command]] = {}
        self._env_file = home / ".readme-env"

    @staticmethod
    def _clean_env() -> dict[str, str]:
        """The caller's environment without the workspace settings or a dealflow already on the PATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DEALFLOW_", "VIRTUAL_ENV", "PYTEST"))}
        path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "dealflow").exists()]
        env["PATH"] = os.pathsep.join(path)
        return env

    def _script(self, text: str) -> str:
        return f"set -eo pipefail\ntrap 'env -0 > {self._env_file}' EXIT\n{text}\n"

    def run(self, command: Command) -> Result:
        """Run one command; a long-running one is started, checked, and left running."""
        text = command.for_port(self.port)
        kind = command.long_running
        if kind is not None:
            return self._start(kind, command, text)
        self._env_file.unlink(missing_ok=True)
        done = subprocess.run(
            ["bash", "-c", self._script(text)],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            timeout=self.timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if self._env_file.exists():
            pairs = self._env_file.read_bytes().decode().split("\0")
            self.env = dict(p.split("=", 1) for p in pairs if "=" in p)
        return Result(command, done.returncode, done.stdout.decode(), done.stderr.decode())

    def _start(self, kind: str, command: Command, text: str) -> Result:
        self._stop(kind)
        log = self.home / f".readme-{kind}-{command.line}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {text}"],
                cwd=self.home,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.running[kind] = (process, command)
        up = self._wait_up(process, kind)
        output = log.read_text(encoding="utf-8", errors="replace")
        return Result(command, None if up else process.poll() or -1, output, "")

    def _wait_up(self, process: subprocess.Popen[bytes], kind: str) -> bool:
        """Whether the server answers on its port (or the worker is still running) before the timeout."""
        deadline = time.monotonic() + self.timeout
        settle = time.monotonic() + 3
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if kind == "worker":
                if time.monotonic() > settle:
                    return True
            else:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return True
                except OSError:
                    pass
            time.sleep(0.2)
        return False

    def _stop(self, kind: str) -> None:
        if kind not in self.running:
            return
        process, _ = self.running.pop(kind)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def close(self) -> dict[str, int | None]:
        """Stop what still runs; the exit code each long-running command had stopped with on its own."""
        ended = {kind: p.poll() for kind, (p, _) in self.running.items()}
        for kind in list(self.running):
            self._stop(kind)
        return ended


def prepare_home(home: Path) -> None:
    """A folder that looks like a fresh checkout to the README, its set-up already done."""
    for name in ("Makefile", "pyproject.toml", "README.md", "docs", ".venv", "src"):
        (home / name).symlink_to(ROOT / name)


def main() -> None:
    """Run the README in a temporary folder and print each command's result (for trying it by hand)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        prepare_home(home)
        session = Session(home, free_port())
        try:
            for command in readme_commands():
                if command.needs:
                    print(f"-- {command.line}: skipped, needs {command.needs}: {command.text}")
                    continue
                result = session.run(command)
                mark = "ok" if result.code in (None, command.expected_exit) else f"FAILED ({result.code})"
                print(f"-- {command.line}: {mark}: {command.text}")
                if mark != "ok":
                    print(result.out[-3000:], result.err[-3000:])
        finally:
            session.close()


if __name__ == "__main__":
    main()
