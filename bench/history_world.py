"""A county's five years of history as the services' own events (pure: no store, no bus).

`build_world` makes, from a seed, what selection, teaching, records and follow-up would
have written over --years of a county's training: the registry (`CadreRegistered`), and
each year about --classes classes of --trainees confirmed trainees, with their sessions,
the attendance of each session, graduation, the recorders and their records, and the
follow-up of every graduate. Follow-up's streams are decided by its own decider
(services/followup/domain.py): the scheduling, the evaluations submitted at each milestone
and the clock's last tick are what the service itself would append. The other services'
events are made from their contracts (shared/contracts/), on the streams their handlers
use, one commit per command a clerk would give (a batch of nominations, a roll call).
Classes whose end is still ahead are opened with their nominations waiting, so the
confirmation queue and a unit's tasks are not empty.

bench/history.py appends these streams through the kernel's event store and times the reads.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from services.followup import domain as fd
from services.records.domain import class_stream as records_class_stream
from services.records.domain import trainee_stream as records_trainee_stream
from services.selection import cadres as registry
from services.selection.domain import cadre_stream_id
from services.selection.domain import stream_id as selection_class_stream
from services.teaching.classroom import attendance_stream, class_stream
from services.teaching.domain import catalogue_stream, timetable_stream
from shared.commands import decide_all
from shared.contracts import records as rc
from shared.contracts import selection as sc
from shared.contracts import teaching as tc
from shared.events import Actor, Event

TITLES = (
    "科级干部轮训班",
    "年轻干部培训班",
    "村(社区)党组织书记示范培训班",
    "乡村振兴专题培训班",
    "党纪学习教育读书班",
    "基层治理能力提升班",
)
COURSES = (
    ("习近平新时代中国特色社会主义思想概论", "理论课"),
    ("党章党规党纪专题", "党性课"),
    ("红色教育基地现场教学", "实践课"),
    ("基层治理案例研讨", "能力课"),
    ("乡村振兴政策解读", "理论课"),
    ("应急管理与风险防范", "能力课"),
    ("作风建设专题", "党性课"),
    ("调查研究方法", "能力课"),
)
TEACHERS = ("张立新", "李晓红", "王建华", "陈志强", "刘梅", "赵国庆")
NOTES = (
    "课堂发言积极，结合本职工作谈体会。",
    "小组讨论中主动承担记录，思路清晰。",
    "按时到课，笔记完整。",
    "现场教学中提问深入，联系本乡镇实际。",
)
ORG = Actor(user_id="hist-org", name="县委组织部干部科", role="org_department")
SCHOOL = Actor(user_id="hist-school", name="县委党校教务科", role="party_school")
SCHEDULER = Actor(user_id="followup-scheduler", name="跟踪问效调度程序", role="admin")
SERVICES = ("selection", "teaching", "records", "followup")


@dataclass(frozen=True)
class Commit:
    """One command's events, as one actor gave them at one moment."""

    actor: Actor
    events: tuple[Event, ...]
    at: datetime


@dataclass(frozen=True)
class Klass:
    class_id: str
    title: str
    starts_on: date
    ends_on: date
    trainees: tuple[str, ...]  # cadre ids
    graduated: bool


@dataclass
class World:
    """Per service, per stream, its commits in order; and what the reads will ask about."""

    county: str
    today: date
    streams: dict[str, dict[str, list[Commit]]] = field(default_factory=lambda: {s: {} for s in SERVICES})
    people: dict[str, dict] = field(default_factory=dict)  # cadre id -> the registry row
    classes: list[Klass] = field(default_factory=list)

    def add(self, service: str, stream: str, actor: Actor, events: list[Event], on: date | datetime) -> None:
        if not events:
            return
        at = on if isinstance(on, datetime) else datetime.combine(on, time(9), UTC)
        self.streams[service].setdefault(stream, []).append(Commit(actor, tuple(events), at))

    def counts(self) -> dict[str, Counter]:
        """Per service, events by type."""
        return {
            s: Counter(type(e).__name__ for commits in streams.values() for c in commits for e in c.events)
            for s, streams in self.streams.items()
        }


