"""Rules that tie the parts of a process together, each problem pinned to its place in the file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from dealflow.process.criteria import Condition, Criterion, FieldCaptured, QualificationScore
from dealflow.process.expressions import FUNCTION_NAMES, referenced_names, type_problem
from dealflow.process.lead_scoring import COMMON_ANSWERS, DERIVED_NAMES, LEAD_ATTRIBUTES, LEAD_CRITERION_KINDS
from dealflow.process.models import BUILTIN_FIELDS, CONTEXT_ITEMS, Cadence, FieldType, Process

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a process file: where it is and what is wrong."""

    path: Path
    message: str
    warning: bool = False


def check_process(process: Process) -> list[Problem]:
    """Every problem in a structurally valid process; an empty list means it is sound."""
    return [
        *_unique_stage_keys(process),
        *_known_roles(process),
        *_known_fields(process),
        *_criteria(process),
        *_moves(process),
        *_every_stage_can_be_left(process),
        *_cadence(process),
        *_lead_cadence(process),
        *_lead_intake(process),
        *_lead_rules(process),
    ]


def _unique_stage_keys(process: Process) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for i, stage in enumerate(process.stages):
        if stage.key in seen:
            yield Problem(
                ("stages", i, "key"),
                f"duplicate stage key '{stage.key}' (also stages[{seen[stage.key]}])",
            )
        seen.setdefault(stage.key, i)
    if process.stages and process.stages[0].post_sale:
        yield Problem(("stages", 0, "post_sale"), "the first stage cannot be a post-sale stage")
    if process.stages and process.stages[0].entry:
        yield Problem(
            ("stages", 0, "entry"),
            "the first stage cannot have entry criteria: every deal starts there (use exit criteria instead)",
        )
    post = [s.post_sale for s in process.stages]
    if any(post) and post != sorted(post):
        first = post.index(True)
        yield Problem(("stages", first, "post_sale"), "post-sale stages must come after all others")


def _known_roles(process: Process) -> Iterator[Problem]:
    for i, stage in enumerate(process.stages):
        if stage.owner_role not in process.roles:
            yield Problem(
                ("stages", i, "owner_role"),
                f"unknown role '{stage.owner_role}' (roles: {', '.join(process.roles)})",
            )
    for i, role in enumerate(process.overrides.roles):
        if role not in process.roles:
            yield Problem(("overrides", "roles", i), f"unknown role '{role}'")
    for kind, approval in process.approvals.items():
        for i, role in enumerate(approval.roles):
            if role not in process.roles:
                known = ", ".join(process.roles)
                yield Problem(("approvals", kind, "roles", i), f"unknown role '{role}' (roles: {known})")


def _field_problem(process: Process, path: Path, name: str) -> Iterator[Problem]:
    if process.field_type(name) is None:
        yield Problem(path, f"unknown field '{name}' (declare it under fields)")


def _known_fields(process: Process) -> Iterator[Problem]:
    for key, spec in process.fields.items():
        if key in BUILTIN_FIELDS:
            yield Problem(("fields", key), f"'{key}' is a built-in field and cannot be redeclared")
        if spec.type == "choice" and not spec.choices:
            yield Problem(("fields", key, "choices"), "a choice field needs a list of choices")
    for i, stage in enumerate(process.stages):
        for j, name in enumerate(stage.required):
            yield from _field_problem(process, ("stages", i, "required", j), name)
        for j, item in enumerate(stage.handoff.context):
            if item not in CONTEXT_ITEMS:
                yield from _field_problem(process, ("stages", i, "handoff", "context", j), item)
    for outcome_name in ("won", "lost", "disqualified"):
        outcome = getattr(process.outcomes, outcome_name)
        for j, name in enumerate(outcome.required):
            yield from _field_problem(process, ("outcomes", outcome_name, "required", j), name)
        for j, key in enumerate(outcome.from_ or ()):
            if process.stage(key) is None:
                yield Problem(("outcomes", outcome_name, "from", j), f"unknown stage '{key}'")


def _all_criteria(process: Process) -> Iterator[tuple[Path, Criterion]]:
    for i, stage in enumerate(process.stages):
        for part in ("entry", "exit"):
            for j, criterion in enumerate(getattr(stage, part)):
                yield ("stages", i, part, j), criterion
    for outcome_name in ("won", "lost", "disqualified"):
        for j, criterion in enumerate(getattr(process.outcomes, outcome_name).criteria):
            yield ("outcomes", outcome_name, "criteria", j), criterion


