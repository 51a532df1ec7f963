"""Reminders (提醒), pure: who must act on which piece of due work, the inbox decider
that sends each reminder once, and the Chinese text of a reminder. No I/O.

Due work (待办事项, "items") is derived from other services' events by the projection
(projections.py): one item per piece of work and audience —

- a follow-up milestone that fell due (MilestoneDue): the trainee's own self-evaluation
  (`self_eval`, to the trainee), and the unit's evaluations (`unit_eval`, to the unit:
  follow-up's domain has the colleague and the unit leader evaluate through the unit's
  account, services/followup/domain.py `_check_evaluator`);
- a milestone past its grace period (MilestoneOverdue): to the organisation department
  of the trainee's home jurisdiction (`overdue`);
- a leave request (LeaveRequested): to the party school running the class (`leave`);
- a unit's places in a class still to fill before it starts (ClassOpened's quotas, less
  the unit's nominees): to the unit (`quota`);
- a nominee to confirm (TraineeNominated): to the organisation department
  (`nomination`, in-app only: a class's nominations come by the dozen, and the
  department works through them in its confirmation queue);
- a session whose end has passed without its roll call closed (teaching's
  SessionScheduled, closed by AttendanceClosed): to the party school running the class
  (`roll_call`), due a grace period after the end (teaching's closer ends sessions by
  itself within a minute, so the reminder is for the session it could not close).

An audience is a key a person's token also yields (`keys_of`): `person:<user id>`,
`unit:<jurisdiction>:<unit>`, `<role>:<jurisdiction>`. Mail goes to the people whose key
equals the item's audience; in-app, an organisation department or party school also
sees the items of the jurisdictions below its own (`visible_to`).

One inbox aggregate per person (`inbox:<user id>`): their contact details (and whether
they want a daily digest), what was sent to them (natural key: item and channel; a
digest marks each item it lists), the digests sent (one per day and channel) and what
they have read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from types import MappingProxyType

from shared import jurisdiction as jur
from shared.contracts.followup import EVALUATOR_ROLES, MILESTONE_FOCUS
from shared.contracts.reminders import ContactSet, DigestSent, NotificationRead, ReminderFailed, ReminderSent
from shared.errors import DomainError
from shared.events import Event

UNIT_ROLES = ("colleague", "unit_leader")  # evaluated through the unit's account
ROLE_AUDIENCES = ("org_department", "party_school")
PERSON_ROLES = ("trainee", "mentor", "recorder")
# Kinds that go out by e-mail and the gateway; the rest are in-app only (see above).
MAILED_KINDS = ("self_eval", "unit_eval", "overdue", "leave", "quota", "roll_call")
KIND_NAMES = {
    "self_eval": "跟踪自评",
    "unit_eval": "跟踪评价",
    "overdue": "跟踪逾期",
    "leave": "请假审批",
    "nomination": "人选确定",
    "quota": "名额待填",
    "roll_call": "结束考勤",
}
EMAIL_MAX, PHONE_MAX = 254, 20


def inbox_stream(user_id: str) -> str:
    return f"inbox:{user_id}"


def person_key(user_id: str) -> str:
    return f"person:{user_id}"


def unit_key(jurisdiction: str, unit: str) -> str:
    return f"unit:{jurisdiction}:{unit}"


def role_key(role: str, jurisdiction: str) -> str:
    return f"{role}:{jurisdiction}"


def keys_of(role: str, jurisdiction: str, unit: str | None, user_id: str) -> list[str]:
    """The audience keys a person answers to, from what their token (or account) says."""
    if role in PERSON_ROLES:
        return [person_key(user_id)]
    if role == "unit":
        return [unit_key(jurisdiction, unit)] if unit else []
    if role in ROLE_AUDIENCES:
        return [role_key(role, jurisdiction)]
    return []


def visible_to(audience: str) -> list[str]:
    """The keys that see an item in-app: its audience, and for a department's or school's
    item the same body at the city and the province above."""
    role, _, code = audience.partition(":")
    if role in ROLE_AUDIENCES:
        return [audience, *(role_key(role, a) for a in jur.ancestors(code))]
    return [audience]


def channel_key(item_id: str, channel: str) -> str:
    return f"{item_id}|{channel}"


# -- the inbox aggregate ------------------------------------------------------------------
@dataclass(frozen=True)
class SetContact:
    user_id: str
    name: str
    role: str
    jurisdiction: str
    unit: str | None
    email: str | None
    phone: str | None
    digest: bool = False


@dataclass(frozen=True)
class RecordSent:
    user_id: str
    item_id: str
    channel: str
    to: str
    subject: str
    at: datetime


@dataclass(frozen=True)
class RecordFailed:
    user_id: str
    item_id: str
    channel: str
    to: str
    error: str
    at: datetime
    max_attempts: int
    backoff: timedelta


@dataclass(frozen=True)
class RecordDigest:
    """A day's digest went out through `channel`, listing `item_ids`."""

    user_id: str
    channel: str
    day: date
    item_ids: tuple[str, ...]
    to: str
    subject: str
    at: datetime


