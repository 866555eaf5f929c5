"""The README's commands run as written, in order, on a fresh demo workspace (only the port changes).

The README is the source of this test: a new line in one of its code blocks is run here too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .readme_commands import Command, Session, free_port, prepare_home, readme_commands, split_comment


def test_a_comment_starts_at_a_hash_outside_quotes() -> None:
    assert split_comment('dealflow deal create "Acme #1"   # a deal') == ('dealflow deal create "Acme #1"', "a deal")
    assert split_comment("curl -d name='A#B' http://x/#top") == ("curl -d name='A#B' http://x/#top", "")
    assert split_comment("make demo") == ("make demo", "")


def test_the_readme_says_what_to_expect_of_a_command() -> None:
    refused = Command(1, "dealflow deal move D-1 x", "refused (exit 3): every unmet criterion")
    assert (refused.expected_exit, refused.needs, refused.long_running) == (3, None, None)
    assert Command(2, "export X=1", "[needs a mail server]").needs == "a mail server"
    assert Command(3, "dealflow worker", "").long_running == "worker"
    assert Command(4, "dealflow worker --once", "").long_running is None
    assert Command(5, "make demo", "").for_port(9123) == "make demo PORT=9123"
    assert Command(6, "curl http://127.0.0.1:8000/x", "").for_port(9123) == "curl http://127.0.0.1:9123/x"


def test_the_readme_has_commands_for_every_journey_it_describes() -> None:
    texts = [c.text for c in readme_commands()]
    assert texts[0] == "make demo"
    for needed in ("dealflow serve", "dealflow worker", "dealflow import", "dealflow lead convert", "curl "):
        assert any(t.startswith(needed) for t in texts), needed


def test_every_readme_command_runs_as_written_in_order(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        message = "the README's commands call curl, which is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    prepare_home(tmp_path)
    port = free_port()
    session = Session(tmp_path, port)
    failures: list[str] = []
    ran = 0
    try:
        for command in readme_commands():
            if command.needs:
                continue
            result = session.run(command)
            ran += 1
            output = result.out + result.err
            if result.code not in (None, command.expected_exit) or "Traceback" in output:
                failures.append(
                    f"README line {command.line}: `{command.text}` ended with {result.code}, "
                    f"expected {command.expected_exit}:\n{output[-2000:]}"
                )
            if command.text.startswith("dealflow calendar url") and f":{port}/calendar/cal_" not in result.out:
                failures.append(f"the calendar feed is not on the server's port {port}: {result.out}")
    finally:
        stopped = session.close()
    assert not failures, "\n\n".join(failures)
    assert stopped == {"server": None, "worker": None}, "a server or the worker stopped on its own"
    assert ran > 60