_SAMPLE_DATE = date(2000, 1, 1)


def _sample(process: Process, name: str) -> object:
    """An example value of field ``name``, as a condition sees it."""
    kind: FieldType | None = process.field_type(name)
    match kind:
        case "money" | "number":
            return 1.0
        case "date":
            return _SAMPLE_DATE
        case "choice":
            return process.fields[name].choices[0] if process.fields[name].choices else ""
        case _:
            return "text"


def _condition_problems(process: Process, path: Path, expr: str) -> Iterator[Problem]:
    names = sorted(n for n in referenced_names(expr) if n not in FUNCTION_NAMES)
    unknown = [n for n in names if process.field_type(n) is None]
    for name in unknown:
        yield from _field_problem(process, (*path, "expr"), name)
    if unknown:
        return
    sample = {name: _sample(process, name) for name in names}
    problem = type_problem(expr, sample=sample, today=_SAMPLE_DATE)
    if problem is not None:
        yield Problem((*path, "expr"), f"{expr!r} can never be evaluated: {problem}")


def _criteria(process: Process) -> Iterator[Problem]:
    for path, criterion in _all_criteria(process):
        match criterion:
            case FieldCaptured(field=name):
                yield from _field_problem(process, (*path, "field"), name)
            case Condition(expr=expr):
                yield from _condition_problems(process, path, expr)
            case QualificationScore(framework=key, min=minimum):
                framework = process.framework(key)
                if framework is None:
                    yield Problem((*path, "framework"), f"unknown qualification framework '{key}'")
                elif minimum > len(framework.elements):
                    yield Problem(
                        (*path, "min"),
                        f"{key} has {len(framework.elements)} elements; a score of {minimum} can never be reached",
                    )
            case _:
                pass
    if process.qualification and process.framework(process.qualification) is None:
        yield Problem(("qualification",), f"unknown qualification framework '{process.qualification}'")


def _moves(process: Process) -> Iterator[Problem]:
    for i, key in enumerate(process.moves.create_in):
        stage = process.stage(key)
        if stage is None:
            yield Problem(("moves", "create_in", i), f"unknown stage '{key}'")
        elif stage.post_sale:
            yield Problem(
                ("moves", "create_in", i),
                f"'{key}' is a post-sale stage: deals enter it by being won, not by being created there",
            )
    for i, skip in enumerate(process.moves.skips):
        source, target = process.stage(skip.from_), process.stage(skip.to)
        if source is None:
            yield Problem(("moves", "skips", i, "from"), f"unknown stage '{skip.from_}'")
        if target is None:
            yield Problem(("moves", "skips", i, "to"), f"unknown stage '{skip.to}'")
        for end, stage in (("from", source), ("to", target)):
            if stage is not None and stage.post_sale:
                yield Problem(
                    ("moves", "skips", i, end),
                    f"'{stage.key}' is a post-sale stage: deals enter it by being won, not by a skip",
                )
        if source and target and process.index(skip.to) <= process.index(skip.from_) + 1:
            yield Problem(
                ("moves", "skips", i),
                f"a skip must jump over at least one stage ('{skip.from_}' to '{skip.to}')",
            )


def _every_stage_can_be_left(process: Process) -> Iterator[Problem]:
    """A sales stage from which the won outcome can never be reached traps its deals."""
    sales = [s.key for s in process.sales_stages]
    won_from = set(process.won_from)
    for i, stage in enumerate(process.stages):
        if stage.post_sale or stage.key not in sales:
            continue
        reachable = set(sales[sales.index(stage.key) :])
        reachable |= {skip.to for skip in process.moves.skips}
        if not reachable & won_from:
            yield Problem(
                ("stages", i),
                f"stage '{stage.key}' can never be left towards a win "
                f"(won is allowed only from: {', '.join(sorted(won_from))})",
            )
        blockers = [c for c in stage.exit if isinstance(c, Condition) and c.expr.strip() == "False"]
        if blockers:
            yield Problem(("stages", i, "exit"), f"stage '{stage.key}' has an exit that never passes")


def _cadence(process: Process) -> Iterator[Problem]:
    yield from _cadence_problems(process.cadence, ("cadence",))


def _lead_cadence(process: Process) -> Iterator[Problem]:
    yield from _cadence_problems(process.leads.cadence, ("leads", "cadence"))


