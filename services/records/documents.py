"""The documents users take away: the record form (《干部教育培训纪实考察记录表》) and
the portrait (干部“肖像”) as data and as HTML, and the Excel sheets for the head teacher
and the department (the completeness list, the rankings). `gather` collects everything
the form and the portrait show; pdf.py draws the same. Pure: the documents come from
reads.py."""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

from services.records.projections import fk
from services.records.reads import active_trainees, group_points, scheme_groups
from shared import xlsx
from shared.contracts.records import CATEGORIES, CORE_ROLES, RECORDER_ROLES

Doc = dict[str, Any]
FORM_TITLE = "干部教育培训纪实考察记录表"


def gather(roster: Doc, klass: Doc | None, file: Doc) -> Doc:
    cid = file["cadre_id"]
    t = (roster.get("trainees") or {}).get(fk(cid), {})
    scheme = (klass or {}).get("scheme")
    numbers = {r["record_id"]: i for i, r in enumerate(file.get("records", []), start=1)}
    records = []
    for r in sorted(file.get("records", []), key=lambda r: (r["observed_on"], r["logged_at"])):
        records.append(
            {
                **r,
                "no": numbers[r["record_id"]],
                "category_name": CATEGORIES.get(r["category"], r["category"]),
                "role_name": RECORDER_ROLES.get(r["author_role"], r["author_role"]),
                "logged_on": r["logged_at"][:10],
                "corrects_no": numbers.get(r["corrects"]) if r.get("corrects") else None,
                "corrected_by_no": numbers.get(r["corrected_by"]) if r.get("corrected_by") else None,
            }
        )
    return {
        "title": FORM_TITLE,
        "class_id": roster.get("class_id"),
        "class_title": roster.get("title", ""),
        "starts_on": roster.get("starts_on"),
        "ends_on": roster.get("ends_on"),
        "organiser": roster.get("organiser", ""),
        "cadre_id": cid,
        "name": t.get("name", cid),
        "unit": t.get("unit", ""),
        "group": t.get("group", ""),
        "status": t.get("status", ""),
        "attendance": attendance(roster, file),
        "records": records,
        "scores": scores_by_week(file, scheme),
        "groups": list(scheme_groups(scheme)),
        "scheme_title": (scheme or {}).get("title", ""),
        "final_comment": file.get("final_comment"),
        "portrait": portrait(roster, klass, file),
    }


def attendance(roster: Doc, file: Doc) -> Doc:
    sessions = roster.get("sessions", {})
    attended = file.get("attended", {})
    absent = file.get("absent", {})
    scheduled_hours = round(sum(s["hours"] for s in sessions.values() if s.get("required", True)), 2)
    hours = round(sum(a["hours"] for a in attended.values()), 2)
    considered = len(attended) + len(absent)
    return {
        "sessions": len(sessions),
        "attended": len(attended),
        "late": sum(1 for a in attended.values() if a["late"]),
        "absent": sum(1 for a in absent.values() if not a["excused"]),
        "excused": sum(1 for a in absent.values() if a["excused"]),
        "hours": hours,
        "scheduled_hours": scheduled_hours,
        "rate": round(len(attended) / considered, 4) if considered else None,
        "graduated": file.get("graduated"),
    }


def portrait(roster: Doc, klass: Doc | None, file: Doc) -> Doc:
    """Strengths and concerns by category, score profile against the class, coverage."""
    cid = file["cadre_id"]
    scheme = (klass or {}).get("scheme")
    totals = (klass or {}).get("totals", {})
    mine = group_points(totals.get(fk(cid), {}), scheme)
    members = [c for c in active_trainees(roster)] or [cid]
    profile = []
    for g, items in scheme_groups(scheme).items():
        avg = sum(group_points(totals.get(fk(c), {}), scheme).get(g, 0.0) for c in members) / len(members)
        weeks = max(len((klass or {}).get("weeks", [])), 1)
        profile.append(
            {
                "group": g,
                "mine": mine.get(g, 0.0),
                "class_average": round(avg, 2),
                "max_per_week": sum(float(i["max_points"]) for i in items),
                "weeks": weeks,
            }
        )
    by_cat: dict[str, list[Doc]] = {c: [] for c in CATEGORIES}
    for r in current_records(file):
        by_cat.setdefault(r["category"], []).append(r)
    coverage = (klass or {}).get("coverage", {}).get(fk(cid), {})
    authors = sorted({(r["author_name"], r["author_role"]) for r in file.get("records", [])})
    strengths = [x["group"] for x in profile if x["mine"] > x["class_average"]]
    concerns = [f"{x['group']}低于全班平均" for x in profile if x["mine"] < x["class_average"]]
    concerns += [f"{CATEGORIES[c]}暂无记录" for c, rs in by_cat.items() if not rs and c != "other"]
    return {
        "categories": [
            {"category": c, "name": CATEGORIES.get(c, c), "records": rs} for c, rs in by_cat.items()
        ],
        "strengths": strengths,
        "concerns": concerns,
        "profile": profile,
        "coverage": {r: coverage.get(r) for r in RECORDER_ROLES},
        "authors": [{"name": n, "role": RECORDER_ROLES.get(r, r)} for n, r in authors],
        "records": len(file.get("records", [])),
        "corrections": sum(1 for r in file.get("records", []) if r["corrects"]),
    }


