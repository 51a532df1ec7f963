"""Teaching's catalogue and timetable aggregates, pure: decide and evolve, no I/O.

Three aggregates (streams):

* the catalogue (课程库、师资库、教学点) of a jurisdiction — `catalogue_stream(code)`;
* the timetable (课表) of a jurisdiction for one year — every session of every class
  taught there that year, so that a teacher or a site double-booked across classes is
  refused on one consistent state under the optimistic append. A clash needs the same
  date, so a year holds every session a new one can clash with; the year bounds the
  stream (a county school schedules hundreds of sessions a year, not tens of thousands);
* the class teaching record (班级教学) — curriculum, attendance, leave, ratings and
  graduation of one class; see `services.teaching.classroom`.

States are frozen, as in every service: `evolve` returns a new state and never changes
the one it was given (the command handler keeps the last state it appended to, so a
state must not change under it). Their maps are `FrozenMap`s, which a new entry does
not copy whole, so a fold stays about as fast as evolving in place
(services/teaching/README.md has the figures).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time

from shared.class_texts import refuse_named
from shared.contracts.teaching import (
    CourseAdded,
    FacultyAdded,
    OnlineHoursCredited,
    SessionCancelled,
    SessionRescheduled,
    SessionScheduled,
    TeachingSiteAdded,
)
from shared.errors import AlreadyApplied, DomainError, NotFound
from shared.events import Event

# Where a reason about one trainee belongs instead of a session's reason (shared/class_texts.py).
PERSONAL_REASON = "学员个人的情况请由学员在请假申请中说明，课次的原因请勿写学员姓名。"


def catalogue_stream(jurisdiction: str) -> str:
    return f"teaching-catalogue-{jurisdiction}"


def timetable_stream(jurisdiction: str, year: int) -> str:
    return f"teaching-timetable-{jurisdiction}-{year}"


def hm(t: time) -> str:
    return t.strftime("%H:%M")


# -- catalogue ------------------------------------------------------------------------
@dataclass(frozen=True)
class AddCourse:
    event: CourseAdded


@dataclass(frozen=True)
class AddCourses:
    """A whole list at once (e.g. the school's 155 theory courses from a sheet): all or none."""

    events: tuple[CourseAdded, ...]


@dataclass(frozen=True)
class AddFaculty:
    event: FacultyAdded


@dataclass(frozen=True)
class AddSite:
    event: TeachingSiteAdded


@dataclass(frozen=True, eq=False)
class FrozenMap(Mapping):
    """A frozen state's map: read-only, and `set` returns a new map, leaving this one as it was.

    Copying a whole dict per event would make a fold quadratic (a county's timetable of a
    year, a year of online records: 100-300 times slower than evolving in place), so the
    entries are kept in a few read-only layers whose sizes halve from the first to the last
    and are merged like a binary counter: a fold of n events copies O(n log n) entries, a
    lookup reads O(log n) layers. The latest layer holding a key wins. The layers are
    plain dicts for speed, made here and never changed after."""

    layers: tuple[dict, ...] = ()

    @staticmethod
    def of(entries: Mapping) -> FrozenMap:
        return FrozenMap((dict(entries),) if entries else ())

    def __getitem__(self, key):
        for layer in reversed(self.layers):
            if key in layer:
                return layer[key]
        raise KeyError(key)

    def _merged(self) -> dict:
        merged: dict = {}
        for layer in self.layers:
            merged.update(layer)
        return merged

    def __iter__(self):
        return iter(self._merged() if len(self.layers) > 1 else (self.layers[0] if self.layers else ()))

    def __len__(self) -> int:
        return len(self._merged()) if len(self.layers) > 1 else sum(map(len, self.layers))

    def set(self, key, value) -> FrozenMap:
        layers, new = list(self.layers), {key: value}
        while layers and len(layers[-1]) <= len(new):
            new = layers.pop() | new
        return FrozenMap((*layers, new))


def no_entries():
    """A frozen state's empty map (a dataclass default must be made per instance)."""
    return field(default_factory=FrozenMap)


@dataclass(frozen=True)
class CatalogueState:
    courses: Mapping[str, CourseAdded] = no_entries()
    faculty: Mapping[str, FacultyAdded] = no_entries()
    sites: Mapping[str, TeachingSiteAdded] = no_entries()

    def course(self, course_id: str) -> CourseAdded:
        if course_id not in self.courses:
            raise NotFound(
                f"课程库中没有编号为 {course_id} 的课程，请先录入课程。",
                code="course_not_found",
                field="course_id",
            )
        return self.courses[course_id]

    def teacher(self, teacher_id: str) -> FacultyAdded:
        if teacher_id not in self.faculty:
            raise NotFound(
                f"师资库中没有编号为 {teacher_id} 的教师，请先录入师资。",
                code="teacher_not_found",
                field="teacher_id",
            )
        return self.faculty[teacher_id]

    def site(self, site_id: str) -> TeachingSiteAdded:
        if site_id not in self.sites:
            raise NotFound(
                f"没有编号为 {site_id} 的教学场地，请先录入教学点。", code="site_not_found", field="site_id"
            )
        return self.sites[site_id]


class CatalogueDecider:
    def initial(self) -> CatalogueState:
        return CatalogueState()

    def decide(self, state: CatalogueState, command) -> list[Event]:
        match command:
            case AddCourse():
                return self._course(state, command.event)
            case AddCourses():
                return self._courses(state, command.events)
            case AddFaculty():
                return self._faculty(state, command.event)
            case AddSite():
                return self._site(state, command.event)
        raise TypeError(f"unknown command {command!r}")

    @staticmethod
    def _course(state: CatalogueState, e: CourseAdded) -> list[Event]:
        if e.course_id in state.courses:
            raise DomainError(
                f"课程编号 {e.course_id} 已被《{state.courses[e.course_id].title}》使用，请换一个编号。",
                code="course_exists",
                field="course_id",
            )
        same = next((c for c in state.courses.values() if c.title == e.title), None)
        if same is not None:
            raise DomainError(
                f"课程《{e.title}》已在课程库中（编号 {same.course_id}），无需重复录入。",
                code="course_title_exists",
                field="title",
            )
        return [e]

    def _courses(self, state: CatalogueState, events: tuple[CourseAdded, ...]) -> list[Event]:
        if not events:
            raise DomainError("没有要录入的课程。", code="no_courses")
        scratch, problems = state, []
        for n, e in enumerate(events, start=1):
            try:
                self._course(scratch, e)
            except DomainError as exc:
                problems.append(f"第 {n} 门：{exc.message}")
                continue
            scratch = self.evolve(scratch, e)
        if problems:
            raise DomainError(
                f"以下课程不能录入，整批未录入：{'；'.join(problems[:10])}"
                f"{' 等' if len(problems) > 10 else ''}",
                code="bad_courses",
                field="file",
            )
        return list(events)

    @staticmethod
    def _faculty(state: CatalogueState, e: FacultyAdded) -> list[Event]:
        if e.teacher_id in state.faculty:
            raise DomainError(
                f"师资编号 {e.teacher_id} 已被 {state.faculty[e.teacher_id].name} 使用，请换一个编号。",
                code="teacher_exists",
                field="teacher_id",
            )
        if e.kind == "领导干部" and not e.post.strip():
            raise DomainError(
                "“领导干部上讲台”的授课人须填写现任职务（post）。", code="post_required", field="post"
            )
        return [e]

    @staticmethod
    def _site(state: CatalogueState, e: TeachingSiteAdded) -> list[Event]:
        if e.site_id in state.sites:
            raise DomainError(
                f"教学点编号 {e.site_id} 已被“{state.sites[e.site_id].name}”使用，请换一个编号。",
                code="site_exists",
                field="site_id",
            )
        return [e]

    def evolve(self, state: CatalogueState, event: Event) -> CatalogueState:
        match event:
            case CourseAdded():
                return replace(state, courses=state.courses.set(event.course_id, event))
            case FacultyAdded():
                return replace(state, faculty=state.faculty.set(event.teacher_id, event))
            case TeachingSiteAdded():
                return replace(state, sites=state.sites.set(event.site_id, event))
        return state


# -- timetable ------------------------------------------------------------------------
@dataclass(frozen=True)
class Session:
    """A session as the timetable knows it (the facts attendance and graduation need)."""

    session_id: str
    class_id: str
    course_id: str
    course_title: str
    kind: str
    on: date
    starts_at: time
    ends_at: time
    hours: float
    teacher_id: str
    teacher_name: str
    site_id: str
    required: bool = True
    cancelled: bool = False

    def overlaps(self, on: date, starts_at: time, ends_at: time) -> bool:
        return self.on == on and self.starts_at < ends_at and starts_at < self.ends_at

    def describe(self) -> str:
        return f"{self.on} {hm(self.starts_at)}–{hm(self.ends_at)}《{self.course_title}》"


@dataclass(frozen=True)
class ClassWindow:
    """The class the session belongs to, as teaching's roster knows it."""

    class_id: str
    title: str
    starts_on: date
    ends_on: date
    size: int


@dataclass(frozen=True)
class ScheduleSession:
    session_id: str
    klass: ClassWindow
    course: CourseAdded
    teacher: FacultyAdded
    site: TeachingSiteAdded
    on: date
    starts_at: time
    ends_at: time
    hours: float | None = None  # default: the course's hours
    required: bool | None = None  # default: the course is 必修
    # False when the server made the session_id (the client sent none): a retry then
    # has a new id, and the session it repeats is found by its content instead.
    id_given: bool = True


@dataclass(frozen=True)
class RescheduleSession:
    session_id: str
    klass: ClassWindow
    on: date
    starts_at: time
    ends_at: time
    teacher: FacultyAdded
    site: TeachingSiteAdded
    reason: str = ""
    # The full names of the class's trainees, read before deciding: the reason is the session's,
    # readable for ever, so it may name none of them (shared/class_texts.py).
    trainee_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CancelSession:
    session_id: str
    class_id: str
    reason: str = ""
    trainee_names: frozenset[str] = frozenset()  # as RescheduleSession's


@dataclass(frozen=True)
class TimetableState:
    sessions: Mapping[str, Session] = no_entries()

    @staticmethod
    def merged(states: list[TimetableState]) -> TimetableState:
        """The sessions of several years' timetables as one (a class spanning new year)."""
        return TimetableState(FrozenMap.of({k: s for st in states for k, s in st.sessions.items()}))

    def of_class(self, class_id: str) -> list[Session]:
        return sorted(
            (s for s in self.sessions.values() if s.class_id == class_id), key=lambda s: (s.on, s.starts_at)
        )

    def session(self, class_id: str, session_id: str, class_title: str = "") -> Session:
        s = self.sessions.get(session_id)
        if s is None or s.class_id != class_id:
            raise NotFound(
                f"{f'班次“{class_title}”' if class_title else '本班'}没有这个课次，请从课表中选择。",
                code="session_not_found",
            )
        return s


def ended(on: date, ends_at: time, now: datetime) -> bool:
    """Whether a session on `on` ending at `ends_at` is over at `now` (Beijing wall time)."""
    return datetime.combine(on, ends_at) <= now.replace(tzinfo=None)


def _check_slot(
    state: TimetableState,
    session_id: str,
    klass: ClassWindow,
    on: date,
    starts_at: time,
    ends_at: time,
    teacher: FacultyAdded,
    site: TeachingSiteAdded,
) -> None:
    if ends_at <= starts_at:
        raise DomainError(
            f"下课时间 {hm(ends_at)} 须晚于上课时间 {hm(starts_at)}。", code="bad_times", field="ends_at"
        )
    if not klass.starts_on <= on <= klass.ends_on:
        raise DomainError(
            f"{on} 不在班次“{klass.title}”的办班期间（{klass.starts_on} 至 {klass.ends_on}），"
            "请改在办班期间排课。",
            code="outside_class_dates",
            field="on",
        )
    if site.capacity < klass.size:
        raise DomainError(
            f"教学点“{site.name}”可容纳 {site.capacity} 人，班次“{klass.title}”有 {klass.size} 名学员，"
            "请另选场地。",
            code="site_too_small",
            field="site_id",
        )
    for other in state.sessions.values():
        if other.session_id == session_id or other.cancelled or not other.overlaps(on, starts_at, ends_at):
            continue
        if other.teacher_id == teacher.teacher_id:
            raise DomainError(
                f"排课冲突：{teacher.name} 在 {other.describe()} 已有授课安排，请调整时间或授课人。",
                code="teacher_clash",
                field="teacher_id",
            )
        if other.site_id == site.site_id:
            raise DomainError(
                f"排课冲突：教学点“{site.name}”在 {other.describe()} 已被占用，请调整时间或场地。",
                code="site_clash",
                field="site_id",
            )
        if other.class_id == klass.class_id:
            raise DomainError(
                f"排课冲突：本班在 {other.describe()} 已有课程，请调整时间。",
                code="class_clash",
                field="starts_at",
            )


def _content(c: ScheduleSession) -> dict:
    """What a SessionScheduled for `c` holds (as stored), bar its id: a retry must repeat it."""
    return {
        "class_id": c.klass.class_id,
        "course_id": c.course.course_id,
        "on": c.on.isoformat(),
        "starts_at": c.starts_at.isoformat(),
        "ends_at": c.ends_at.isoformat(),
        "teacher_id": c.teacher.teacher_id,
        "site_id": c.site.site_id,
        "hours": c.hours or c.course.hours,
        "required": c.course.mode == "必修" if c.required is None else c.required,
    }


def _check_repeat(state: TimetableState, c: ScheduleSession) -> None:
    """A session sent again without its id (a retry after a lost answer) is the session
    already scheduled for the same class, course, day, times, teacher and site: it is
    answered as the first was, not refused as a clash with itself."""
    for s in state.sessions.values():
        if (
            not s.cancelled
            and s.class_id == c.klass.class_id
            and s.course_id == c.course.course_id
            and (s.on, s.starts_at, s.ends_at) == (c.on, c.starts_at, c.ends_at)
            and s.teacher_id == c.teacher.teacher_id
            and s.site_id == c.site.site_id
        ):
            raise AlreadyApplied(
                f"排课冲突：{c.teacher.name} 在 {s.describe()} 已有授课安排，请调整时间或授课人。",
                code="teacher_clash",
                field="teacher_id",
                event_type="SessionScheduled",
                key={"session_id": s.session_id},
                content=_content(c),
            )


class TimetableDecider:
    def initial(self) -> TimetableState:
        return TimetableState()

    def decide(self, state: TimetableState, command) -> list[Event]:
        match command:
            case ScheduleSession():
                return self._schedule(state, command)
            case RescheduleSession():
                return self._reschedule(state, command)
            case CancelSession():
                return self._cancel(state, command)
        raise TypeError(f"unknown command {command!r}")

    @staticmethod
    def _schedule(state: TimetableState, c: ScheduleSession) -> list[Event]:
        if c.session_id in state.sessions:
            # The same session sent again (a retry) is answered as the first was.
            raise AlreadyApplied(
                f"课次编号 {c.session_id} 已存在。",
                code="session_exists",
                field="session_id",
                event_type="SessionScheduled",
                key={"session_id": c.session_id},
                content=_content(c),
            )
        if not c.id_given:
            _check_repeat(state, c)
        _check_slot(state, c.session_id, c.klass, c.on, c.starts_at, c.ends_at, c.teacher, c.site)
        return [
            SessionScheduled(
                class_id=c.klass.class_id,
                session_id=c.session_id,
                course_id=c.course.course_id,
                course_title=c.course.title,
                kind=c.course.kind,
                on=c.on,
                starts_at=c.starts_at,
                ends_at=c.ends_at,
                hours=c.hours or c.course.hours,
                teacher_id=c.teacher.teacher_id,
                teacher_name=c.teacher.name,
                site_id=c.site.site_id,
                required=c.course.mode == "必修" if c.required is None else c.required,
            )
        ]

    @staticmethod
    def _reschedule(state: TimetableState, c: RescheduleSession) -> list[Event]:
        s = state.session(c.klass.class_id, c.session_id, c.klass.title)
        if s.cancelled:
            raise DomainError(f"课次 {s.describe()} 已停课，不能调课；请重新排课。", code="session_cancelled")
        if c.on.year != s.on.year:
            raise DomainError(
                f"课次 {s.describe()} 不能跨年调到 {c.on}：请停课后在新的日期重新排课。",
                code="cross_year",
                field="on",
            )
        _check_slot(state, c.session_id, c.klass, c.on, c.starts_at, c.ends_at, c.teacher, c.site)
        refuse_named(c.reason, c.trainee_names, field="reason", what="调课原因", belongs=PERSONAL_REASON)
        return [
            SessionRescheduled(
                class_id=s.class_id,
                session_id=s.session_id,
                on=c.on,
                starts_at=c.starts_at,
                ends_at=c.ends_at,
                teacher_id=c.teacher.teacher_id,
                teacher_name=c.teacher.name,
                site_id=c.site.site_id,
                reason=c.reason,
                previous_teacher_id=s.teacher_id,
                course_id=s.course_id,
                course_title=s.course_title,
                kind=s.kind,
                hours=s.hours,
                required=s.required,
            )
        ]

    @staticmethod
    def _cancel(state: TimetableState, c: CancelSession) -> list[Event]:
        s = state.session(c.class_id, c.session_id)
        if s.cancelled:
            raise DomainError(f"课次 {s.describe()} 已停课。", code="session_cancelled")
        refuse_named(c.reason, c.trainee_names, field="reason", what="停课原因", belongs=PERSONAL_REASON)
        return [
            SessionCancelled(
                class_id=s.class_id, session_id=s.session_id, reason=c.reason, teacher_id=s.teacher_id
            )
        ]

    def evolve(self, state: TimetableState, event: Event) -> TimetableState:
        match event:
            case SessionScheduled():
                s = Session(
                    event.session_id,
                    event.class_id,
                    event.course_id,
                    event.course_title,
                    event.kind,
                    event.on,
                    event.starts_at,
                    event.ends_at,
                    event.hours,
                    event.teacher_id,
                    event.teacher_name,
                    event.site_id,
                    event.required,
                )
            case SessionRescheduled():
                s = replace(
                    state.sessions[event.session_id],
                    on=event.on,
                    starts_at=event.starts_at,
                    ends_at=event.ends_at,
                    teacher_id=event.teacher_id,
                    teacher_name=event.teacher_name,
                    site_id=event.site_id,
                )
            case SessionCancelled():
                s = replace(state.sessions[event.session_id], cancelled=True)
            case _:
                return state
        return TimetableState(state.sessions.set(s.session_id, s))


# -- online-learning hours ------------------------------------------------------------
def online_stream(jurisdiction: str, year: int) -> str:
    """网络学习学时 of a jurisdiction for one year: a platform record has a fixed date,
    so a re-import of the same record always meets the stream that already holds it."""
    return f"teaching-online-{jurisdiction}-{year}"


@dataclass(frozen=True)
class CreditOnlineHours:
    records: tuple[OnlineHoursCredited, ...]


@dataclass(frozen=True)
class OnlineLedgerState:
    references: FrozenMap = no_entries()  # platform record number -> True


class OnlineLedgerDecider:
    def initial(self) -> OnlineLedgerState:
        return OnlineLedgerState()

    def decide(self, state: OnlineLedgerState, command) -> list[Event]:
        match command:
            case CreditOnlineHours():
                return self._credit(state, command.records)
        raise TypeError(f"unknown command {command!r}")

    @staticmethod
    def _credit(state: OnlineLedgerState, records: tuple[OnlineHoursCredited, ...]) -> list[Event]:
        # a person by the name in the file, else by the cadre number the file gives
        missing = [r.name or r.cadre_id for r in records if not r.reference.strip()]
        if missing:
            raise DomainError(
                f"网络学习记录须带平台记录编号，以免重复计入（{'、'.join(missing[:5])} 的记录缺编号）。",
                code="reference_required",
                field="reference",
            )
        out, seen = [], set()
        for r in records:
            if r.reference not in state.references and r.reference not in seen:
                seen.add(r.reference)  # a re-imported record adds nothing
                out.append(r)
        return out

    def evolve(self, state: OnlineLedgerState, event: Event) -> OnlineLedgerState:
        if isinstance(event, OnlineHoursCredited):
            return OnlineLedgerState(state.references.set(event.reference, True))
        return state