def cadre_rows(rows: list[dict], secret: bytes) -> dict[str, dict]:
    """The registry rows of bench.scale.people by the cadre id selection gives each."""
    return {registry.cadre_id_for(p["id"], secret): p for p in rows}


def register(world: World, since: date) -> None:
    for cadre_id, p in world.people.items():
        number = p["id"]
        event = sc.CadreRegistered(
            cadre_id=cadre_id,
            name=p["name"],
            gender="男" if int(number[16]) % 2 else "女",
            birth_date=date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
            id_number=number,
            unit=p["unit"],
            position="科员",
            rank=p["rank"],
            category=p["category"],
            recruited_as="选调生" if p["recruited"] else None,
            recruited_year=2019 if p["recruited"] else None,
        )
        world.add("selection", cadre_stream_id(cadre_id), ORG, [event], since)


def catalogue(world: World, since: date) -> None:
    events: list[Event] = [
        tc.CourseAdded(course_id=f"c{i}", title=t, kind=k, hours=4) for i, (t, k) in enumerate(COURSES)
    ]
    events += [tc.FacultyAdded(teacher_id=f"t{i}", name=n, kind="党校教师") for i, n in enumerate(TEACHERS)]
    events.append(tc.TeachingSiteAdded(site_id="s0", name="县委党校第一教室", capacity=120))
    world.add("teaching", catalogue_stream(world.county), SCHOOL, events, since)


def class_dates(years: int, per_year: int, today: date) -> list[tuple[int, date]]:
    """(year, start) of every class, evenly over each year from 10 January: a past year's
    last class starts on 20 December, the current year's a month from today (so its
    latest classes are still ahead, with their nominations waiting)."""
    out = []
    for y in range(today.year - years + 1, today.year + 1):
        first = date(y, 1, 10)
        last = today + timedelta(days=30) if y == today.year else date(y, 12, 20)
        step = (last - first).days / max(1, per_year - 1)
        out += [(y, first + timedelta(days=round(i * step))) for i in range(per_year)]
    return out


def build_world(
    rows: list[dict],
    county: str,
    secret: bytes,
    years: int,
    per_year: int,
    trainees: int,
    sessions: int,
    today: date,
    seed: int = 16,
) -> World:
    rnd = random.Random(seed)
    world = World(county, today, people=cadre_rows(rows, secret))
    since = date(today.year - years, 12, 1)
    register(world, since)
    catalogue(world, since)
    ids = list(world.people)
    for n, (year, starts) in enumerate(class_dates(years, per_year, today)):
        # The id selection stores: qualified by the county that opened the class (shared/scoped_ids.py);
        # the reads ask for it as stored (a qualified id of the reader's own county goes on).
        cid = f"{world.county}-h{year}-{n % per_year + 1:03d}"
        title = f"{year}年{TITLES[n % len(TITLES)]}（第{n % per_year + 1}期）"
        k = Klass(cid, title, starts, starts + timedelta(days=4), tuple(rnd.sample(ids, trainees)), False)
        k = Klass(**{**k.__dict__, "graduated": k.ends_on < today - timedelta(days=2)})
        world.classes.append(k)
        select(world, k, rnd)
        if k.graduated:
            teach(world, k, year, sessions, rnd)
            record(world, k, rnd)
            follow(world, k, rnd)
    return world


