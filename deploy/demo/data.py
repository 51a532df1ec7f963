"""Plausible people and places for the demo: names, valid 身份证号, units, courses.

Deterministic (a seeded random), so two runs of the demo load the same people."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from shared.contracts.selection import id_check_digit

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文"
    "辉力宁鑫波斌宇浩凯健俊帆帅旭鹏海峰晨琳雪婷颖慧佳欣悦怡晓丹"
)

HUZHOU_GROUPS = ("党的建设", "经济发展", "城市建设", "社会民生", "乡村振兴", "基层治理")
GROUP_UNITS = {
    "党的建设": ("市委组织部", "市委宣传部", "市纪委监委"),
    "经济发展": ("市发展改革委", "市财政局", "市商务局"),
    "城市建设": ("市住房城乡建设局", "市自然资源和规划局", "市交通运输局"),
    "社会民生": ("市教育局", "市卫生健康委", "市人力社保局"),
    "乡村振兴": ("市农业农村局", "吴兴区八里店镇", "南浔区练市镇"),
    "基层治理": ("市委政法委", "市民政局", "德清县武康街道"),
}
COUNTY_UNITS = (
    "{n}委办公室",
    "{n}政府办公室",
    "{n}发展和改革局",
    "{n}财政局",
    "{n}教育局",
    "{n}农业农村局",
    "{n}卫生健康局",
    "{t1}镇",
    "{t2}镇",
    "{t3}乡",
)
RANKS = ("正科", "副科", "一级主任科员", "二级主任科员", "四级主任科员")


@dataclass(frozen=True)
class County:
    code: str
    name: str  # 武城县
    short: str  # 县 / 市 / 区 (prefix of the units)
    towns: tuple[str, str, str]


@dataclass
class Person:
    name: str
    id_number: str
    unit: str
    rank: str
    category: str = ""
    position: str = ""


@dataclass
class Registry:
    county: County
    people: list[Person] = field(default_factory=list)

    def csv_bytes(self) -> bytes:
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["姓名", "身份证号", "工作单位", "职务", "职级", "类别"])
        for p in self.people:
            w.writerow([p.name, p.id_number, p.unit, p.position, p.rank, p.category])
        return out.getvalue().encode("utf-8")


class Names:
    """Unique Chinese names and 身份证号 for one demo run."""

    def __init__(self, seed: int = 2026) -> None:
        self.rng = random.Random(seed)
        self.used: set[str] = set()
        self.seq = 0

    def name(self) -> str:
        while True:
            n = self.rng.choice(SURNAMES) + "".join(
                self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2)))
            )
            if n not in self.used:
                self.used.add(n)
                return n

    def id_number(self, area: str) -> str:
        """A valid 18-character number (GB 11643 check digit) for someone born 1978–1996."""
        self.seq += 1
        born = date(1978, 1, 1) + timedelta(days=self.rng.randrange(0, 365 * 18))
        first17 = f"{area}{born:%Y%m%d}{self.seq % 1000:03d}"
        return first17 + id_check_digit(first17)

    def registry(self, county: County, size: int, categories: tuple[str, ...] = ()) -> Registry:
        units = [
            u.format(n=county.short, t1=county.towns[0], t2=county.towns[1], t3=county.towns[2])
            for u in COUNTY_UNITS
        ]
        reg = Registry(county)
        for i in range(size):
            cat = categories[i % len(categories)] if categories else ""
            unit = self.rng.choice(GROUP_UNITS[cat]) if cat in GROUP_UNITS else units[i % len(units)]
            rank = self.rng.choice(RANKS)
            reg.people.append(
                Person(
                    self.name(),
                    self.id_number(county.code),
                    unit,
                    rank,
                    cat,
                    "科员" if "主任科员" in rank else ("副局长" if rank == "副科" else "局长"),
                )
            )
        return reg


def saturdays(start: date, end: date, which: tuple[int, ...] = (2, 4)) -> list[date]:
    """The 2nd and 4th Saturdays of each month between start and end (inclusive)."""
    out, d = [], start
    while d <= end:
        if d.weekday() == 5 and (d.day - 1) // 7 + 1 in which:
            out.append(d)
        d += timedelta(days=1)
    return out


THEORY = (
    "习近平新时代中国特色社会主义思想概论",
    "党的二十届三中全会精神解读",
    "马克思主义哲学与科学思维方法",
    "新发展理念与高质量发展",
    "全面从严治党新要求",
    "中国式现代化的理论与实践",
    "法治思维与依法行政",
    "防范化解重大风险",
    "数字政府与治理现代化",
    "共同富裕示范区建设",
)
PARTY = (
    "党章学习与党员义务",
    "红船精神专题",
    "廉洁从政警示教育",
    "弘扬伟大建党精神",
    "党史学习：浙江篇",
    "重温入党誓词现场教学",
    "焦裕禄精神专题",
    "党内法规与纪律处分条例",
    "革命传统教育现场课",
    "“两山”理念发源地现场教学",
)
OPEN = (
    "基层治理“枫桥经验”案例",
    "招商引资实务",
    "突发事件应对与舆情处置",
    "城市更新实务",
    "乡村振兴产业案例",
    "公文写作与调研方法",
    "群众工作方法",
    "项目管理与绩效评价",
    "营商环境优化实务",
    "心理调适与压力管理",
)
RESEARCH = (
    "数字乡村建设路径",
    "县域营商环境提升",
    "老旧小区改造中的群众参与",
    "养老服务体系建设",
    "村级集体经济增收",
    "基层减负与治理效能",
    "城乡公交一体化",
    "青年人才引育留用",
    "“两山”转化机制",
)