def current_records(file: Doc) -> list[Doc]:
    """The records that stand: those no later record corrects."""
    return [r for r in file.get("records", []) if not r.get("corrected_by")]


def scores_by_week(file: Doc, scheme: Doc | None) -> list[Doc]:
    weeks: dict[str, dict[str, float]] = defaultdict(dict)
    for s in file.get("sheets", []):
        for it in s["scores"]:
            weeks[s["week"]][it["item_id"]] = it["points"]
    return [
        {"week": w, "by_group": group_points(p, scheme), "total": round(sum(p.values()), 2)}
        for w, p in sorted(weeks.items())
    ]


def _rate(a: Doc) -> str:
    return "—" if a["rate"] is None else f"{a['rate'] * 100:.1f}%"


def provenance(r: Doc) -> str:
    """When it was entered and how it stands in a correction chain."""
    s = f"录入于 {r['logged_on']}"
    if r["corrects_no"]:
        s += f" · 更正第{r['corrects_no']}条"
    if r["corrected_by_no"]:
        s += f" · 已被第{r['corrected_by_no']}条更正"
    return s


def record_line(r: Doc) -> str:
    """The text a reader sees for one record's provenance (also used by the PDF)."""
    return (
        f"第{r['no']}条 · {r['observed_on']} · {r['category_name']}"
        f" · {r['author_name']}（{r['role_name']}） · " + provenance(r)
    )


STYLE = """body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC","Microsoft YaHei",sans-serif;
margin:2em;color:#222}
h1{text-align:center;font-size:1.5em}table{border-collapse:collapse;width:100%;margin:.6em 0}
td,th{border:1px solid #888;padding:.3em .5em;vertical-align:top;text-align:left}
th{background:#f2f2f2;white-space:nowrap}
.corrected{color:#888;text-decoration:line-through}.note{color:#a33}@media print{body{margin:0}}"""


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _facts(d: Doc) -> str:
    a = d["attendance"]
    return (
        f"<table><tr><th>姓名</th><td>{escape(d['name'])}</td><th>工作单位</th><td>{escape(d['unit'])}</td></tr>"
        f"<tr><th>班次</th><td>{escape(d['class_title'])}</td>"
        f"<th>学习小组</th><td>{escape(d['group'] or '未分组')}</td></tr>"
        f"<tr><th>培训时间</th><td>{d['starts_on']} 至 {d['ends_on']}</td>"
        f"<th>承办单位</th><td>{escape(d['organiser'])}</td></tr>"
        f"<tr><th>出勤</th><td>应到 {a['sessions']} 次，出勤"
        f" {a['attended']} 次（迟到 {a['late']}），请假 {a['excused']}，"
        f"缺勤 {a['absent']}；出勤率 {_rate(a)}</td><th>学时</th><t"
        f"d>已获 {a['hours']:g} / 应修 {a['scheduled_hours']:g}"
        f"{'；已结业' if a['graduated'] else ''}</td></tr></table>"
    )


def form_html(d: Doc) -> str:
    rows = []
    for r in d["records"]:
        cls = ' class="corrected"' if r["corrected_by_no"] else ""
        rows.append(
            f"<tr><td>{r['no']}</td><td>{r['observed_on']}</td><td>{escape(r['category_name'])}</td>"
            f"<td{cls}>{escape(r['text'])}</td><td>{escape(r['author_name'])}（{escape(r['role_name'])}）</td>"
            f"<td class=\"note\">{escape(provenance(r))}</td></tr>"
        )
    score_rows = "".join(
        f"<tr><td>{s['week']}</td>"
        + "".join(f"<td>{s['by_group'].get(g, 0):g}</td>" for g in d["groups"])
        + f"<td>{s['total']:g}</td></tr>"
        for s in d["scores"]
    )
    fc = d["final_comment"]
    body = (
        f"<h1>{escape(d['title'])}</h1>{_facts(d)}"
        "<h2>纪实记录</h2><table><tr><th>序号</th><th>观察日期</th><th>类别</th><th>内容</th><th>记录人（角色）</th>"
        f"<th>录入与更正</th></tr>{''.join(rows) or '<tr><td colspan=6>暂无记录</td></tr>'}</table>"
        f"<h2>量化考核{('：' + escape(d['scheme_title'])) if d['scheme_title'] else ''}</h2>"
        "<table><tr><th>周</th>"
        + "".join(f"<th>{escape(g)}</th>" for g in d["groups"])
        + "<th>合计</th></tr>"
        f"{score_rows or '<tr><td colspan=9>暂无评分</td></tr>'}</table>"
        "<h2>结业鉴定评语</h2>"
        + (
            f"<p>{escape(fc['text'])}</p><p>班主任：{escape(fc['author_name'])}　{fc['written_at'][:10]}</p>"
            if fc
            else "<p>尚未撰写</p>"
        )
    )
    return _page(f"{d['title']} - {d['name']}", body)


