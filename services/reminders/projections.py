"""Reminders' read models (pure folds; the store's access patterns are in reads.py):

- `work`, one document per trainee in a class (`<class id>/<cadre id>`): who the trainee
  is, the milestones follow-up scheduled, and the items of due work about them (open or
  closed), with `open_audiences` / `audiences` (the keys that see its open / any items)
  for the in-app list, and `open_count` for the sender's scan. Fed by follow-up,
  teaching (leave requests, graduation's class title) and selection (nominations).
- `unit_quotas`, one document per class, shaped as `work`'s: an item per unit that still
  has places to fill before the class starts.
- `roll_calls`, one document per class, shaped as `work`'s: an item per session whose
  roll call the party school is to close (due after the session's end; closed by
  AttendanceClosed or a cancellation).
- `classes`, one document per class: its title, for the text of a reminder.
- `logins`, one document per login account (username): whether it is disabled; a
  disabled account's person gets no mail.
- `people`, one document per person reminded (their user id): who they are (from
  accounts' AccountCreated, or the contact they set), their e-mail and phone, what was
  sent to them and what they read (from our own inbox streams).
"""

from __future__ import annotations

from services.reminders.domain import (
    UNIT_ROLES,
    channel_key,
    keys_of,
    person_key,
    role_key,
    unit_key,
    visible_to,
)
from shared.contracts.accounts import AccountCreated, AccountDisabled, AccountEnabled
from shared.contracts.followup import (
    EvaluationSubmitted,
    MilestoneCompleted,
    MilestoneDue,
    MilestoneOverdue,
    MilestoneScheduled,
)
from shared.contracts.reminders import ContactSet, DigestSent, NotificationRead, ReminderFailed, ReminderSent
from shared.contracts.selection import (
    ClassOpened,
    NominationConfirmed,
    NominationRejected,
    NominationWaitlisted,
    NominationWithdrawn,
    TraineeNominated,
)
from shared.contracts.teaching import (
    AbsenceRecorded,
    AttendanceClosed,
    LeaveDecided,
    LeaveRequested,
    SessionCancelled,
    SessionRescheduled,
    SessionScheduled,
    TraineeGraduated,
)
from shared.projection import Projection, guard_key


def _about(env, ev) -> str:
    """The jurisdiction an event is about: the trainee's home county when given."""
    return getattr(ev, "home_jurisdiction", None) or env.jurisdiction


def work_key(env, ev) -> str:
    return f"{ev.class_id}/{ev.cadre_id}"


work = Projection("work", sources=("followup", "teaching", "selection"), include_ancestors=True, scope=_about)
classes = Projection("classes", sources=("selection", "teaching"), include_ancestors=True)
people = Projection("people", sources=("accounts", "reminders"))
# A unit's places in a class (名额待填): one document per class, in the shape of `work`'s
# (items, audiences, open_count) so the in-app list and the sender read both alike; a
# projection (and collection) of its own because selection's nomination events also feed
# `work`, and a projection owns its collection (a rebuild drops it).
unit_quotas = Projection("unit_quotas", sources=("selection",))
# Sessions whose roll call is to be closed (结束考勤): one document per class, shaped as
# `work`'s, fed by teaching's timetable and attendance events.
roll_calls = Projection("roll_calls", sources=("teaching",))
# Login accounts by username, for whether one is disabled (its events name the username,
# while a person's document is keyed by the id their token carries).
logins = Projection("logins", sources=("accounts",))


def _trainee(doc, env, ev) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("cadre_id", ev.cadre_id)
    doc.setdefault("jurisdiction", _about(env, ev))
    doc.setdefault("items", {})
    doc.setdefault("milestones", {})
    for f in ("name", "unit"):
        if getattr(ev, f, None):
            doc[f] = getattr(ev, f)
    if getattr(ev, "home_jurisdiction", None):
        doc["jurisdiction"] = ev.home_jurisdiction


