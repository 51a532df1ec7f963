"""Loads the demo through the four services' own HTTP APIs, so every event is real.

Order (each step is what a user of that service would do):
  selection's clock moved back before the classes start → registries imported (one file
  per county) → classes opened, scope drawn, each unit recommends its list, the
  department confirms its list (rejects one), study groups → selection's clock back to
  the real day → teaching catalogue, curriculum, each session scheduled and checked in
  (leave, lateness, absences), and at the same time records: 3+N recorders, records, a
  correction, the Hunan classes scored for a week → graduation (武城县's spring class
  back-filled with its own date, and its first half-year of follow-up with follow-up's
  clock walked through its months 1, 3 and 6) → follow-up: plan, mentors, tasks, talks,
  outcomes; its clock moved to +35 days (month-1 evaluations, on time), to the spring
  class's month 12, and then to +100 days (month-3 due, the rest of month 1 overdue) → last, the
  Huzhou camp's records and two weeks of scores (a third of all calls), so that the
  province and county pages `ganxun up` prints are full before the demo ends.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from deploy.demo import data
from deploy.demo.client import Api, DemoError
from shared.clock import add_months, local_today
from shared.http_client import pooled_client


@dataclass(frozen=True)
class Codes:
    """Where the demo lives; a test passes codes of its own."""

    wucheng: str = "371428"
    huzhou: str = "330500"
    xundian: str = "530129"
    hunan: tuple[str, ...] = ("430121", "430181", "430223", "430626")

    def jurisdictions(self) -> list[str]:
        """What the services must serve (the province's counties one by one)."""
        return [self.wucheng, self.huzhou, self.xundian, *self.hunan]


HUNAN_NAMES = {
    "430121": ("长沙县", "县", ("星沙", "黄兴", "榔梨")),
    "430181": ("浏阳市", "市", ("大瑶", "永安", "沙市")),
    "430223": ("攸县", "县", ("网岭", "皇图岭", "黄丰桥")),
    "430626": ("平江县", "县", ("三市", "安定", "长寿")),
}


@dataclass
class ClassPlan:
    county: data.County
    class_id: str
    title: str
    days: list[date]
    size: int
    category: str = ""
    groups: tuple[str, ...] = ()
    committee: int = 2  # the N of 3+N
    scheme: bool = False
    score_weeks: int = 2  # weeks scored with the scheme (the last ones)
    past: bool = False  # ended ten months ago: followed up through month 12
    trainees: list[data.Person] = field(default_factory=list)
    rejected: data.Person | None = None
    sessions: list[dict] = field(default_factory=list)
    graduates: list[str] = field(default_factory=list)
    # 身份证号 → cadre id, as selection answered after the registries' import (one dict
    # shared by every plan): ids are keyed with the province's secret, which the loader
    # does not hold (services/selection/README.md, "Cadre ids").
    cadre_ids: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.county.code

    def cadre_id(self, p: data.Person) -> str:
        return self.cadre_ids[p.id_number]

    def ids(self) -> list[str]:
        return [self.cadre_id(p) for p in self.trainees]


@dataclass
class Summary:
    classes: int = 0
    trainees: int = 0
    sessions: int = 0
    graduates: int = 0
    records: int = 0
    evaluations: int = 0
    requests: int = 0
    seconds: float = 0.0
    panels_full: float = 0.0  # the printed province and county pages are full by then
    refused: list[str] = field(default_factory=list)
    steps: list[tuple[str, float]] = field(default_factory=list)
    plans: list[ClassPlan] = field(default_factory=list)


def _n(x: float, scale: float, least: int) -> int:
    return max(least, round(x * scale))


# long: the demo's classes, one line per class and its dates
def plan(
    codes: Codes, today: date, scale: float, names: data.Names
) -> tuple[list[data.Registry], list[ClassPlan]]:
    """The registries and classes, with their dates relative to `today` (all in the past)."""
    wucheng = data.County(codes.wucheng, "武城县", "县", ("甲马营", "武城", "郝王庄"))
    huzhou = data.County(codes.huzhou, "湖州市", "市", ("八里店", "练市", "武康"))
    xundian = data.County(codes.xundian, "寻甸县", "县", ("仁德", "羊街", "柯渡"))
    hunan = [
        data.County(c, *HUNAN_NAMES.get(c, (f"县{c}", "县", ("东山", "西河", "南岭")))) for c in codes.hunan
    ]
    regs, classes = [], []

    # Huzhou: a year of 2nd and 4th Saturdays up to last week, six study groups by domain.
    year = today.year if today.month >= 4 else today.year - 1
    sats = data.saturdays(date(year, 1, 1), today - timedelta(days=1))[-24:]
    sats = sats[-_n(len(sats), scale, 2) :]
    size = _n(150, scale, 12)
    reg = names.registry(huzhou, size + _n(30, scale, 4), data.HUZHOU_GROUPS)
    regs.append(reg)
    hz = ClassPlan(
        huzhou,
        f"hz-{year}-tx",
        f"{year}年湖州市优秀年轻干部特训营",
        sats,
        size,
        "年轻干部",
        data.HUZHOU_GROUPS,
        committee=3,
        scheme=True,
    )
    hz.trainees, hz.rejected = reg.people[:size], reg.people[size]
    classes.append(hz)

    def county_class(
        county: data.County,
        cid: str,
        title: str,
        first: date,
        days: int,
        size: int,
        registry: data.Registry,
        offset: int = 0,
        category: str = "",
    ) -> ClassPlan:
        c = ClassPlan(county, cid, title, [first + timedelta(days=i) for i in range(days)], size, category)
        c.trainees = registry.people[offset : offset + size]
        c.rejected = registry.people[offset + size]
        return c

    reg = names.registry(wucheng, _n(80, scale, 16))
    regs.append(reg)
    wc = county_class(
        wucheng,
        "wc-xzsj",
        "乡镇党委书记培训班",
        today - timedelta(days=40),
        _n(5, scale, 2),
        _n(40, scale, 6),
        reg,
        category="乡镇党委书记",
    )
    wc.scheme, wc.score_weeks = True, 1  # the county page's assessment chart
    # Its spring class, graduated about ten months ago, so that the follow-up runs through
    # months 6 and 12 (the evaluation chart's four stages); the school back-fills its graduation date.
    past = county_class(
        wucheng,
        "wc-kjjx",
        "科级干部进修班（春季）",
        today - timedelta(days=320),
        _n(3, scale, 2),
        _n(30, scale, 6),
        reg,
        offset=wc.size + 1,
        category="科级干部",
    )
    past.past = True
    classes += [past, wc]
    reg = names.registry(xundian, _n(90, scale, 16))
    regs.append(reg)
    a = _n(40, scale, 6)
    classes.append(
        county_class(
            xundian,
            "xd-llxx",
            "理论进修班（第一期）",
            today - timedelta(days=60),
            _n(3, scale, 2),
            a,
            reg,
            category="理论学习",
        )
    )
    classes.append(
        county_class(
            xundian,
            "xd-cssj",
            "村（社区）党组织书记示范培训班",
            today - timedelta(days=25),
            _n(4, scale, 2),
            _n(30, scale, 6),
            reg,
            offset=a + 1,
            category="村(社区)党组织书记",
        )
    )
    for i, county in enumerate(hunan):
        reg = names.registry(county, _n(60, scale, 10))
        regs.append(reg)
        hn = county_class(
            county,
            f"hn-{county.code}-zqn",
            "中青年干部培训班",
            today - timedelta(days=20 + 9 * i),
            _n(3, scale, 2),
            _n(25 + 5 * i, scale, 5),
            reg,
            category="中青年干部",
        )
        hn.scheme, hn.score_weeks = True, 1  # the province's assessment chart: one week scored each
        classes.append(hn)
    return regs, classes


# long: the demo's steps in the order the year runs, each one line
async def load(
    urls: dict[str, str],
    private_key: bytes,
    codes: Codes = Codes(),
    scale: float = 1.0,
    today: date | None = None,
    progress=None,
    concurrency: int = 8,
    move_clock=None,
) -> Summary:
    """Loads the demo; `progress(step_name)` is called after each of the steps (for a bar).
    `move_clock(service, day)` moves a service's development clock (shared/clock.store_mover);
    without it, the admin route is used (it needs an admin covering the whole deployment)."""
    started = time.monotonic()
    today = today or local_today()
    rng = random.Random(7)
    names = data.Names()
    regs, classes = plan(codes, today, scale, names)
    out = Summary(plans=classes)
    mark = [time.monotonic()]

    def step(name: str) -> None:
        now = time.monotonic()
        out.steps.append((name, round(now - mark[0], 1)))
        mark[0] = now
        if progress:
            progress(name)

    async with pooled_client(180) as client:
        api = Api(client, urls, private_key, concurrency)
        d = Demo(api, today, rng, codes.wucheng, move_clock)
        await d.selection_clock(min(c.days[0] for c in classes) - timedelta(days=3))
        past = [c for c in classes if c.past]
        if past:  # follow-up's clock starts on the day the past class ended, then only moves forward
            await d.followup_clock(min(c.days[-1] for c in past))
        await asyncio.gather(*(d.registry(r) for r in regs))
        for c in classes:
            c.cadre_ids = d.cadre_ids
        step("干部名册")
        await asyncio.gather(*(d.select(c) for c in classes))
        await d.selection_clock(today)
        step("选学：开班、推荐、确定、分组")
        counties = {c.code: c.county for c in classes}
        await asyncio.gather(
            *(d.catalogue(county) for county in counties.values()),
            *(d.followup_plan(c) for c in classes),
            *(d.online_hours(r) for r in regs),
        )
        step("教学：课程、师资、教学点；网络学习学时")
        camp = [c for c in classes if c.groups]  # the camp: study groups, a year of Saturdays
        # The pages `ganxun up` prints (the Hunan province, 武城县) first, through every step
        # to month-1 evaluations; then 寻甸 and the camp. The follow-up clock only moves
        # forward: through the past class's months 1, 3 and 6, to the real day, +35 days
        # for both passes' month-1 evaluations, the past class's month 12, then +100 for month 3.
        first = [c for c in classes if c.code in (codes.wucheng, *codes.hunan)]
        rest = [c for c in classes if c not in first]

        async def teach_and_record(cs: list[ClassPlan]) -> None:
            by_county: dict[str, list[ClassPlan]] = {}
            for c in cs:
                by_county.setdefault(c.code, []).append(c)

            past_year: list[asyncio.Task] = []

            async def teach(county: list[ClassPlan]) -> None:  # one timetable stream per county: in turn
                for c in county:
                    await d.teach(c)
                    if c.past:  # graduated and followed up through month 6 while the others are taught
                        past_year.append(asyncio.create_task(d.graduate_past(c)))

            # Records need only the roster, not the sessions: both at once. The camp's records,
            # its two weeks of scores and its mentors (a third of all calls), and the spring
            # class's records (not what the printed pages show), come last.
            await asyncio.gather(
                *(teach(county) for county in by_county.values()),
                *(d.records(c) for c in cs if c not in camp and not c.past),
            )
            # Mentors' tasks are dated by follow-up's clock: only once it is back on the real day.
            await asyncio.gather(*(d.graduate(c) for c in cs if not c.past), *past_year)
            await asyncio.gather(
                *(d.after(c, today) for c in cs if c not in camp and not c.past),
                *(d.scheduled(c) for c in camp if c in cs),
            )

        await teach_and_record(first)
        step("湖南四县、武城县：排课、签到、纪实、结业、往期班次半年跟踪、导师与成果")
        await d.followup_clock(today + timedelta(days=35))
        await asyncio.gather(*(d.evaluate(c, 1, 0.6) for c in first if not c.past))
        out.panels_full = time.monotonic() - started
        step("湖南四县、武城县：一个月评价（省级、县级看板已满）")
        await teach_and_record(rest)
        step("寻甸县、湖州特训营：排课、签到、纪实、结业")
        await asyncio.gather(*(d.evaluate(c, 1, 0.6) for c in rest))
        step("寻甸县、湖州特训营：一个月评价")
        for c in past:  # its month 12 falls between +35 and +100 days; its mentors' year, its talks
            await d.followup_clock(
                max(today + timedelta(days=35), add_months(c.days[-1], 12) + timedelta(days=5))
            )
            await asyncio.gather(d.evaluate(c, 12, 0.75), d.after(c, add_months(c.days[-1], 2)))
        await d.followup_clock(today + timedelta(days=100))
        await asyncio.gather(*(d.evaluate(c, 3, 0.3) for c in classes if not c.past))
        step("跟踪：往期班次一年评价与导师帮带、三个月评价；其余节点到期、逾期")
        await asyncio.gather(
            *(d.records(c) for c in camp + past),
            *(d.after(c, today) for c in camp),
            *(d.ratings(c) for c in classes),
        )
        step("特训营：3+N 记录、两周量化考核；导师、帮带任务、上讲台、成果；往期班次纪实；各班课程评价")
        out.classes, out.trainees = len(classes), sum(len(c.trainees) for c in classes)
        out.sessions = sum(len(c.sessions) for c in classes)
        out.graduates = sum(len(c.graduates) for c in classes)
        out.records, out.evaluations = d.records_logged, d.evaluations
        out.requests, out.refused = api.calls, api.refused
    out.seconds = time.monotonic() - started
    return out


STEPS = 9
RATERS = 4  # trainees rating each session
COMMENTS = {
    5: "案例鲜活，联系实际，收获很大。",
    4: "内容充实，建议增加互动研讨时间。",
    3: "理论性较强，希望多讲基层案例。",
}


class Demo:
    def __init__(self, api: Api, today: date, rng: random.Random, admin_code: str, move_clock=None) -> None:
        self.move_clock = move_clock
        self.api, self.today, self.rng = api, today, rng
        self.records_logged = 0
        self.cadre_ids: dict[str, str] = {}  # 身份证号 → cadre id, from selection (registry)
        self.evaluations = 0
        self.admin = api.who("admin", admin_code, "演示管理员")
        self._questions: dict | None = None

    async def questions_for(self, c: ClassPlan, month: int) -> list[str]:
        """The keys a milestone's evaluation scores, as follow-up publishes them (GET /questions)."""
        if self._questions is None:
            self._questions = await self.api.call("followup", "GET", "/questions", self.org(c.code))
        stage = self._questions["by_month"][str(month)]
        return list(self._questions["stages"][stage]["questions"])

    # -- clocks -----------------------------------------------------------------------------
    async def selection_clock(self, day: date) -> None:
        await self._clock("selection", day)

    async def followup_clock(self, day: date) -> None:
        await self._clock("followup", day)

    async def _clock(self, service: str, day: date) -> None:
        if self.move_clock is not None:
            await self.move_clock(service, day)
        else:
            await self.api.call(service, "PUT", "/admin/clock", self.admin, json={"today": day.isoformat()})

    # -- selection ----------------------------------------------------------------------------
    def org(self, code: str):
        return self.api.who("org_department", code, "组织部李科长", user_id=f"demo-org-{code}")

    def school(self, code: str):
        return self.api.who("party_school", code, "党校刘老师", user_id=f"demo-school-{code}")

    async def registry(self, reg: data.Registry) -> None:
        org = self.org(reg.county.code)
        res = await self.api.call(
            "selection",
            "POST",
            "/cadres/import",
            org,
            files={"file": (f"{reg.county.name}干部名册.csv", reg.csv_bytes(), "text/csv")},
        )
        if res["rejected"]:
            raise RuntimeError(f"名册导入有被拒行：{res['errors'][:3]}")

        async def synced():
            got = await self.api.get("selection", "/cadres", org)
            return got and got["total"] >= len(reg.people)

        await self.api.until(synced, f"{reg.county.name} 名册同步")
        numbers = [p.id_number for p in reg.people]
        got = await self.api.call("selection", "POST", "/cadres/lookup", org, json={"id_numbers": numbers})
        if got["missing"]:
            raise RuntimeError(f"名册中查不到 {len(got['missing'])} 个身份证号")
        self.cadre_ids.update(got["found"])

    async def select(self, c: ClassPlan) -> None:
        org = self.org(c.code)
        groups = [{"name": g, "advisor": f"{data.SURNAMES[i]}辅导员"} for i, g in enumerate(c.groups)]
        await self.api.call(
            "selection",
            "POST",
            "/classes",
            org,
            json={
                "class_id": c.class_id,
                "title": c.title,
                "capacity": c.size,
                "starts_on": c.days[0].isoformat(),
                "ends_on": c.days[-1].isoformat(),
                "organiser": f"{c.county.name}委党校",
                "category": c.category,
                "theme": "学思想、强党性、重实践、建新功",
                "level": "科级",
                "schedule": "每月第二、第四个星期六" if c.groups else "脱产集中培训",
                "study_groups": groups,
            },
        )
        await self.api.call(
            "selection", "POST", f"/classes/{c.class_id}/scope", org, json={"ranks": list(data.RANKS)}
        )
        # Each unit recommends its people as one list; the department confirms its list at once.
        by_unit: dict[str, list[data.Person]] = {}
        for p in [*c.trainees, c.rejected]:
            by_unit.setdefault(p.unit, []).append(p)
        for unit_name, people in by_unit.items():
            unit = self.api.who(
                "unit", c.code, f"{unit_name}干部科", user_id=f"demo-unit-{unit_name}", unit=unit_name
            )
            await self.api.call(
                "selection",
                "POST",
                f"/classes/{c.class_id}/nominations/batch",
                unit,
                json={"cadre_ids": [c.cadre_id(p) for p in people]},
            )
        await self.api.call(
            "selection", "POST", f"/classes/{c.class_id}/confirmations", org, json={"cadre_ids": c.ids()}
        )
        await self.api.call(
            "selection",
            "POST",
            f"/classes/{c.class_id}/nominations/{c.cadre_id(c.rejected)}/reject",
            org,
            json={"reason": "近期承担重点项目攻坚任务，工作脱不开，下期再安排"},
        )
        if c.groups:
            await self.api.call("selection", "POST", f"/classes/{c.class_id}/groups", org)

    # -- teaching -----------------------------------------------------------------------------
    async def catalogue(self, county: data.County) -> None:
        ps = self.school(county.code)
        courses = (
            [("th", i, t, "理论课", 3) for i, t in enumerate(data.THEORY)]
            + [("pa", i, t, "党性课", 3) for i, t in enumerate(data.PARTY)]
            + [("op", i, t, "能力课", 3) for i, t in enumerate(data.OPEN)]
        )
        for prefix, i, title, kind, hours in courses:
            await self.api.call(
                "teaching",
                "POST",
                "/courses",
                ps,
                json={
                    "course_id": f"{prefix}{i:02d}",
                    "title": title,
                    "kind": kind,
                    "hours": hours,
                    "method": "现场教学" if "现场" in title else "讲授",
                },
                tolerate=("course_exists", "course_title_exists"),
            )
        teachers = [
            ("t01", "陈静", "党校教师", ""),
            ("t02", "周文斌", "党校教师", ""),
            ("t03", "林晓", "特邀专家", ""),
            ("t04", "许国强", "领导干部", f"{county.name}委常委、组织部部长"),
            ("t05", "吴敏", "党校教师", ""),
        ]
        for tid, name, kind, post in teachers:
            await self.api.call(
                "teaching",
                "POST",
                "/faculty",
                ps,
                json={"teacher_id": tid, "name": name, "kind": kind, "post": post},
                tolerate=("teacher_exists",),
            )
        for sid, name, kind, cap in (
            ("main", f"{county.name}委党校报告厅", "教室", 300),
            ("red", f"{county.name}革命传统教育基地", "红色教育基地", 200),
        ):
            await self.api.call(
                "teaching",
                "POST",
                "/sites",
                ps,
                json={
                    "site_id": sid,
                    "name": name,
                    "site_type": kind,
                    "capacity": cap,
                    "address": county.name,
                },
                tolerate=("site_exists",),
            )

    async def online_hours(self, reg: data.Registry) -> None:
        """The online platform's yearly export: most cadres studied online, some enough to
        reach the yearly hours with their classes, some not at all."""
        on = max(date(self.today.year, 1, 5), self.today - timedelta(days=30)).isoformat()
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["平台记录编号", "干部编号", "姓名", "学时", "学习日期", "课程类别"])
        for k, p in enumerate(reg.people):
            r = self.rng.random()
            hours = (
                0
                if r < 0.25
                else round(50 + 45 * self.rng.random())
                if r < 0.6
                else round(95 + 30 * self.rng.random())
            )
            if hours:
                w.writerow(
                    [
                        f"wl-{reg.county.code}-{self.today.year}-{k:04d}",
                        self.cadre_ids[p.id_number],
                        p.name,
                        hours,
                        on,
                        "理论课",
                    ]
                )
        await self.api.call(
            "teaching",
            "POST",
            "/online-hours",
            self.org(reg.county.code),
            files={
                "file": (f"{reg.county.name}网络学习学时.csv", out.getvalue().encode("utf-8"), "text/csv")
            },
        )

    async def leave(self, c: ClassPlan, sid: str, cadre_id: str) -> None:
        """A trainee asks for leave before the session and gets it; for a session already
        begun (the demo's past terms) they may not, and the school does what it does after
        the fact: registers the leave and approves it, or, once the roll call is closed
        (the closer ends past sessions), excuses the absence (补假)."""
        ps, reason = self.school(c.code), "参加县委重要会议"
        path = f"/classes/{c.class_id}/sessions/{sid}/leave-requests"
        me = self.api.who("trainee", c.code, "学员", user_id=cadre_id)
        asked = await self.api.call(
            "teaching", "POST", path, me, json={"reason": reason}, tolerate=("session_begun",)
        )
        if asked is None:
            asked = await self.api.call(
                "teaching",
                "POST",
                path,
                ps,
                json={"cadre_id": cadre_id, "reason": reason},
                tolerate=("absence_recorded",),
            )
        if asked is None:
            await self.api.call(
                "teaching",
                "POST",
                f"/classes/{c.class_id}/sessions/{sid}/excused-absences",
                ps,
                json={"cadre_id": cadre_id, "reason": f"{reason}（课后补假）"},
            )
            return
        await self.api.call(
            "teaching",
            "POST",
            f"{path}/{cadre_id}/decision",
            ps,
            json={"approved": True, "note": "同意，请自学补课"},
        )

    # long: a class's teaching in the order a term runs
    async def teach(self, c: ClassPlan) -> None:
        ps = self.school(c.code)

        async def roster():
            got = await self.api.get("teaching", f"/classes/{c.class_id}/roster", ps)
            return got and got.get("confirmed", 0) >= c.size

        await self.api.until(roster, f"{c.title} 教学名册")
        slots = []
        for di, day in enumerate(c.days):
            if c.groups:  # the camp: one whole Saturday per session (6 hours: a course, then discussion)
                slots.append((day, "09:00", "16:30", ("th", "pa", "op")[di % 3], di, 6))
            else:
                slots.append((day, "09:00", "11:30", ("th", "pa")[di % 2], di, None))
                slots.append((day, "14:00", "16:30", ("op", "th")[di % 2], di + 3, None))
        used = sorted({f"{p}{i % 10:02d}" for _d, _s, _e, p, i, _h in slots})
        await self.api.call(
            "teaching",
            "PUT",
            f"/classes/{c.class_id}/curriculum",
            ps,
            json={"course_ids": used, "required_hours": {"党性课": 3}},
        )
        ids = c.ids()
        chronic = ids[-1]  # misses most sessions: not graduated

        async def attend(sid: str, leave: str | None, entries: list[dict]) -> None:
            if leave:
                await self.leave(c, sid, leave)
            # The closer may end a past session before the check-in arrives: then it stays absent.
            await self.api.call(
                "teaching",
                "POST",
                f"/classes/{c.class_id}/sessions/{sid}/check-ins",
                ps,
                json={"entries": entries},
                tolerate=("absence_recorded",),
            )

        attending = []
        for n, (day, start, end, prefix, i, hours) in enumerate(slots):
            sid = f"{c.class_id}-s{n + 1:03d}"
            teacher = "t04" if prefix == "pa" and n % 4 == 0 else ("t01", "t02", "t03", "t05")[n % 4]
            # Sessions go in turn (the county's timetable is one aggregate); each session's
            # attendance is its own stream, so it is checked in while the next is scheduled.
            await self.api.call(
                "teaching",
                "POST",
                f"/classes/{c.class_id}/sessions",
                ps,
                json={
                    "session_id": sid,
                    "course_id": f"{prefix}{i % 10:02d}",
                    "teacher_id": teacher,
                    "site_id": "red" if prefix == "pa" and n % 3 == 0 else "main",
                    "on": day.isoformat(),
                    "starts_at": start,
                    "ends_at": end,
                    **({"hours": hours} if hours else {}),
                },
            )
            c.sessions.append({"session_id": sid, "on": day.isoformat()})
            absent = {x for x in ids if self.rng.random() < 0.02}
            if n % 3:
                absent.add(chronic)
            leave = ids[n % len(ids)] if n % 5 == 1 and ids[n % len(ids)] != chronic else None
            if leave:
                absent.add(leave)
            entries = [{"cadre_id": x, "late": self.rng.random() < 0.03} for x in ids if x not in absent]
            c.sessions[-1]["attended"] = [e["cadre_id"] for e in entries]
            attending.append(asyncio.create_task(attend(sid, leave, entries)))
        await asyncio.gather(*attending)

    async def graduate(self, c: ClassPlan) -> None:
        ps = self.school(c.code)
        await self.api.call(
            "teaching",
            "POST",
            f"/classes/{c.class_id}/graduation",
            ps,
            json={
                "min_attendance_rate": 0.75,
                "require_required_courses": False,
                "min_hours": 0,
                **({"graduated_on": c.days[-1].isoformat()} if c.past else {}),
            },
        )  # a past class, back-filled

        async def judged():
            got = await self.api.get("teaching", f"/classes/{c.class_id}/graduation", ps)
            done = got and len(got["graduated"]) + len(got["not_graduated"]) >= c.size
            return got if done else None

        got = await self.api.until(judged, f"{c.title} 结业名单")
        c.graduates = [g["cadre_id"] for g in got["graduated"]]

    async def ratings(self, c: ClassPlan) -> None:
        """课程评价: a few of those who attended each session rate it (1–5, once each), as
        trainees do from their phones after class."""

        async def rate(sid: str, k: int, cid: str) -> None:
            stars = 5 if (k + len(sid)) % 3 else 4 if k % 5 else 3
            me = self.api.who("trainee", c.code, "学员", user_id=cid)
            await self.api.call(
                "teaching",
                "POST",
                f"/classes/{c.class_id}/sessions/{sid}/ratings",
                me,
                json={"rating": stars, "comment": COMMENTS[stars]},
                tolerate=("already_rated", "not_attended"),
            )

        async def session(s: dict) -> None:  # one stream per session: its raters in turn
            for k, cid in enumerate(s.get("attended", [])[:RATERS]):
                await rate(s["session_id"], k, cid)

        await asyncio.gather(*(session(s) for s in c.sessions))

    # -- records ------------------------------------------------------------------------------
    # long: a class's 3+N records in the order they are written
    async def records(self, c: ClassPlan) -> None:
        ps = self.school(c.code)
        roles = [("head_teacher", "班主任"), ("branch_secretary", "支部书记"), ("class_monitor", "班长")]
        roles += [("committee_member", f"班委{i + 1}") for i in range(c.committee)]
        people = {}
        for i, (role, _zh) in enumerate(roles):
            pid = f"rec-{c.class_id}-{i}"
            name = (
                c.trainees[i].name
                if role in ("class_monitor", "committee_member")
                else ("赵红梅", "孙建国")[i]
                if i < 2
                else f"记录员{i}"
            )
            await self.api.call(
                "records",
                "POST",
                f"/classes/{c.class_id}/recorders",
                ps,
                json={"person_id": pid, "name": name, "role": role, "since": c.days[0].isoformat()},
            )
            people.setdefault(role, []).append(self.api.who("recorder", c.code, name, user_id=pid))
        texts = {
            "study": "认真听讲，笔记完整，研讨发言能结合本单位实际。",
            "thinking": "思想上进，对标先进找差距。",
            "personality": "性格沉稳，善于协调。",
            "conduct": "严守学员纪律，按时到课。",
        }
        ids = c.ids()
        days = c.days

        async def log(i: int, cid: str) -> None:
            core = (
                [("head_teacher", 0)]
                + ([("branch_secretary", 1)] if i % 2 == 0 else [])
                + ([("class_monitor", 2)] if i % 3 == 0 else [])
                + ([("committee_member", 3)] if i % 4 == 1 else [])
            )
            for role, k in core:
                cat = list(texts)[(i + k) % 4]
                day = days[min(len(days) - 1, (i + k) % len(days))]
                res = await self.api.call(
                    "records",
                    "POST",
                    f"/classes/{c.class_id}/trainees/{cid}/records",
                    people[role][0],
                    json={"category": cat, "observed_on": day.isoformat(), "text": texts[cat]},
                )
                self.records_logged += 1
                if i == 1 and role == "head_teacher":  # a correction keeps the original
                    await self.api.call(
                        "records",
                        "POST",
                        f"/classes/{c.class_id}/trainees/{cid}/records",
                        people[role][0],
                        json={
                            "category": cat,
                            "observed_on": day.isoformat(),
                            "corrects": res["record_id"],
                            "text": "更正：该学员笔记完整，研讨发言有独到见解（原记录误记为一般）。",
                        },
                    )
                    self.records_logged += 1

        await asyncio.gather(*(log(i, cid) for i, cid in enumerate(ids)))
        if c.scheme:
            await self.scores(c, ids, people)

    async def scores(self, c: ClassPlan, ids: list[str], people: dict) -> None:
        ps = self.school(c.code)
        await self.api.call(
            "records", "POST", f"/classes/{c.class_id}/scheme", ps, json={"template": "huzhou"}
        )
        scheme = await self.api.get("records", "/schemes/huzhou", ps)
        by_role: dict[str, list[dict]] = {}
        for item in scheme["items"]:
            by_role.setdefault(item["roles"][0], []).append(item)
        weeks = c.days[-c.score_weeks :]

        async def sheet(week: date, role: str, items: list[dict]) -> None:
            # Each recorder fills one weekly sheet for the whole class (one request).
            rows = []
            for k, cid in enumerate(ids):
                skill = 0.62 + 0.36 * ((k * 37) % 100) / 100  # a spread over the four grades
                rows.append(
                    {
                        "cadre_id": cid,
                        "note": "本周表现良好" if skill > 0.8 else "继续努力",
                        "scores": [
                            {
                                "item_id": it["item_id"],
                                "points": round(
                                    min(
                                        it["max_points"],
                                        it["max_points"] * (skill + self.rng.uniform(-0.05, 0.05)),
                                    ),
                                    1,
                                ),
                            }
                            for it in items
                        ],
                    }
                )
            res = await self.api.call(
                "records",
                "POST",
                f"/classes/{c.class_id}/scores",
                people[role][0],
                json={"week": week.isoformat(), "rows": rows},
            )
            if res["refused"]:
                raise DemoError(f"演示数据加载失败：评分表有未保存的行：{res['refused'][:3]}")

        await asyncio.gather(
            *(sheet(w, role, items) for w in weeks for role, items in by_role.items() if role in people)
        )

    # -- follow-up ----------------------------------------------------------------------------
    async def followup_plan(self, c: ClassPlan) -> None:
        await self.api.call(
            "followup",
            "PUT",
            f"/classes/{c.class_id}/plan",
            self.org(c.code),
            json={"months": [1, 3, 6, 12], "grace_days": 14},
        )

    async def scheduled(self, c: ClassPlan) -> None:
        org = self.org(c.code)

        async def filed():
            if not c.graduates:
                return True
            got = await self.api.get("followup", f"/trainees/{c.graduates[-1]}/followup", org)
            # the class as selection stored it: in the county's namespace (shared/scoped_ids.py)
            stored = f"{c.code}-{c.class_id}"
            return got and any(x.get("class_id") == stored for x in got.get("classes", []))

        await self.api.until(filed, f"{c.title} 跟踪节点排定")

    async def graduate_past(self, c: ClassPlan) -> None:
        """A class that ended ten months ago, graduated (back-filled); follow-up's clock then
        walks through its months 1, 3 and 6 (each evaluated by most graduates five days after
        it came due, the rest left overdue), its mentors work in month 3, and the clock comes
        to the real day. Other classes may graduate meanwhile: their milestones are ahead.
        Its mentors, talks and outcomes come with its month 12 (see `load`)."""
        await self.graduate(c)
        await self.scheduled(c)
        for month, share in ((1, 0.9), (3, 0.85), (6, 0.8)):
            await self.followup_clock(add_months(c.days[-1], month) + timedelta(days=5))
            await self.evaluate(c, month, share)
        await self.followup_clock(self.today)

    # long: after graduation in the order it happens: mentors, talks, outcomes
    async def after(self, c: ClassPlan, on: date) -> None:
        """Mentors and their tasks, sharing talks and outcomes; talks and endorsements dated `on`."""
        await self.scheduled(c)
        org, ps = self.org(c.code), self.school(c.code)
        people = {c.cadre_id(p): p for p in c.trainees}

        async def mentor(k: int, cid: str) -> None:
            mid = f"mentor-{c.class_id}-{k}"
            await self.api.call(
                "followup",
                "PUT",
                f"/classes/{c.class_id}/trainees/{cid}/mentor",
                org,
                json={
                    "mentor_id": mid,
                    "mentor_name": f"{data.SURNAMES[k % 60]}导师",
                    "mentor_post": "单位党组书记",
                },
            )
            me = self.api.who("mentor", c.code, f"{data.SURNAMES[k % 60]}导师", user_id=mid)
            tasks = ("core_decision", "urgent_matter", "important_process")[: (k % 4)]
            for t in tasks:
                await self.api.call(
                    "followup",
                    "POST",
                    f"/classes/{c.class_id}/trainees/{cid}/mentor-tasks",
                    me,
                    json={"task": t, "evidence": "会议纪要及工作方案", "comment": "完成较好，思路清晰"},
                )

        await asyncio.gather(*(mentor(k, cid) for k, cid in enumerate(c.graduates)))
        for k, cid in enumerate(c.graduates[: max(1, len(c.graduates) // 5)]):
            unit = self.api.who(
                "unit", c.code, "单位办公室", user_id=f"demo-unit-{people[cid].unit}", unit=people[cid].unit
            )
            await self.api.call(
                "followup",
                "POST",
                f"/classes/{c.class_id}/trainees/{cid}/talks",
                unit,
                json={
                    "talk_id": f"talk-{c.class_id}-{k}",
                    "on": on.isoformat(),
                    "audience": "本单位全体干部",
                    "topic": f"{c.title}学习体会分享",
                    "attendees": 30 + k,
                },
            )
        topics = data.RESEARCH if c.groups else data.RESEARCH[:2]
        for k, title in enumerate(topics):
            # By cadre id: an author is a graduate of the class, and two may share a name.
            authors = list(c.graduates[k :: len(topics)][:4])
            oid = f"out-{c.class_id}-{k}"
            await self.api.call(
                "followup",
                "POST",
                f"/classes/{c.class_id}/outcomes",
                ps,
                json={
                    "outcome_id": oid,
                    "kind": "report" if k % 3 else "proposal",
                    "title": f"关于{title}的调研报告" if k % 3 else f"金点子：{title}",
                    "authors": authors,
                    "on": on.isoformat(),
                },
                tolerate=("outcome_exists",),
            )
            if k % 2 == 0:
                await self.api.call(
                    "followup",
                    "POST",
                    f"/outcomes/{oid}/endorsements",
                    org,
                    json={
                        "kind": "approval" if k % 4 == 0 else "adoption",
                        "by": "市委主要领导" if k % 4 == 0 else "市发展改革委",
                        "on": on.isoformat(),
                        "note": "请相关部门研究吸收",
                    },
                    tolerate=("already_endorsed",),
                )

    async def evaluate(self, c: ClassPlan, month: int, share: float) -> None:
        people = {c.cadre_id(p): p for p in c.trainees}
        keys = await self.questions_for(c, month)
        chosen = c.graduates[: round(len(c.graduates) * share)]

        async def one(k: int, cid: str) -> None:
            p = people[cid]
            base = 72 + (k * 13) % 25 + month // 3  # a slight rise over the year
            who = [
                ("self", self.api.who("trainee", c.code, p.name, user_id=cid), None),
                (
                    "colleague",
                    self.api.who("unit", c.code, "同事", user_id=f"colleague-{cid}", unit=p.unit),
                    "同事王某",
                ),
                (
                    "unit_leader",
                    self.api.who("unit", c.code, "单位领导", user_id=f"leader-{p.unit}", unit=p.unit),
                    None,
                ),
            ]
            for role, token, evaluator in who:
                body = {
                    "role": role,
                    "scores": {q: min(100, base + self.rng.randint(-4, 6)) for q in keys},
                    "text": "学用结合较好，工作有新思路。",
                }
                if evaluator:
                    body["evaluator_name"] = evaluator
                await self.api.call(
                    "followup",
                    "POST",
                    f"/classes/{c.class_id}/trainees/{cid}/milestones/{month}/evaluations",
                    token,
                    json=body,
                    tolerate=("already_evaluated",),
                )
                self.evaluations += 1

        await asyncio.gather(*(one(k, cid) for k, cid in enumerate(chosen)))
