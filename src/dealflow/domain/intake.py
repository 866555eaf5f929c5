"""Lead intake rules: the values a form post may carry, and the keys duplicates are found by.

A duplicate is found by email (any case), by the email's domain against an account's domain
(free-mail domains say nothing about the company), or by the name of the person and company with
case, punctuation, accents and legal suffixes (Inc, Ltd, GmbH...) taken away.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dealflow.errors import InvalidInput
from dealflow.process.lead_intake import LEAD_COLUMNS, Form

EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)
FREE_MAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "hotmail.com", "hotmail.co.uk",
        "outlook.com", "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me",
        "protonmail.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "yandex.com", "yandex.ru",
        "zoho.com", "fastmail.com", "hey.com", "qq.com", "163.com", "126.com", "orange.fr", "free.fr",
        "laposte.net", "t-online.de", "libero.it", "wanadoo.fr", "btinternet.com", "comcast.net",
    }
)  # fmt: skip
LEGAL_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "ltd", "limited", "llc", "llp", "lp", "plc", "corp", "corporation", "co",
        "company", "gmbh", "ag", "kg", "ug", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as",
        "aps", "pty", "pte", "kk", "sl", "se", "the",
    }
)  # fmt: skip
_WORD = re.compile(r"[^\w]+")
MAX_OTHER = 1000  # characters, for a field the form does not declare a cap for


def _words(value: str | None) -> list[str]:
    if not value:
        return []
    folded = unicodedata.normalize("NFKD", value.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return [w for w in _WORD.split(plain.replace("_", " ")) if w]


def company_key(value: str | None) -> str | None:
    """A company's name for matching: ``Acme, Inc.`` and ``ACME`` give ``acme``."""
    words = _words(value)
    while words and words[-1] in LEGAL_SUFFIXES and len(words) > 1:
        words.pop()
    if words and words[0] == "the" and len(words) > 1:
        words.pop(0)
    return " ".join(words)[:200] or None


def person_key(value: str | None) -> str | None:
    """A person's name for matching: case, accents and punctuation removed."""
    return " ".join(_words(value))[:200] or None


def email_domain(email: str | None) -> str | None:
    """The domain of a work email, or None for free-mail and missing addresses."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower()
    return None if domain in FREE_MAIL else domain or None


def dedupe_keys(data: Mapping[str, Any]) -> dict[str, str | None]:
    """The lead columns duplicates are found by, from a LeadCreated payload."""
    email = data.get("email")
    return {
        "email_domain": email_domain(email),
        "person_key": person_key(data.get("name")),
        "company_key": company_key(data.get("company")),
    }


@dataclass(frozen=True)
class Submission:
    """A form post, checked: the lead's own columns and the other fields it collected."""

    name: str
    email: str | None
    company: str | None
    fields: dict[str, str]
    spam: bool = False


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    if isinstance(value, bool | int | float):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError
    return value.replace("\x00", "").strip()


def check_submission(form: Form, values: Mapping[str, Any]) -> Submission:
    """The post checked against the form: required fields, lengths, emails, choices; every
    problem raises InvalidInput naming the field. Text is kept as sent (pages escape it)."""
    if _text(values.get(form.honeypot, "")):
        return Submission(name="", email=None, company=None, fields={}, spam=True)
    clean: dict[str, str] = {}
    for spec in form.fields:
        try:
            value = _text(values.get(spec.key))
        except TypeError:
            raise InvalidInput("must be text", field=spec.key) from None
        if len(value) > spec.max_length:
            raise InvalidInput(f"too long ({len(value):,} characters; at most {spec.max_length:,})", field=spec.key)
        if not value:
            if spec.required:
                raise InvalidInput("must not be empty", field=spec.key)
            continue
        if spec.type == "email" and not EMAIL.match(value):
            raise InvalidInput(f"not an email address: {value[:60]!r}", field=spec.key)
        if spec.type == "choice" and spec.choices and value not in spec.choices:
            raise InvalidInput(f"must be one of {', '.join(spec.choices)}", field=spec.key)
        if spec.type == "number":
            try:
                float(value)
            except ValueError:
                raise InvalidInput(f"not a number: {value[:30]!r}", field=spec.key) from None
        clean[spec.key] = value
    others = {k: v for k, v in clean.items() if k not in LEAD_COLUMNS}
    email = clean.get("email")
    return Submission(
        name=clean["name"],
        email=email.lower() if email else None,
        company=clean.get("company"),
        fields=others,
    )
