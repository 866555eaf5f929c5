"""Fixtures of the integration tests: the command line, run in-process on a test workspace."""

from __future__ import annotations

import json

import pytest

from dealflow.cli.app import run


class Cli:
    """Runs ``dealflow`` in-process against one workspace and keeps what it printed."""

    def __init__(self, capsys: pytest.CaptureFixture[str], db: str) -> None:
        self.capsys, self.db = capsys, db
        self.out = self.err = ""

    def __call__(self, *args: str, db: bool = True) -> int:
        code = run([*args, *(["--db", self.db] if db else [])])
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        assert "Traceback" not in self.err
        return code

    def json(self, *args: str) -> object:
        assert self(*args, "--json") == 0, self.err
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], database_url: str) -> Cli:
    return Cli(capsys, database_url)


@pytest.fixture
def workspace(cli: Cli) -> Cli:
    assert cli("init", "--user", "founder") == 0, cli.err
    assert "added user founder" in cli.out
    return cli
