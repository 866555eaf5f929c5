"""Process files: valid files load; every kind of mistake is named with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from dealflow.errors import ProcessFileError
from dealflow.process.loading import load_process_file, load_template, parse_process

SOURCE = load_template("standard")[1]


def problems(text: str) -> list[str]:
    with pytest.raises(ProcessFileError) as caught:
        parse_process(text, name="p.yaml")
    return caught.value.problems


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


def test_unknown_criterion_kind_names_file_line_and_field() -> None:
    text = SOURCE.replace("      - kind: field\n        field: budget", "      - kind: fild\n        field: budget")
    found = problems(text)
    line = line_of(text, "      - kind: fild")
    assert found == [f"p.yaml:{line}: stages[1].exit[1]: unknown criterion kind 'fild'" + found[0].split("'fild'")[1]]
    assert "kinds: field, condition" in found[0]


def test_duplicate_stage_keys() -> None:
    text = SOURCE.replace("  - key: presentation", "  - key: discovery")
    (found,) = problems(text)
    second = [i + 1 for i, line in enumerate(text.splitlines()) if line == "  - key: discovery"][1]
    assert found == f"p.yaml:{second}: stages[3].key: duplicate stage key 'discovery' (also stages[2])"


def test_malformed_yaml_names_the_line() -> None:
    (found,) = problems("key: x\nname: [unclosed\nversion: 1\n")
    assert found.startswith("p.yaml:")
    assert "malformed YAML" in found


def test_unknown_field_in_required_and_in_condition() -> None:
    text = SOURCE.replace("required: [objections]", "required: [objectons]").replace(
        'expr: "amount > 0"', 'expr: "amont > 0"'
    )
    found = problems(text)
    assert any("stages[4].required[0]: unknown field 'objectons'" in p for p in found)
    assert any("stages[4].exit[1].expr: unknown field 'amont'" in p for p in found)


def test_condition_with_unsafe_syntax_is_refused_at_load() -> None:
    text = SOURCE.replace('expr: "amount > 0"', "expr: \"__import__('os').system('true')\"")
    (found,) = problems(text)
    assert "stages[4].exit[1].expr" in found
    assert "Attribute not allowed" in found


def test_a_stage_nobody_can_leave_towards_a_win() -> None:
    text = SOURCE.replace("  won:\n    required: [amount]", "  won:\n    from: [presentation]\n    required: [amount]")
    found = problems(text)
    assert any("stages[4]: stage 'objection_handling' can never be left towards a win" in p for p in found)
    assert any("stages[5]: stage 'closing' can never be left" in p for p in found)


def test_unknown_stage_in_a_skip_and_bad_duration() -> None:
    text = SOURCE.replace("  skips: []", "  skips:\n    - {from: prospecting, to: closng}")
    assert any("moves.skips[0].to: unknown stage 'closng'" in p for p in problems(text))
    text = SOURCE.replace("sla: 5d", "sla: 5 fortnights")
    (found,) = problems(text)
    assert f"p.yaml:{line_of(text, '    sla: 5 fortnights')}: stages[1].sla: not a duration" in found


def test_missing_required_setting_and_unknown_setting() -> None:
    found = problems(SOURCE.replace("name: Standard seven stages\n", "nmae: Standard seven stages\n"))
    assert any("name: 'name' is required" in p for p in found)
    assert any("nmae: unknown setting 'nmae'" in p for p in found)


def test_short_cadence_is_a_warning_not_an_error() -> None:
    start = SOURCE.index("cadence:")
    text = SOURCE[:start] + "cadence:\n  touches:\n    - {day: 0, channel: email}\n    - {day: 3, channel: call}\n"
    process, warnings = parse_process(text, name="p.yaml")
    assert process.key == "standard"
    assert len(warnings) == 1
    assert "only 2 touches; most sales need five or more follow-ups" in warnings[0]


def test_a_file_that_is_not_a_mapping_or_not_utf8(tmp_path: Path) -> None:
    (found,) = problems("- just\n- a list\n")
    assert found == "p.yaml:1: a process file must be a mapping of settings"
    bad = tmp_path / "latin.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ProcessFileError, match=r"latin.yaml: not UTF-8 text"):
        load_process_file(bad)


def test_shipped_frameworks_are_added_when_named() -> None:
    process = load_template("standard")[0]
    bant = process.framework("bant")
    assert bant is not None
    assert [e.key for e in bant.elements] == ["budget", "authority", "need", "timeline"]
    saas = load_template("saas")[0]
    meddic = saas.framework("meddic")
    assert meddic is not None
    assert len(meddic.elements) == 6


def test_a_shipped_framework_named_only_in_an_outcome_is_added() -> None:
    without_leads = SOURCE.split("\nleads:\n")[0] + "\n"  # its conversion gate names BANT too
    text = without_leads.replace("qualification: bant\n", "").replace(
        "      - kind: qualification\n        framework: bant\n        min: 3\n        max_age: 90d\n"
        "        message: BANT not qualified (at least 3 of 4 confirmed in the last 90 days)\n",
        "",
    )
    text = text.replace(
        "    criteria:\n      - kind: document",
        "    criteria:\n      - kind: qualification\n        framework: meddic\n        min: 4\n      - kind: document",
    )
    process, _ = parse_process(text, name="p.yaml")
    assert [f.key for f in process.frameworks] == ["meddic"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("round(amount) > 0", "unknown function 'round'"),
        ("amount.real > 0", "Attribute not allowed"),
        ("close_date > 'soon'", "can never be evaluated"),
        ("amount > 'a lot'", "can never be evaluated"),
    ],
)
def test_a_condition_that_could_never_pass_is_refused_at_load(expr: str, expected: str) -> None:
    text = SOURCE.replace('expr: "amount > 0"', f'expr: "{expr}"')
    (found,) = problems(text)
    line = line_of(text, f'        expr: "{expr}"')
    assert found.startswith(f"p.yaml:{line}: stages[4].exit[1].expr: ")
    assert expected in found


@pytest.mark.parametrize(
    "expr",
    [
        "amount > 0 and urgency in ('high', 'medium')",
        "close_date > today",
        "close_date <= date('2027-12-31')",
        "days_until(close_date) < 90",
        "len(pain) >= 10",
        "amount / 2 > 100",
    ],
)
def test_conditions_over_tuples_dates_and_functions_load(expr: str) -> None:
    process, _ = parse_process(SOURCE.replace('expr: "amount > 0"', f'expr: "{expr}"'), name="p.yaml")
    stage = process.stage("objection_handling")
    assert stage is not None
    assert [c.expr for c in stage.exit if c.kind == "condition"] == [expr]


def test_the_first_stage_cannot_have_entry_criteria() -> None:
    text = SOURCE.replace(
        "    owner_role: sdr\n", "    owner_role: sdr\n    entry:\n      - kind: field\n        field: source\n", 1
    )
    (found,) = problems(text)
    assert "stages[0].entry: the first stage cannot have entry criteria" in found


def test_a_skip_into_a_post_sale_stage_is_refused() -> None:
    process, _ = parse_process(SOURCE, name="p.yaml")
    post = next(s.key for s in process.stages if s.post_sale)
    assert "  skips: []\n" in SOURCE
    text = SOURCE.replace("  skips: []\n", f"  skips:\n    - from: proposal\n      to: {post}\n")
    found = problems(text)
    assert any(f"'{post}' is a post-sale stage: deals enter it by being won" in p for p in found)


def test_a_broken_stage_does_not_also_report_the_stage_list_as_too_short() -> None:
    text = """key: t
name: T
version: 1
roles: [ae]
stages:
  - key: a
    name: A
    owner_role: ae
    exit:
      - kind: fild
  - key: b
    name: B
    owner_role: ae
"""
    found = problems(text)
    assert len(found) == 1
    assert "stages[0].exit[0]: unknown criterion kind 'fild'" in found[0]