@dataclass(frozen=True)
class MarkRead:
    user_id: str
    item_id: str
    at: datetime


@dataclass(frozen=True)
class Attempts:
    count: int
    retry_at: datetime | None
    gave_up: bool


@dataclass(frozen=True)
class InboxState:
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    contact: tuple = ()  # (name, role, jurisdiction, unit) as last set
    sent: frozenset[str] = frozenset()  # channel_key(item, channel)
    attempts: Mapping[str, Attempts] = field(default_factory=lambda: MappingProxyType({}))
    read: frozenset[str] = frozenset()
    digest: bool = False
    digests: frozenset[str] = frozenset()  # digest_key(day, channel)


def digest_key(day: date, channel: str) -> str:
    return f"{day.isoformat()}|{channel}"


def due(item: dict, wall_now: datetime, grace: timedelta) -> bool:
    """Whether an open item is due now: a session's roll call only `grace` after the
    session's end (`due_at`, Beijing wall time as sessions are kept); the rest at once."""
    return not item.get("due_at") or datetime.fromisoformat(item["due_at"]) + grace <= wall_now


def digest_time(wall_now: datetime, hour: int) -> bool:
    """Whether a daily digest goes out now: within the digest hour, China's time. A sender
    down that whole hour sends nothing that day; the items wait for the next day's digest."""
    return wall_now.hour == hour


def expired(item: dict, today: date) -> bool:
    """Work whose deadline has passed (a class that has started takes no more nominees)."""
    return bool(item.get("deadline")) and item["deadline"] <= today.isoformat()


def should_send(state: InboxState, item_id: str, channel: str, now: datetime) -> bool:
    """Whether this item's reminder is still to go out through `channel` now: never sent,
    not given up, and past the back-off of its last failure."""
    key = channel_key(item_id, channel)
    if key in state.sent:
        return False
    tried = state.attempts.get(key)
    return tried is None or (not tried.gave_up and (tried.retry_at is None or tried.retry_at <= now))


def _valid_email(email: str) -> bool:
    local, at, domain = email.partition("@")
    return bool(
        at
        and local
        and "." in domain
        and " " not in email
        and len(email) <= EMAIL_MAX
        and not domain.startswith(".")
        and not domain.endswith(".")
    )


def _valid_phone(phone: str) -> bool:
    digits = phone.removeprefix("+")
    return digits.isdigit() and 5 <= len(digits) <= PHONE_MAX


