"""Topic layout: one topic per (service, jurisdiction).

`ganxun.<service>.<code>` holds the events of one service's aggregates in one
jurisdiction, keyed by stream id. Kafka's prefixed ACLs then map onto
jurisdictions: a county principal may write only `ganxun.<service>.371428`; a
province principal reads the prefix `ganxun.<service>.43`. A county also reads the
exact topics of its city and province, which carry province-run classes whose
trainees come from several counties. See docs/backbone.md, "Topic layout".

`ganxun.erasures.<code>` carries a copy of each `CadreErased` of the jurisdiction (the
original stays on selection's topic, in its stream's order): every projection that does
not follow selection reads these instead of all of selection's traffic
(docs/personal-data.md).
"""

from __future__ import annotations

import functools
import re

from shared import jurisdiction as jur

PREFIX = "ganxun"
SERVICES = ("selection", "teaching", "records", "followup", "accounts", "reminders")
ERASURES = "erasures"
# What the topics of a jurisdiction are named after: the services, and the erasures.
STREAMS = (*SERVICES, ERASURES)


def events_topic(service: str, code: str) -> str:
    return f"{PREFIX}.{service}.{jur.validate(code)}"


def erasures_topic(code: str) -> str:
    return events_topic(ERASURES, code)


_EVENTS = re.compile(rf"^{re.escape(PREFIX)}\.(?:{'|'.join(STREAMS)})\.([1-9]\d{{5}})$")


# Cached: a projector asks for each record it reads, of a deployment's few topics.
@functools.lru_cache(maxsize=4096)
def code_of(topic: str) -> str | None:
    """The jurisdiction an events topic belongs to (None if `topic` is not one)."""
    m = _EVENTS.match(topic)
    return m.group(1) if m else None


def dead_letter_topic(service: str, deployment: str) -> str:
    return f"{PREFIX}.dlq.{service}.{deployment}"


def source_pattern(service: str, codes: list[str], include_ancestors: bool = False) -> re.Pattern[str]:
    """The topics of `service` a deployment serving `codes` follows."""
    alts: list[str] = []
    for code in codes:
        p = jur.prefix(code)
        alts.append(re.escape(p) + (rf"\d{{{6 - len(p)}}}" if len(p) < 6 else ""))
        if include_ancestors:
            alts.extend(re.escape(a) for a in jur.ancestors(code))
    return re.compile(rf"^{re.escape(PREFIX)}\.{re.escape(service)}\.(?:{'|'.join(sorted(set(alts)))})$")


def followed_erasures(codes: list[str]) -> re.Pattern[str] | None:
    """The erasures topics of the other deployments whose people a deployment serving
    `codes` may hold under its own key (services/selection/erasures.py): those below its
    codes (a province's cities and counties, which it reads anyway) and above them (a
    county's city and province), never its own. None when there are none."""
    own = sorted(set(codes))
    alts: set[str] = set()
    for code in own:
        p = jur.prefix(code)
        if len(p) < 6:
            alts.add(re.escape(p) + rf"\d{{{6 - len(p)}}}")
        alts.update(a for a in jur.ancestors(code) if a not in own)
    if not alts:
        return None
    not_own = "".join(f"(?!{c}$)" for c in own)
    return re.compile(rf"^{re.escape(PREFIX)}\.{ERASURES}\.{not_own}(?:{'|'.join(sorted(alts))})$")
