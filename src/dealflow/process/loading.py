"""Reading process files: YAML into a validated :class:`Process`, errors pinned to file and line."""

from __future__ import annotations

import io
from collections.abc import Iterator
from importlib import resources
from pathlib import Path as FilePath
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from dealflow.errors import ProcessFileError
from dealflow.process.checks import Path, Problem, check_process
from dealflow.process.criteria import CRITERION_KINDS
from dealflow.process.models import Framework, Process
from dealflow.process.yaml_tree import dotted, key_lines, plain

MAX_FILE_BYTES = 1_000_000
_CRITERIA_LISTS = ("entry", "exit", "criteria")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _pydantic_problems(exc: ValidationError) -> Iterator[Problem]:
    errors = exc.errors()
    # A list whose items failed is also reported as too short (failed items do not count); that
    # follow-on error would only mislead, so it is dropped when an error inside the list is reported.
    inside = {tuple(e["loc"][:i]) for e in errors for i in range(1, len(e["loc"]))}
    for error in errors:
        if error["type"] == "too_short" and tuple(error["loc"]) in inside:
            continue
        loc: list[str | int] = list(error["loc"])
        # A criterion's own errors carry its kind as an extra step after the list index.
        for i in range(len(loc) - 1, 0, -1):
            if isinstance(loc[i - 1], int) and i >= 2 and loc[i - 2] in _CRITERIA_LISTS and loc[i] in CRITERION_KINDS:
                del loc[i]
        message = error["msg"]
        if error["type"] == "union_tag_invalid":
            message = f"unknown criterion kind {error['ctx']['tag']!r}"
            message += f" (kinds: {', '.join(CRITERION_KINDS)})"
        elif error["type"] == "union_tag_not_found":
            message = f"a criterion needs a kind (kinds: {', '.join(CRITERION_KINDS)})"
        elif error["type"] == "extra_forbidden":
            message = f"unknown setting '{loc[-1]}'"
        elif error["type"] == "missing":
            message = f"'{loc[-1]}' is required"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        yield Problem(tuple(loc), message)


def _line_of(path: Path, lines: dict[Path, int]) -> int:
    for cut in range(len(path), 0, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return 1


def shipped_frameworks() -> dict[str, Framework]:
    """The qualification frameworks dealflow ships as data (BANT, MEDDIC)."""
    found: dict[str, Framework] = {}
    for entry in resources.files("dealflow.process").joinpath("frameworks").iterdir():
        if entry.name.endswith(".yaml"):
            framework = Framework.model_validate(plain(_yaml().load(entry.read_text("utf-8"))))
            found[framework.key] = framework
    return found


def _add_shipped_frameworks(data: dict[str, Any]) -> None:
    """Let a process name a shipped framework without copying it into the file."""
    declared = {f.get("key") for f in data.get("frameworks") or [] if isinstance(f, dict)}
    wanted = {data.get("qualification")}
    for stage in data.get("stages") or []:
        for part in ("entry", "exit"):
            for criterion in (stage.get(part) or []) if isinstance(stage, dict) else []:
                if isinstance(criterion, dict) and criterion.get("kind") == "qualification":
                    wanted.add(criterion.get("framework"))
    for outcome in (data.get("outcomes") or {}).values():
        for criterion in (outcome.get("criteria") or []) if isinstance(outcome, dict) else []:
            if isinstance(criterion, dict) and criterion.get("kind") == "qualification":
                wanted.add(criterion.get("framework"))
    conversion = ((data.get("leads") or {}).get("conversion") or {}) if isinstance(data.get("leads"), dict) else {}
    for criterion in (conversion.get("criteria") or []) if isinstance(conversion, dict) else []:
        if isinstance(criterion, dict) and criterion.get("kind") == "qualification":
            wanted.add(criterion.get("framework"))
    shipped = shipped_frameworks()
    extra = [shipped[k].model_dump() for k in sorted(wanted - declared, key=str) if k in shipped]
    if extra:
        data["frameworks"] = [*(data.get("frameworks") or []), *extra]


def parse_process(text: str, *, name: str = "<process>") -> tuple[Process, list[str]]:
    """Validate process YAML; return the process and its warnings or raise ProcessFileError."""
    try:
        tree = _yaml().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ProcessFileError([f"{name}:{line}: malformed YAML: {exc.problem}"]) from None
    except YAMLError as exc:
        raise ProcessFileError([f"{name}:1: malformed YAML: {exc}"]) from None
    if not isinstance(tree, CommentedMap):
        raise ProcessFileError([f"{name}:1: a process file must be a mapping of settings"])
    lines = dict(key_lines(tree))
    data = plain(tree)
    _add_shipped_frameworks(data)

    def render(problems: list[Problem]) -> list[str]:
        ordered = sorted(problems, key=lambda p: _line_of(p.path, lines))
        return [f"{name}:{_line_of(p.path, lines)}: {dotted(p.path)}: {p.message}" for p in ordered]

    try:
        process = Process.model_validate(data)
    except ValidationError as exc:
        raise ProcessFileError(render(list(_pydantic_problems(exc)))) from None
    problems = check_process(process)
    errors = [p for p in problems if not p.warning]
    if errors:
        raise ProcessFileError(render(errors))
    return process, render([p for p in problems if p.warning])


def load_process_file(path: FilePath) -> tuple[Process, list[str]]:
    """Read and validate a process file from disk; errors name the file and the line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProcessFileError([f"{path}: cannot read the file: {exc.strerror}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ProcessFileError([f"{path.name}: file is larger than {MAX_FILE_BYTES} bytes"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProcessFileError([f"{path.name}: not UTF-8 text (byte {exc.start})"]) from None
    return parse_process(text, name=path.name)


def template_names() -> list[str]:
    """The names of the process templates dealflow ships."""
    folder = resources.files("dealflow.process").joinpath("templates")
    return sorted(e.name.removesuffix(".yaml") for e in folder.iterdir() if e.name.endswith(".yaml"))


def load_template(name: str) -> tuple[Process, str]:
    """A shipped template by name: the validated process and its YAML text."""
    if name not in template_names():
        raise ProcessFileError([f"unknown template '{name}' (templates: {', '.join(template_names())})"])
    text = resources.files("dealflow.process").joinpath("templates", f"{name}.yaml").read_text("utf-8")
    process, _ = parse_process(text, name=f"{name}.yaml")
    return process, text