def _cadence_problems(cadence: Cadence, path: Path) -> Iterator[Problem]:
    touches = cadence.touches
    days = [t.day for t in touches]
    if days != sorted(days):
        yield Problem((*path, "touches"), "touches must be in order of their day")
    if len(touches) < 5:
        yield Problem(
            (*path, "touches"),
            f"only {len(touches)} touches; most sales need five or more follow-ups",
            warning=True,
        )
    if len(set(cadence.stop_on)) != len(cadence.stop_on):
        yield Problem((*path, "stop_on"), "each outcome may be listed once")


def _lead_intake(process: Process) -> Iterator[Problem]:
    """Forms have distinct keys; routing names roles the process has and fields some form collects."""
    leads = process.leads
    seen: set[str] = set()
    for i, form in enumerate(leads.forms):
        if form.key in seen:
            yield Problem(("leads", "forms", i, "key"), f"duplicate form key '{form.key}'")
        seen.add(form.key)
    routing = leads.routing
    if routing is None:
        return
    if routing.role not in process.roles:
        yield Problem(
            ("leads", "routing", "role"), f"unknown role '{routing.role}' (roles: {', '.join(process.roles)})"
        )
    collected = {f.key for form in leads.forms for f in form.fields} | {"source", "form"}
    fallbacks: list[tuple[Path, object]] = [(("leads", "routing", "fallback"), routing.fallback)]
    for i, rule in enumerate(routing.rules):
        fallbacks.append((("leads", "routing", "rules", i, "fallback"), rule.fallback))
        for name in rule.when:
            if leads.forms and name not in collected:
                yield Problem(
                    ("leads", "routing", "rules", i, "when", name),
                    f"no form collects '{name}', so this rule only matches leads imported with it",
                    warning=True,
                )
        for user in rule.weights:
            if rule.users and user not in rule.users:
                yield Problem(
                    ("leads", "routing", "rules", i, "weights", user), f"'{user}' is not in this rule's users"
                )
    for path, fallback in fallbacks:
        role = getattr(fallback, "role", None)
        if role is not None and role not in process.roles:
            yield Problem((*path, "role"), f"unknown role '{role}' (roles: {', '.join(process.roles)})")
    if routing.rules and routing.fallback is None:
        yield Problem(
            ("leads", "routing", "fallback"),
            "no fallback: a lead no rule can place goes to an admin (declare who should get it)",
            warning=True,
        )


def _lead_rules(process: Process) -> Iterator[Problem]:
    """The lead sections: conversion criteria a lead can meet, known roles and frameworks."""
    conversion = process.leads.conversion
    for j, criterion in enumerate(conversion.criteria):
        path: Path = ("leads", "conversion", "criteria", j)
        if criterion.kind not in LEAD_CRITERION_KINDS:
            kinds = ", ".join(LEAD_CRITERION_KINDS)
            yield Problem((*path, "kind"), f"a lead cannot meet a '{criterion.kind}' criterion (use {kinds})")
        elif isinstance(criterion, QualificationScore):
            framework = process.framework(criterion.framework)
            if framework is None:
                yield Problem((*path, "framework"), f"unknown qualification framework '{criterion.framework}'")
            elif criterion.min > len(framework.elements):
                yield Problem((*path, "min"), f"{framework.key} has {len(framework.elements)} elements")
            elif process.qualification and criterion.framework != process.qualification:
                yield Problem(
                    (*path, "framework"),
                    f"leads are qualified with {process.qualification}, so a {criterion.framework} score is never met",
                )
    for j, role in enumerate(conversion.override_roles or ()):
        if role not in process.roles:
            yield Problem(("leads", "conversion", "override_roles", j), f"unknown role '{role}'")
    known = {*process.fields, *BUILTIN_FIELDS, *LEAD_ATTRIBUTES, *DERIVED_NAMES, *COMMON_ANSWERS}
    for kind in ("fit", "intent"):
        for j, rule in enumerate(getattr(process.leads.scoring, kind)):
            names = referenced_names(rule.when) if rule.when else {rule.field or ""}
            for name in sorted(n for n in names if n not in known and n not in FUNCTION_NAMES):
                yield Problem(
                    ("leads", "scoring", kind, j),
                    f"'{name}' is neither a field of the process nor a usual answer: check the spelling "
                    "(the rule fires only for leads whose answers carry it)",
                    warning=True,
                )
    if not process.qualification and any(isinstance(c, QualificationScore) for c in conversion.criteria):
        yield Problem(("qualification",), "name the framework leads are qualified with", warning=True)