def _open(doc, env, item_id: str, kind: str, audience: str, **fields) -> None:
    items, key = doc["items"], guard_key(item_id)  # ids hold class ids, which may hold "."
    if key in items and items[key]["status"] == "open":
        items[key].update(fields)
    elif key not in items:
        items[key] = {
            "item_id": item_id,
            "kind": kind,
            "audience": audience,
            "visible_to": visible_to(audience),
            "status": "open",
            "opened_at": env.occurred_at.isoformat(),
            "closed_at": None,
            **fields,
        }
    _recount(doc)


def _close(doc, env, item_id: str) -> None:
    item = doc["items"].get(guard_key(item_id))
    if item and item["status"] == "open":
        item.update(status="closed", closed_at=env.occurred_at.isoformat())
    _recount(doc)


def _recount(doc) -> None:
    items = doc["items"].values()
    doc["open_count"] = sum(1 for i in items if i["status"] == "open")
    doc["open_audiences"] = sorted({k for i in items if i["status"] == "open" for k in i["visible_to"]})
    doc["audiences"] = sorted({k for i in items for k in i["visible_to"]})


def _ids(doc, month: int) -> dict[str, str]:
    mid = doc["milestones"][str(month)]["milestone_id"]
    return {"self_eval": f"eval:{mid}:self", "unit_eval": f"eval:{mid}:unit", "overdue": f"overdue:{mid}"}


# -- follow-up ----------------------------------------------------------------------------
@work.on(MilestoneScheduled, key=work_key)
def _scheduled(doc, env, ev: MilestoneScheduled) -> None:
    _trainee(doc, env, ev)
    doc["milestones"][str(ev.month)] = {
        "milestone_id": ev.milestone_id,
        "month": ev.month,
        "due_on": ev.due_on.isoformat(),
        "submitted": [],
    }


@work.on(MilestoneDue, key=work_key)
def _due(doc, env, ev: MilestoneDue) -> None:
    _trainee(doc, env, ev)
    m = doc["milestones"][str(ev.month)]
    ids = _ids(doc, ev.month)
    facts = {"month": ev.month, "due_on": ev.due_on.isoformat(), "milestone_id": ev.milestone_id}
    if "self" not in m["submitted"]:
        _open(doc, env, ids["self_eval"], "self_eval", person_key(ev.cadre_id), **facts)
    missing = [r for r in UNIT_ROLES if r not in m["submitted"]]
    if missing:
        _open(
            doc,
            env,
            ids["unit_eval"],
            "unit_eval",
            unit_key(doc["jurisdiction"], doc.get("unit", "")),
            missing_roles=missing,
            **facts,
        )


@work.on(EvaluationSubmitted, key=work_key)
def _evaluated(doc, env, ev: EvaluationSubmitted) -> None:
    _trainee(doc, env, ev)
    m = doc["milestones"][str(ev.month)]
    if ev.role not in m["submitted"]:
        m["submitted"].append(ev.role)
    ids = _ids(doc, ev.month)
    if ev.role == "self":
        _close(doc, env, ids["self_eval"])
    elif ev.role in UNIT_ROLES:
        missing = [r for r in UNIT_ROLES if r not in m["submitted"]]
        unit_item = doc["items"].get(guard_key(ids["unit_eval"]))
        if missing and unit_item:
            unit_item["missing_roles"] = missing
        elif not missing:
            _close(doc, env, ids["unit_eval"])
    overdue = doc["items"].get(guard_key(ids["overdue"]))
    if overdue and overdue["status"] == "open":
        overdue["missing_roles"] = [r for r in overdue.get("missing_roles", []) if r != ev.role]


@work.on(MilestoneOverdue, key=work_key)
def _overdue(doc, env, ev: MilestoneOverdue) -> None:
    _trainee(doc, env, ev)
    _open(
        doc,
        env,
        _ids(doc, ev.month)["overdue"],
        "overdue",
        role_key("org_department", doc["jurisdiction"]),
        month=ev.month,
        due_on=ev.due_on.isoformat(),
        milestone_id=ev.milestone_id,
        missing_roles=list(ev.missing_roles),
    )