class InboxDecider:
    def initial(self) -> InboxState:
        return InboxState()

    def decide(self, s: InboxState, c) -> list[Event]:
        match c:
            case SetContact():
                return self._contact(s, c)
            case RecordSent():
                if channel_key(c.item_id, c.channel) in s.sent:
                    return []  # a second worker, or a retry after a lost reply: once only
                tried = s.attempts.get(channel_key(c.item_id, c.channel))
                return [
                    ReminderSent(
                        user_id=c.user_id,
                        item_id=c.item_id,
                        channel=c.channel,
                        to=c.to,
                        subject=c.subject,
                        sent_at=c.at,
                        attempt=(tried.count if tried else 0) + 1,
                    )
                ]
            case RecordFailed():
                key = channel_key(c.item_id, c.channel)
                if key in s.sent:
                    return []
                tried = s.attempts.get(key)
                attempt = (tried.count if tried else 0) + 1
                gave_up = attempt >= c.max_attempts
                retry_at = None if gave_up else c.at + c.backoff * 2 ** (attempt - 1)
                return [
                    ReminderFailed(
                        user_id=c.user_id,
                        item_id=c.item_id,
                        channel=c.channel,
                        to=c.to,
                        error=c.error[:500],
                        failed_at=c.at,
                        attempt=attempt,
                        retry_at=retry_at,
                        gave_up=gave_up,
                    )
                ]
            case RecordDigest():
                if digest_key(c.day, c.channel) in s.digests:
                    return []  # once a day and channel
                return [
                    DigestSent(
                        user_id=c.user_id,
                        channel=c.channel,
                        day=c.day,
                        item_ids=list(c.item_ids),
                        to=c.to,
                        subject=c.subject,
                        sent_at=c.at,
                    )
                ]
            case MarkRead():
                if c.item_id in s.read:
                    return []
                return [NotificationRead(user_id=c.user_id, item_id=c.item_id, read_at=c.at)]
        raise TypeError(f"unknown command {c!r}")

    @staticmethod
    def _contact(s: InboxState, c: SetContact) -> list[Event]:
        email = (c.email or "").strip() or None
        phone = (c.phone or "").strip().replace(" ", "").replace("-", "") or None
        if email is not None and not _valid_email(email):
            raise DomainError(
                f"电子邮箱“{email}”格式不正确，应形如 name@example.gov.cn。", code="bad_email", field="email"
            )
        if phone is not None and not _valid_phone(phone):
            raise DomainError(
                f"手机号码“{phone}”格式不正确：只能是数字（可带国际区号 +），5 至 20 位。",
                code="bad_phone",
                field="phone",
            )
        contact = (c.name, c.role, c.jurisdiction, c.unit)
        if s.user_id is not None and (email, phone, contact, c.digest) == (
            s.email,
            s.phone,
            s.contact,
            s.digest,
        ):
            return []
        return [
            ContactSet(
                user_id=c.user_id,
                name=c.name,
                role=c.role,
                jurisdiction=c.jurisdiction,
                unit=c.unit,
                email=email,
                phone=phone,
                digest=c.digest,
            )
        ]

    def evolve(self, s: InboxState, e: Event) -> InboxState:
        match e:
            case ContactSet():
                return replace(
                    s,
                    user_id=e.user_id,
                    email=e.email,
                    phone=e.phone,
                    contact=(e.name, e.role, e.jurisdiction, e.unit),
                    digest=e.digest,
                )
            case DigestSent():
                return replace(
                    s,
                    user_id=s.user_id or e.user_id,
                    sent=s.sent | {channel_key(i, e.channel) for i in e.item_ids},
                    digests=s.digests | {digest_key(e.day, e.channel)},
                )
            case ReminderSent():
                return replace(
                    s, user_id=s.user_id or e.user_id, sent=s.sent | {channel_key(e.item_id, e.channel)}
                )
            case ReminderFailed():
                attempts = dict(s.attempts)
                attempts[channel_key(e.item_id, e.channel)] = Attempts(e.attempt, e.retry_at, e.gave_up)
                return replace(s, user_id=s.user_id or e.user_id, attempts=MappingProxyType(attempts))
            case NotificationRead():
                return replace(s, user_id=s.user_id or e.user_id, read=s.read | {e.item_id})
        return s


# -- what a reminder says -------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    link: str


def _roles(roles) -> str:
    return "、".join(EVALUATOR_ROLES.get(r, r) for r in roles) or "无"


