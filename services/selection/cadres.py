"""The cadre registry's record (干部名册), pure: what a valid record is.

Kept apart from domain.py (the deciders) because a registry record has its own rules —
the 身份证号 check digit, ranks, dates agreeing with the id number — used by the form,
the import and the cadre aggregate alike.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date, datetime
from typing import Any

RANKS = (
    "正处",
    "副处",
    "正科",
    "副科",
    "一级主任科员",
    "二级主任科员",
    "三级主任科员",
    "四级主任科员",
    "一级科员",
    "二级科员",
    "科员",
    "办事员",
    "村(社区)书记",
    "村(社区)两委委员",
    "企业经营管理人员",
)
RECRUITED = ("选调生", "选聘生")
FIELDS = (
    "name",
    "gender",
    "birth_date",
    "id_number",
    "unit",
    "position",
    "rank",
    "category",
    "rank_since",
    "township_leadership",
    "recruited_as",
    "recruited_year",
)
EDITABLE = tuple(f for f in FIELDS if f != "id_number")
LABELS = {
    "name": "姓名",
    "gender": "性别",
    "birth_date": "出生日期",
    "id_number": "身份证号",
    "unit": "工作单位",
    "position": "职务",
    "rank": "职级",
    "category": "类别",
    "rank_since": "任现职级时间",
    "township_leadership": "乡镇领导经历",
    "recruited_as": "录用方式",
    "recruited_year": "录用年份",
}
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_DIGITS = frozenset("0123456789")
_SPACE = re.compile(r"\s+")
_HAN_NAME = re.compile(r"[\u3400-\u9fff·]+")


def plain_id(v: Any) -> str:
    """The 身份证号 as typed, made plain where that is unambiguous: full-width digits and X
    (NFKC), spaces inside or around it (half- and full-width), a lower-case x. Anything
    else is left for `id_problem` to name."""
    if v is None:
        return ""
    return _SPACE.sub("", unicodedata.normalize("NFKC", str(v))).upper()


def id_check_digit(first17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2) check character of an 18-character 身份证号."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def id_problem(id_number: str) -> str | None:
    """Why an id number is not valid, or None. Only ASCII digits count: `str.isdigit` also
    accepts full-width ones, which used to pass here and then fail as "a wrong check digit"."""
    for i, c in enumerate(id_number[:18], start=1):
        if c not in _DIGITS and not (i == 18 and c == "X"):
            where = "末位" if i == 18 else f"第 {i} 位"
            kind = "数字或 X" if i == 18 else "数字"
            return f"身份证号{where}是“{c}”，应为{kind}（前 17 位数字，末位数字或 X）"
    if len(id_number) != 18:
        return f"身份证号应为 18 位（前 17 位数字，末位数字或 X），这里是 {len(id_number)} 位"
    try:
        date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return "身份证号中的出生日期无效"
    want = id_check_digit(id_number[:17])
    if id_number[17] != want:
        return f"身份证号校验位错误（末位应为 {want}），请核对号码"
    return None


def mask_id(id_number: str) -> str:
    """身份证号 as lists show it: first six and last four."""
    return id_number[:6] + "*" * 8 + id_number[-4:] if len(id_number) == 18 else "*" * len(id_number)


def cadre_id_for(id_number: str, secret: bytes) -> str:
    """The cadre id of a 身份证号: `cd-` and 16 hex of an HMAC-SHA256 keyed with the province's
    secret (SelectionSettings.cadre_id_secret). With the secret, every deployment of the
    province finds the same cadre from the same number (a re-import, a duplicate, a transfer);
    without it, nobody can compute an id from a number or find the number behind an id by
    trying every plausible one, as an unkeyed hash allowed (ids are Kafka keys, URL parts and
    spreadsheet columns)."""
    if not secret:
        raise ValueError("cadre ids need the province's secret")
    return "cd-" + hmac.new(secret, id_number.encode(), hashlib.sha256).hexdigest()[:16]


def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _name(v: Any) -> str:
    """A Chinese name padded to the width of three characters ("张　伟", as forms align
    two-character names) is the name without the padding; other names are kept as typed."""
    name = _text(v)
    bare = _SPACE.sub("", name)
    return bare if _HAN_NAME.fullmatch(bare) else name


def _date(v: Any, label: str, errors: list[str]) -> str | None:
    if v is None or _text(v) == "":
        return None
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    s = (
        _SPACE.sub("", unicodedata.normalize("NFKC", _text(v)))
        .replace("/", "-")
        .replace(".", "-")
        .replace("年", "-")
        .replace("月", "-")
        .rstrip("日")
    )
    parts = s.split("-")
    try:
        if len(parts) == 2:
            parts.append("1")
        return date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
    except (ValueError, IndexError):
        errors.append(f"{label}“{_text(v)}”不是有效日期（应如 1990-05-01）")
        return None


def _bool(v: Any, label: str, errors: list[str]) -> bool:
    if isinstance(v, bool):
        return v
    s = _text(v)
    if s in ("", "否", "无", "0", "N", "n", "false", "False"):
        return False
    if s in ("是", "有", "1", "Y", "y", "true", "True"):
        return True
    errors.append(f"{label}“{s}”应填“是”或“否”")
    return False


# long: one check per column of the registry template, in the order a clerk reads it
def validate(raw: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """A registry record in JSON form (dates as ISO text), or the reasons it is not one.

    Gender and birth date may be left empty: they are read from the id number; when
    given they must agree with it."""
    errors: list[str] = []
    id_number = plain_id(raw.get("id_number"))
    problem = id_problem(id_number) if id_number else "缺少身份证号"
    if problem:
        errors.append(problem)
    name = _name(raw.get("name"))
    if not name:
        errors.append("缺少姓名")
    unit = _text(raw.get("unit"))
    if not unit:
        errors.append("缺少工作单位")
    rank = _SPACE.sub("", _text(raw.get("rank")))
    if not rank:
        errors.append("缺少职级")
    elif rank not in RANKS:
        errors.append(f"职级“{rank}”不在职级表中（可用：{'、'.join(RANKS)}）")
    birth = _date(raw.get("birth_date"), "出生日期", errors)
    gender = _SPACE.sub("", _text(raw.get("gender")))
    if gender and gender not in ("男", "女"):
        errors.append(f"性别“{gender}”应为“男”或“女”")
    if not problem:
        from_id = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
        if birth and birth != from_id:
            errors.append(f"出生日期 {birth} 与身份证号中的 {from_id} 不符")
        birth = from_id
        id_gender = "男" if int(id_number[16]) % 2 else "女"
        if gender in ("男", "女") and gender != id_gender:
            errors.append(f"性别“{gender}”与身份证号不符")
        gender = id_gender
    recruited_as = _text(raw.get("recruited_as")) or None
    if recruited_as is not None and recruited_as not in RECRUITED:
        errors.append(f"录用方式“{recruited_as}”应为“选调生”“选聘生”或留空")
    year_text = _text(raw.get("recruited_year"))
    year = None
    if year_text:
        try:
            year = int(float(year_text))
            if not 1950 <= year <= 2100:
                raise ValueError
        except ValueError:
            errors.append(f"录用年份“{year_text}”不是有效年份")
    record = {
        "name": name,
        "gender": gender,
        "birth_date": birth,
        "id_number": id_number,
        "unit": unit,
        "position": _text(raw.get("position")),
        "rank": rank,
        "category": _text(raw.get("category")),
        "rank_since": _date(raw.get("rank_since"), "任现职级时间", errors),
        "township_leadership": _bool(raw.get("township_leadership"), "乡镇领导经历", errors),
        "recruited_as": recruited_as,
        "recruited_year": year,
    }
    return (None, errors) if errors else (record, [])


def differs(doc: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether a registry document (JSON form) differs from a record."""
    return any(doc.get(k) != v for k, v in record.items())