@work.on(MilestoneCompleted, key=work_key)
def _completed(doc, env, ev: MilestoneCompleted) -> None:
    _trainee(doc, env, ev)
    for item_id in _ids(doc, ev.month).values():
        _close(doc, env, item_id)


# -- teaching -----------------------------------------------------------------------------
@work.on(TraineeGraduated, key=work_key)
def _graduated(doc, env, ev: TraineeGraduated) -> None:
    _trainee(doc, env, ev)
    doc.setdefault("items", {})
    _recount(doc)


@work.on(LeaveRequested, key=work_key)
def _leave(doc, env, ev: LeaveRequested) -> None:
    _trainee(doc, env, ev)
    _open(
        doc,
        env,
        f"leave:{ev.class_id}:{ev.session_id}:{ev.cadre_id}",
        "leave",
        role_key("party_school", env.jurisdiction),
        session_id=ev.session_id,
        session_key=guard_key(ev.session_id),
        reason=ev.reason,
    )


@work.on(LeaveDecided, key=work_key)
def _leave_decided(doc, env, ev: LeaveDecided) -> None:
    _trainee(doc, env, ev)
    _close(doc, env, f"leave:{ev.class_id}:{ev.session_id}:{ev.cadre_id}")


# -- selection ----------------------------------------------------------------------------
@work.on(TraineeNominated, key=work_key)
def _nominated(doc, env, ev: TraineeNominated) -> None:
    _trainee(doc, env, ev)
    _open(
        doc,
        env,
        f"nomination:{ev.class_id}:{ev.cadre_id}",
        "nomination",
        role_key("org_department", env.jurisdiction),
    )


def _decided(doc, env, ev) -> None:
    _trainee(doc, env, ev)
    _close(doc, env, f"nomination:{ev.class_id}:{ev.cadre_id}")


for _cls in (NominationConfirmed, NominationRejected, NominationWaitlisted, NominationWithdrawn):
    work.on(_cls, key=work_key)(_decided)


# -- classes: titles and sessions -----------------------------------------------------------
@classes.on(ClassOpened, key=lambda env, ev: ev.class_id)
def _class_opened(doc, env, ev: ClassOpened) -> None:
    doc.update(class_id=ev.class_id, title=ev.title)


@classes.on(TraineeGraduated, key=lambda env, ev: ev.class_id)
def _class_graduated(doc, env, ev: TraineeGraduated) -> None:
    doc.setdefault("class_id", ev.class_id)
    if ev.class_title and not doc.get("title"):
        doc["title"] = ev.class_title


@classes.on(SessionScheduled, key=lambda env, ev: ev.class_id)
def _session(doc, env, ev: SessionScheduled) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("sessions", {})[guard_key(ev.session_id)] = {
        "title": ev.course_title,
        "on": ev.on.isoformat(),
        "starts_at": ev.starts_at.isoformat()[:5],
    }


@classes.on(SessionRescheduled, key=lambda env, ev: ev.class_id)
def _rescheduled(doc, env, ev: SessionRescheduled) -> None:
    session = doc.setdefault("sessions", {}).get(guard_key(ev.session_id))
    if session:
        session.update(on=ev.on.isoformat(), starts_at=ev.starts_at.isoformat()[:5])


# -- people ---------------------------------------------------------------------------------
def _person(doc, user_id: str) -> None:
    doc.setdefault("user_id", user_id)
    doc.setdefault("sent", {})
    doc.setdefault("failed", {})
    doc.setdefault("read", {})


def _who(doc, user_id: str, name: str, role: str, jurisdiction: str, unit: str | None) -> None:
    doc.update(
        name=name,
        role=role,
        jurisdiction=jurisdiction,
        unit=unit,
        keys=keys_of(role, jurisdiction, unit, user_id),
    )