def select(world: World, k: Klass, rnd: random.Random) -> None:
    opened = k.starts_on - timedelta(days=30)
    stream = selection_class_stream(k.class_id)
    world.add(
        "selection",
        stream,
        ORG,
        [
            sc.ClassOpened(
                class_id=k.class_id,
                title=k.title,
                capacity=len(k.trainees),
                starts_on=k.starts_on,
                ends_on=k.ends_on,
                organiser="县委组织部",
                category=k.title.split("年", 1)[1][:4],
                level="科级",
            )
        ],
        opened,
    )
    people = [(c, world.people[c]) for c in k.trainees]
    world.add(
        "selection",
        stream,
        ORG,
        [
            sc.TraineeNominated(class_id=k.class_id, cadre_id=c, name=p["name"], unit=p["unit"])
            for c, p in people
        ],
        opened + timedelta(days=7),
    )
    # A class still ahead waits for the department with half of its nominees.
    confirmed = people if k.graduated else people[: len(people) // 2]
    world.add(
        "selection",
        stream,
        ORG,
        [
            sc.NominationConfirmed(class_id=k.class_id, cadre_id=c, name=p["name"], unit=p["unit"])
            for c, p in confirmed
        ],
        opened + timedelta(days=14),
    )


def sessions_of(k: Klass, count: int) -> list[tc.SessionScheduled]:
    out = []
    for j in range(count):
        title, kind = COURSES[j % len(COURSES)]
        out.append(
            tc.SessionScheduled(
                class_id=k.class_id,
                session_id=f"{k.class_id}-{j + 1}",
                course_id=f"c{j % len(COURSES)}",
                course_title=title,
                kind=kind,
                on=k.starts_on + timedelta(days=min(j // 2, 4)),
                starts_at=time(8, 30) if j % 2 == 0 else time(14, 0),
                ends_at=time(11, 30) if j % 2 == 0 else time(17, 0),
                hours=4,
                teacher_id=f"t{j % len(TEACHERS)}",
                teacher_name=TEACHERS[j % len(TEACHERS)],
                site_id="s0",
            )
        )
    return out


def teach(world: World, k: Klass, year: int, sessions: int, rnd: random.Random) -> None:
    planned = sessions_of(k, sessions)
    before = k.starts_on - timedelta(days=10)
    world.add(
        "teaching",
        class_stream(k.class_id),
        SCHOOL,
        [tc.CurriculumSet(class_id=k.class_id, course_ids=sorted({s.course_id for s in planned}))],
        before,
    )
    world.add("teaching", timetable_stream(world.county, year), SCHOOL, planned, before)
    hours = Counter()
    for s in planned:
        absent = [c for c in k.trainees if rnd.random() < 0.03]
        events: list[Event] = [
            tc.SessionAttended(
                class_id=k.class_id, session_id=s.session_id, cadre_id=c, hours=s.hours, on=s.on, kind=s.kind
            )
            for c in k.trainees
            if c not in absent
        ]
        events += [
            tc.AbsenceRecorded(class_id=k.class_id, session_id=s.session_id, cadre_id=c, on=s.on)
            for c in absent
        ]
        events.append(tc.AttendanceClosed(class_id=k.class_id, session_id=s.session_id, absent=len(absent)))
        hours.update({c: s.hours for c in k.trainees if c not in absent})
        world.add("teaching", attendance_stream(k.class_id, s.session_id), SCHOOL, events, s.on)
    full = sum(s.hours for s in planned)
    verdicts: list[Event] = []
    for c in k.trainees:
        rate = hours[c] / full
        if rate >= 0.8:
            p = world.people[c]
            verdicts.append(
                tc.TraineeGraduated(
                    class_id=k.class_id,
                    cadre_id=c,
                    name=p["name"],
                    unit=p["unit"],
                    graduated_on=k.ends_on,
                    hours=hours[c],
                    attendance_rate=round(rate, 3),
                    class_title=k.title,
                )
            )
        else:
            verdicts.append(
                tc.TraineeNotGraduated(class_id=k.class_id, cadre_id=c, reasons=["出勤率不足 80%"])
            )
    world.add("teaching", class_stream(k.class_id), SCHOOL, verdicts, k.ends_on)


def record(world: World, k: Klass, rnd: random.Random) -> None:
    head = Actor(user_id=f"rec-{k.class_id}", name="周文华", role="recorder")
    roles = (("head_teacher", head.user_id, head.name), ("branch_secretary", f"{head.user_id}-b", "孙志刚"))
    world.add(
        "records",
        records_class_stream(k.class_id),
        ORG,
        [
            rc.RecorderAssigned(class_id=k.class_id, person_id=pid, name=n, role=r, since=k.starts_on)
            for r, pid, n in roles
        ],
        k.starts_on - timedelta(days=3),
    )
    for n, c in enumerate(k.trainees):
        stream = records_trainee_stream(k.class_id, c)
        for j in range(2):
            on = k.starts_on + timedelta(days=j * 2)
            logged = rc.RecordLogged(
                record_id=f"{k.class_id}-{n}-{j}",
                class_id=k.class_id,
                cadre_id=c,
                category=("study", "conduct")[j],
                observed_on=on,
                text=rnd.choice(NOTES),
                author_id=head.user_id,
                author_name=head.name,
                author_role="head_teacher",
            )
            world.add("records", stream, head, [logged], on)
        final = rc.FinalCommentWritten(
            class_id=k.class_id, cadre_id=c, text="学习认真，表现良好。", author_name=head.name
        )
        world.add("records", stream, head, [final], k.ends_on)


# long: one graduate's follow-up command by command, each decided on the state the last left
def follow(world: World, k: Klass, rnd: random.Random, evaluated: float = 0.7) -> None:
    """Each graduate's follow-up through follow-up's decider: scheduled at graduation, each
    milestone come due evaluated by all three roles (most of them), a talk to their unit
    (one in ten), then today's tick."""
    decider = fd.FollowUpDecider()
    graduates = [
        e
        for c in world.streams["teaching"][class_stream(k.class_id)][-1:]
        for e in c.events
        if isinstance(e, tc.TraineeGraduated)
    ]
    for g in graduates:
        stream = fd.trainee_stream(k.class_id, g.cadre_id)
        schedule = fd.ScheduleFollowUp(
            class_id=k.class_id,
            cadre_id=g.cadre_id,
            name=g.name,
            unit=g.unit,
            graduated_on=g.graduated_on,
            months=fd.DEFAULT_MONTHS,
            grace_days=fd.DEFAULT_GRACE_DAYS,
            today=g.graduated_on,
            home_jurisdiction=world.county,
        )
        state = decide(world, decider, fd.FollowUpState(), stream, SCHEDULER, [schedule], g.graduated_on)
        unit = Actor(user_id=f"unit-{g.unit}", name=f"{g.unit}干部", role="unit")
        me = Actor(user_id=g.cadre_id, name=g.name, role="trainee")
        for month in fd.DEFAULT_MONTHS:
            on = fd.add_months(g.graduated_on, month) + timedelta(days=rnd.randrange(10))
            if on >= world.today or rnd.random() > evaluated:
                continue
            scores = {q: float(rnd.randrange(75, 99)) for q in fd.questions_for(month)}
            for role, actor in (("self", me), ("colleague", unit), ("unit_leader", unit)):
                evaluator = (
                    (g.cadre_id, g.name) if role == "self" else (f"{unit.user_id}-{role}", "单位评价人")
                )
                cmd = fd.SubmitEvaluation(
                    month=month,
                    role=role,
                    evaluator_id=evaluator[0],
                    evaluator_name=evaluator[1],
                    actor_role=actor.role,
                    actor_unit=None if role == "self" else g.unit,
                    scores=scores,
                    text="",
                    today=on,
                )
                state = decide(world, decider, state, stream, actor, [cmd], on)
        talk_on = g.graduated_on + timedelta(days=30)
        if talk_on < world.today and rnd.random() < 0.1:  # 上讲台: one graduate in ten shares with the unit
            talk = fd.GiveTalk(
                talk_id=f"talk-{k.class_id}-{g.cadre_id}",
                on=talk_on,
                audience=f"{g.unit}全体干部",
                topic="学习体会交流",
                attendees=rnd.randrange(10, 60),
                actor_role="unit",
                actor_id=unit.user_id,
                actor_unit=g.unit,
                today=talk_on,
            )
            state = decide(world, decider, state, stream, unit, [talk], talk_on)
        decide(world, decider, state, stream, SCHEDULER, [fd.Tick(world.today)], world.today)


def decide(world: World, decider, state, stream: str, actor: Actor, commands: list, on: date):
    events = decide_all(decider, state, commands)
    world.add("followup", stream, actor, events, on)
    for e in events:
        state = decider.evolve(state, e)
    return state
