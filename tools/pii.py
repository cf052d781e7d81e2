"""Find personal data and secrets in text: pattern recognisers with checksums, no models.

Kinds: EMAIL, PHONE, CARD (13-19 digits passing Luhn), IBAN (ISO 13616 mod-97), SECRET
(well-known API key and token shapes, private key blocks, `password=…`-style assignments)
and IP (v4 and v6, checked by `ipaddress`). Presidio's analyzer would need a spaCy model
even with pattern recognisers only, so these are our own. Recognisers run in priority order
(a secret that contains an e-mail address is one secret) and matches never overlap.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PiiKind = Literal["SECRET", "EMAIL", "IBAN", "CARD", "IP", "PHONE"]
KINDS: tuple[PiiKind, ...] = ("SECRET", "EMAIL", "IBAN", "CARD", "IP", "PHONE")
PLACEHOLDER = re.compile(r"<(SECRET|EMAIL|IBAN|CARD|IP|PHONE)_(\d{1,9})>")


class PiiConfig(BaseModel):
    """The agent spec's `pii:` section: mask personal data in tool output before the model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    kinds: list[PiiKind] = Field(default_factory=lambda: list(KINDS), min_length=1)


@dataclass(frozen=True)
class PiiMatch:
    kind: PiiKind
    start: int
    end: int
    value: str


_SECRET_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|\b(?:sk|pk|rk)-(?:[a-z]+-)?[A-Za-z0-9_-]{20,}"  # OpenAI / Stripe style
    r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\bAIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWT
    re.DOTALL,
)
# `password: hunter22`, `api_key="…"`, `Authorization: Bearer …`: only the value is masked.
_SECRET_ASSIGNED = re.compile(
    r"(?i)\b(?:api[_-]?key|access[_-]?key|secret(?:[_-]?key)?|client[_-]?secret|token|"
    r"auth[_-]?token|password|passwd|pwd)[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"',;<>]{8,})"
    r"|\b[Bb]earer\s+(?P<bearer>[A-Za-z0-9._~+/-]{16,}=*)"
)
_EMAIL = re.compile(
    r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,}\b"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
    r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})(?![\w])"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 is 1."""
    compact = iban.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _card(match: re.Match[str]) -> str | None:
    digits = re.sub(r"[ -]", "", match.group())
    return match.group() if 13 <= len(digits) <= 19 and luhn_ok(digits) else None


def _iban(match: re.Match[str]) -> str | None:
    return match.group() if iban_ok(match.group()) else None


def _ip(match: re.Match[str]) -> str | None:
    try:
        ipaddress.ip_address(match.group())
    except ValueError:
        return None
    return match.group()


def _phone(match: re.Match[str]) -> str | None:
    digits = re.sub(r"\D", "", match.group())
    return match.group() if 7 <= len(digits) <= 15 else None


def _whole(match: re.Match[str]) -> str | None:
    return match.group()


Check = Callable[[re.Match[str]], str | None]
_RECOGNISERS: dict[PiiKind, list[tuple[re.Pattern[str], Check]]] = {
    "SECRET": [(_SECRET_SHAPES, _whole)],
    "EMAIL": [(_EMAIL, _whole)],
    "IBAN": [(_IBAN, _iban)],
    "CARD": [(_CARD, _card)],
    "IP": [(_IPV4, _ip), (_IPV6, _ip)],
    "PHONE": [(_PHONE, _phone)],
}


def find_pii(text: str, kinds: Iterable[PiiKind] = KINDS) -> list[PiiMatch]:
    """Every match of `kinds` in `text`, in text order, none overlapping another."""
    wanted = set(kinds)
    found: list[PiiMatch] = []
    for kind in KINDS:
        if kind not in wanted:
            continue
        for match in _candidates(kind, text):
            if not any(match.start < m.end and m.start < match.end for m in found):
                found.append(match)
    return sorted(found, key=lambda m: m.start)


def _candidates(kind: PiiKind, text: str) -> Iterable[PiiMatch]:
    if kind == "SECRET":
        for assigned in _SECRET_ASSIGNED.finditer(text):
            group = "value" if assigned.group("value") is not None else "bearer"
            if not PLACEHOLDER.fullmatch(assigned.group(group)):
                yield PiiMatch(kind, *assigned.span(group), assigned.group(group))
    for pattern, check in _RECOGNISERS[kind]:
        for match in pattern.finditer(text):
            value = check(match)
            if value is not None and not PLACEHOLDER.fullmatch(value):
                yield PiiMatch(kind, match.start(), match.end(), value)