@people.on(AccountCreated, key=lambda env, ev: ev.person_id or ev.username)
def _account(doc, env, ev: AccountCreated) -> None:
    user_id = ev.person_id or ev.username
    _person(doc, user_id)
    doc["username"] = ev.username
    if "role" not in doc:  # the person's own contact, set later, names them as their token does
        _who(doc, user_id, ev.name, ev.role, ev.jurisdiction, ev.unit)


@people.on(ContactSet, key=lambda env, ev: ev.user_id)
def _contact(doc, env, ev: ContactSet) -> None:
    _person(doc, ev.user_id)
    _who(doc, ev.user_id, ev.name, ev.role, ev.jurisdiction, ev.unit)
    doc.update(email=ev.email, phone=ev.phone, digest=ev.digest)


@people.on(DigestSent, key=lambda env, ev: ev.user_id)
def _digest_sent(doc, env, ev: DigestSent) -> None:
    # each item listed shows as reminded through the channel, with the digest's subject
    _person(doc, ev.user_id)
    for item_id in ev.item_ids:
        key = guard_key(channel_key(item_id, ev.channel))
        doc["sent"][key] = {
            "item_id": item_id,
            "channel": ev.channel,
            "to": ev.to,
            "subject": ev.subject,
            "sent_at": ev.sent_at.isoformat(),
            "attempt": 1,
            "digest": ev.day.isoformat(),
        }
        doc["failed"].pop(key, None)


@people.on(ReminderSent, key=lambda env, ev: ev.user_id)
def _sent(doc, env, ev: ReminderSent) -> None:
    _person(doc, ev.user_id)
    key = guard_key(channel_key(ev.item_id, ev.channel))
    doc["sent"][key] = {
        "item_id": ev.item_id,
        "channel": ev.channel,
        "to": ev.to,
        "subject": ev.subject,
        "sent_at": ev.sent_at.isoformat(),
        "attempt": ev.attempt,
    }
    doc["failed"].pop(key, None)


@people.on(ReminderFailed, key=lambda env, ev: ev.user_id)
def _failed(doc, env, ev: ReminderFailed) -> None:
    _person(doc, ev.user_id)
    doc["failed"][guard_key(channel_key(ev.item_id, ev.channel))] = {
        "item_id": ev.item_id,
        "channel": ev.channel,
        "to": ev.to,
        "error": ev.error,
        "attempt": ev.attempt,
        "failed_at": ev.failed_at.isoformat(),
        "retry_at": ev.retry_at.isoformat() if ev.retry_at else None,
        "gave_up": ev.gave_up,
    }


@people.on(NotificationRead, key=lambda env, ev: ev.user_id)
def _read(doc, env, ev: NotificationRead) -> None:
    _person(doc, ev.user_id)
    doc["read"][guard_key(ev.item_id)] = ev.read_at.isoformat()


# -- a unit's places in a class ---------------------------------------------------------------
def quota_key(env, ev) -> str:
    return ev.class_id


def _quota_item(doc, env, unit: str) -> None:
    """The unit's item open while it has places left and the class has not started."""
    item_id = f"quota:{doc['class_id']}:{unit}"
    places, used = doc["quotas"].get(unit, 0), doc["used"].get(guard_key(unit), 0)
    item = doc["items"].get(guard_key(item_id))
    if item is None:
        _open(
            doc,
            env,
            item_id,
            "quota",
            unit_key(doc["jurisdiction"], unit),
            unit=unit,
            quota=places,
            used=used,
            deadline=doc["starts_on"],
        )
    elif used < places:
        item.update(status="open", closed_at=None, used=used)
    else:
        item.update(used=used)
        _close(doc, env, item_id)
    _recount(doc)


@unit_quotas.on(ClassOpened, key=quota_key)
def _class_quotas(doc, env, ev: ClassOpened) -> None:
    doc.update(class_id=ev.class_id, jurisdiction=env.jurisdiction, starts_on=ev.starts_on.isoformat())
    doc.update(quotas={u: n for u, n in ev.quotas.items() if n > 0}, items={}, used={}, nominees={})
    for unit in doc["quotas"]:
        _quota_item(doc, env, unit)