def profile_svg(profile: list[Doc], width: int = 520) -> str:
    """Horizontal bars: the trainee's points per group against the class average."""
    if not profile:
        return "<p>尚无量化考核数据</p>"
    top = max([p["mine"] for p in profile] + [p["class_average"] for p in profile] + [1])
    row_h, label_w = 46, 120
    h = row_h * len(profile) + 30
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width='
        f'"{width}" height="{h}" role="img" aria-label="得分对比">'
    ]
    for i, p in enumerate(profile):
        y = 10 + i * row_h
        for j, (val, colour) in enumerate(((p["mine"], "#c0392b"), (p["class_average"], "#95a5a6"))):
            w = (width - label_w - 60) * val / top
            parts.append(
                f'<rect x="{label_w}" y="{y + j * 18}" width="{w:.1f}" height="14" fill="{colour}"/>'
                f'<text x="{label_w + w + 4:.1f}" y="{y + j * 18 + 12}" font-size="12">{val:g}</text>'
            )
        parts.append(f'<text x="0" y="{y + 20}" font-size="13">{escape(p["group"])}</text>')
    parts.append(
        f'<text x="{label_w}" y="{h - 4}" font-size="12" fill="#c0392b">■ 本人</text>'
        f'<text x="{label_w + 60}" y="{h - 4}" font-size="12" fill="#7f8c8d">■ 全班平均</text></svg>'
    )
    return "".join(parts)


def portrait_html(d: Doc) -> str:
    p = d["portrait"]
    cats = "".join(
        f"<tr><th>{escape(c['name'])}</th><td>"
        + (
            "<br>".join(
                f"{escape(r['text'])}（{escape(r['author_name'])}，{r['observed_on']}）" for r in c["records"]
            )
            or "暂无记录"
        )
        + "</td></tr>"
        for c in p["categories"]
    )
    cov = "、".join(f"{RECORDER_ROLES[r]}：{(on or '未记录')}" for r, on in p["coverage"].items())
    body = (
        f"<h1>干部“肖像”· {escape(d['name'])}</h1>{_facts(d)}"
        f"<h2>优势与关注点</h2><p>优势：{escape('、'.join(p['strengths']) or '—')}</p>"
        f"<p>关注：{escape('、'.join(p['concerns']) or '—')}</p>"
        f"<h2>各方面表现（现行记录）</h2><table>{cats}</table>"
        f"<h2>量化考核得分与全班平均</h2>{profile_svg(p['profile'])}"
        f"<h2>纪实覆盖</h2><p>共 {p['records']} 条记录（其中更正"
        f" {p['corrections']} 条）；各角色最近记录：{escape(cov)}</p>"
    )
    return _page(f"干部肖像 - {d['name']}", body)


# -- Excel sheets (openpyxl), with Chinese headers ------------------------------------------
def completeness_xlsx(c: Doc) -> bytes:
    header = [
        "学员编号",
        "姓名",
        "学习小组",
        "未记录的角色",
        *(f"{RECORDER_ROLES[r]}最近记录" for r in CORE_ROLES),
    ]
    rows = [
        [
            u["cadre_id"],
            u["name"],
            u["group"],
            "、".join(u["missing_role_names"]),
            *(u["last_recorded"][r] or "未记录" for r in CORE_ROLES),
        ]
        for u in c["uncovered"]
    ]
    return xlsx.workbook([(f"近{c['days']}天未覆盖", header, rows)])


def ranking_xlsx(r: Doc) -> bytes:
    groups = list(r["class_ranking"][0]["by_group"]) if r["class_ranking"] else []
    header = ["名次", "学员编号", "姓名", "学习小组", *groups, "累计得分"]
    rows = [
        [
            x["rank"],
            x["cadre_id"],
            x["name"],
            g["group"],
            *(x["by_group"].get(k, 0) for k in groups),
            x["total"],
        ]
        for g in r["study_groups"]
        for x in g["trainees"]
    ]
    return xlsx.workbook(
        [
            (
                "全班排名",
                header,
                [
                    [
                        x["rank"],
                        x["cadre_id"],
                        x["name"],
                        x["group"],
                        *(x["by_group"].get(g, 0) for g in groups),
                        x["total"],
                    ]
                    for x in r["class_ranking"]
                ],
            ),
            ("小组排名", ["组内名次", "学员编号", "姓名", "学习小组", *groups, "累计得分"], rows),
        ]
    )
