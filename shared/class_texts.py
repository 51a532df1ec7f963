"""Class-level texts name no trainee (issue 14; docs/personal-data.md).

A supervision note, an outcome's title, an endorsement's note, a session's reason for being
moved or cancelled and a talk's audience are about a class, a session or a class's outcome:
no one person's key seals them, so they stay readable on the topics for ever. A trainee named
in one could not be erased from it. So a text of this kind that holds the full name of a
trainee of the class is refused, and the message says where such content belongs (the
trainee's own record, evaluation or leave request, whose texts are sealed under their key).

The deciders apply the rule (pure); the handlers pass the names their reads hold for the
class (commands carry them, as they carry other facts read before deciding).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.errors import DomainError
from shared.personal import ERASED, UNREADABLE

# Two characters: a quarter of Chinese names have two (王伟), so three would let them through;
# a name of one character (a data-entry slip, or a mononym) is a single character of ordinary
# text and would refuse sentences that name nobody.
MIN_NAME = 2
# What stands in for a person, never a name of one.
NOT_NAMES = frozenset({ERASED, UNREADABLE})


def trainee_named(text: str, names: Iterable[str]) -> str | None:
    """The longest full name among `names` that `text` contains, or None."""
    if not text:
        return None
    found = [n for n in {(n or "").strip() for n in names} - NOT_NAMES if len(n) >= MIN_NAME and n in text]
    return max(found, key=len) if found else None


def refuse_named(text: str, names: Iterable[str], *, field: str, what: str, belongs: str) -> None:
    """Refuse (422) a class-level text naming a trainee: `what` names the text, `belongs`
    says where content about one trainee goes."""
    name = trainee_named(text, names)
    if name is not None:
        raise DomainError(f"{what}中出现了学员姓名“{name}”：{belongs}", code="trainee_named", field=field)