@unit_quotas.on(TraineeNominated, key=quota_key)
def _quota_used(doc, env, ev: TraineeNominated) -> None:
    if "quotas" not in doc or ev.unit not in doc["quotas"]:
        return  # a class without places by unit, or a unit without a quota
    doc["nominees"][guard_key(ev.cadre_id)] = ev.unit
    doc["used"][guard_key(ev.unit)] = doc["used"].get(guard_key(ev.unit), 0) + 1
    _quota_item(doc, env, ev.unit)


def _quota_freed(doc, env, ev) -> None:
    """A rejected or withdrawn nominee gives the unit its place back (as selection counts)."""
    unit = doc.get("nominees", {}).pop(guard_key(ev.cadre_id), None)
    if unit is not None:
        doc["used"][guard_key(unit)] = max(0, doc["used"].get(guard_key(unit), 0) - 1)
        _quota_item(doc, env, unit)


for _cls in (NominationRejected, NominationWithdrawn):
    unit_quotas.on(_cls, key=quota_key)(_quota_freed)


# -- sessions whose roll call is to be closed ----------------------------------------------------
def _roll_call_id(ev) -> str:
    return f"roll_call:{ev.class_id}:{ev.session_id}"


def _session_facts(ev) -> dict:
    return {
        "on": ev.on.isoformat(),
        "starts_at": ev.starts_at.isoformat()[:5],
        "ends_at": ev.ends_at.isoformat()[:5],
        "due_at": f"{ev.on.isoformat()}T{ev.ends_at.isoformat()[:5]}",  # Beijing wall time
    }


@roll_calls.on(SessionScheduled, key=lambda env, ev: ev.class_id)
def _roll_call(doc, env, ev: SessionScheduled) -> None:
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("items", {})
    facts = {"session_id": ev.session_id, "title": ev.course_title, **_session_facts(ev)}
    _open(doc, env, _roll_call_id(ev), "roll_call", role_key("party_school", env.jurisdiction), **facts)
    doc["items"][guard_key(_roll_call_id(ev))].update(facts)  # closed before it was seen: named too


@roll_calls.on(SessionRescheduled, key=lambda env, ev: ev.class_id)
def _roll_call_moved(doc, env, ev: SessionRescheduled) -> None:
    item = doc.get("items", {}).get(guard_key(_roll_call_id(ev)))
    if item:
        item.update(_session_facts(ev))


def _roll_call_done(doc, env, ev) -> None:
    # The attendance stream's events may be folded before the timetable's SessionScheduled
    # (other streams, other partitions): the item is then made closed, and stays so.
    doc.setdefault("class_id", ev.class_id)
    doc.setdefault("jurisdiction", env.jurisdiction)
    doc.setdefault("items", {})
    if guard_key(_roll_call_id(ev)) not in doc["items"]:
        _open(doc, env, _roll_call_id(ev), "roll_call", role_key("party_school", env.jurisdiction))
    _close(doc, env, _roll_call_id(ev))


for _cls in (AttendanceClosed, SessionCancelled, AbsenceRecorded):
    # AbsenceRecorded too: sessions closed before AttendanceClosed existed recorded only absences
    roll_calls.on(_cls, key=lambda env, ev: ev.class_id)(_roll_call_done)


# -- login accounts ------------------------------------------------------------------------
@logins.on(AccountCreated, key=lambda env, ev: ev.username)
def _login(doc, env, ev: AccountCreated) -> None:
    doc.update(username=ev.username, user_id=ev.person_id or ev.username, disabled=False)


@logins.on(AccountDisabled, key=lambda env, ev: ev.username)
def _login_disabled(doc, env, ev: AccountDisabled) -> None:
    doc.update(username=ev.username, disabled=True)


@logins.on(AccountEnabled, key=lambda env, ev: ev.username)
def _login_enabled(doc, env, ev: AccountEnabled) -> None:
    doc.update(username=ev.username, disabled=False)


PROJECTIONS = [work, classes, people, unit_quotas, roll_calls, logins]