def describe(item: dict, trainee: dict, facts: dict) -> tuple[str, str]:
    """The title and the one-paragraph text of an item, in Chinese, naming the trainee,
    the class, the milestone or the session (never ids where a name is known)."""
    name = trainee.get("name") or f"学员（编号 {trainee.get('cadre_id', '')}）"
    unit = trainee.get("unit") or "所在单位"
    class_title = facts.get("title") or ""
    klass = f"“{class_title}”" if class_title else f"班次 {trainee.get('class_id', '')}"
    month = item.get("month")
    stage = f"结业后 {month} 个月跟踪节点（{MILESTONE_FOCUS.get(month, '跟踪评价')}）" if month else ""
    match item["kind"]:
        case "self_eval":
            return (
                f"请完成{month}个月跟踪自评：{class_title or klass}",
                f"{name}同志：您参加的{klass}{stage}已于 {item['due_on']} 到期，"
                "请登录干部教育培训工作台完成本人自评。",
            )
        case "unit_eval":
            return (
                f"请对{name}完成{month}个月跟踪评价",
                f"{unit}：贵单位{name}同志参加{klass}，{stage}已于 {item['due_on']} 到期，"
                f"请完成评价（尚缺：{_roles(item.get('missing_roles', UNIT_ROLES))}评价）。",
            )
        case "overdue":
            return (
                f"{name}的{month}个月跟踪节点已逾期",
                f"{unit}{name}同志参加{klass}，{stage}应于 {item['due_on']} 完成评价，已过宽限期仍未完成"
                f"（尚缺：{_roles(item.get('missing_roles', ()))}评价），请督促落实。",
            )
        case "leave":
            return (
                f"{name}提交了请假申请，待审批",
                f"{klass}学员{name}（{unit}）申请请假：{_session(item, facts)}，"
                f"事由：{item.get('reason') or '未填写'}。请在工作台审批。",
            )
        case "quota":
            left = item["quota"] - item["used"]
            return (
                f"请为{klass}推荐学员（还可推荐 {left} 人）",
                f"{item['unit']}：{klass}分配给贵单位 {item['quota']} 个名额，已推荐 {item['used']} 人，"
                f"还可推荐 {left} 人，请于 {item['deadline']} 开班前在工作台“本单位调训任务”中推荐。",
            )
        case "nomination":
            return (
                f"{unit}推荐{name}参加{klass}，待确定",
                f"{unit}推荐{name}同志参加{klass}，请在待确定队列中确定、候补或不予确定。",
            )
        case "roll_call":
            on, title = item.get("on", ""), item.get("title", "")  # unnamed only if never scheduled
            when = f"{on} {item.get('starts_at', '')}–{item.get('ends_at', '')}《{title}》"
            return (
                f"{klass}{on}《{title}》考勤未结束",
                f"{klass}课次 {when} 已下课，考勤尚未结束（未签到的学员还没有记缺勤或请假）。"
                "请在工作台该课次的点名页核对签到、登记请假后结束考勤。",
            )
    raise ValueError(f"unknown item kind {item['kind']!r}")


def _session(item: dict, facts: dict) -> str:
    s = facts.get("sessions", {}).get(item.get("session_key", ""))
    return f"{s['on']} {s['starts_at']}《{s['title']}》" if s else f"课次 {item.get('session_id', '')}"


def compose_digest(day: date, entries: list[tuple[dict, dict, dict]], workbench_url: str) -> Message:
    """The daily digest: every reminder listed (as `compose` would word it), numbered."""
    link = f"{workbench_url.rstrip('/')}/"
    lines = []
    for n, (item, doc, facts) in enumerate(entries, start=1):
        title, text = describe(item, doc, facts)
        lines.append(f"{n}. 【{KIND_NAMES[item['kind']]}】{title}\n   {text}")
    body = (
        f"您有 {len(entries)} 项待办（截至 {day.isoformat()} 的每日汇总）：\n\n" + "\n\n".join(lines) + "\n\n"
        f"办理入口（干部教育培训工作台 · 我的待办）：{link}\n\n"
        "本邮件由干训系统每日汇总发送，同一事项只提醒一次；如需逐条提醒，可在工作台“提醒方式”中取消每日汇总。"
    )
    return Message(
        subject=f"【干训提醒】每日汇总：{len(entries)} 项待办（{day.isoformat()}）", body=body, link=link
    )


def compose(item: dict, trainee: dict, facts: dict, workbench_url: str) -> Message:
    """`facts`: the class as the `classes` read model has it (its title and sessions)."""
    title, text = describe(item, trainee, facts)
    link = f"{workbench_url.rstrip('/')}/"  # the workbench opens on 我的待办
    body = (
        f"{text}\n\n办理入口（干部教育培训工作台 · 我的待办）：{link}\n\n"
        f"本邮件由干训系统自动发送，同一事项只提醒一次，请勿直接回复。"
    )
    return Message(subject=f"【干训提醒】{title}", body=body, link=link)
