"""The record form (《干部教育培训纪实考察记录表》) and the portrait (干部“肖像”) as data
and as HTML. `gather` collects everything both formats show; pdf.py draws the same."""

from __future__ import annotations

from html import escape
from typing import Any

from shared.contracts.records import CATEGORIES, RECORDER_ROLES
from services.records import views
from services.records.projections import fk

Doc = dict[str, Any]
FORM_TITLE = "干部教育培训纪实考察记录表"


def gather(roster: Doc, klass: Doc | None, file: Doc) -> Doc:
    cid = file["cadre_id"]
    t = (roster.get("trainees") or {}).get(fk(cid), {})
    scheme = (klass or {}).get("scheme")
    numbers = {r["record_id"]: i for i, r in enumerate(file.get("records", []), start=1)}
    records = []
    for r in sorted(file.get("records", []), key=lambda r: (r["observed_on"], r["logged_at"])):
        records.append({**r, "no": numbers[r["record_id"]], "category_name": CATEGORIES.get(r["category"], r["category"]),
                        "role_name": RECORDER_ROLES.get(r["author_role"], r["author_role"]),
                        "logged_on": r["logged_at"][:10],
                        "corrects_no": numbers.get(r["corrects"]) if r.get("corrects") else None,
                        "corrected_by_no": numbers.get(r["corrected_by"]) if r.get("corrected_by") else None})
    return {
        "title": FORM_TITLE, "class_id": roster.get("class_id"), "class_title": roster.get("title", ""),
        "starts_on": roster.get("starts_on"), "ends_on": roster.get("ends_on"), "organiser": roster.get("organiser", ""),
        "cadre_id": cid, "name": t.get("name", cid), "unit": t.get("unit", ""), "group": t.get("group", ""),
        "status": t.get("status", ""), "attendance": views.attendance(roster, file), "records": records,
        "scores": views.scores_by_week(file, scheme), "groups": list(views.scheme_groups(scheme)),
        "scheme_title": (scheme or {}).get("title", ""), "final_comment": file.get("final_comment"),
        "portrait": views.portrait(roster, klass, file),
    }


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
    return (f"第{r['no']}条 · {r['observed_on']} · {r['category_name']} · {r['author_name']}（{r['role_name']}） · "
            + provenance(r))


STYLE = """body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
h1{text-align:center;font-size:1.5em}table{border-collapse:collapse;width:100%;margin:.6em 0}
td,th{border:1px solid #888;padding:.3em .5em;vertical-align:top;text-align:left}th{background:#f2f2f2;white-space:nowrap}
.corrected{color:#888;text-decoration:line-through}.note{color:#a33}@media print{body{margin:0}}"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>")


def _facts(d: Doc) -> str:
    a = d["attendance"]
    return (f"<table><tr><th>姓名</th><td>{escape(d['name'])}</td><th>工作单位</th><td>{escape(d['unit'])}</td></tr>"
            f"<tr><th>班次</th><td>{escape(d['class_title'])}</td><th>学习小组</th><td>{escape(d['group'] or '未分组')}</td></tr>"
            f"<tr><th>培训时间</th><td>{d['starts_on']} 至 {d['ends_on']}</td><th>承办单位</th><td>{escape(d['organiser'])}</td></tr>"
            f"<tr><th>出勤</th><td>应到 {a['sessions']} 次，出勤 {a['attended']} 次（迟到 {a['late']}），请假 {a['excused']}，"
            f"缺勤 {a['absent']}；出勤率 {_rate(a)}</td><th>学时</th><td>已获 {a['hours']:g} / 应修 {a['scheduled_hours']:g}"
            f"{'；已结业' if a['graduated'] else ''}</td></tr></table>")


def form_html(d: Doc) -> str:
    rows = []
    for r in d["records"]:
        cls = ' class="corrected"' if r["corrected_by_no"] else ""
        rows.append(f"<tr><td>{r['no']}</td><td>{r['observed_on']}</td><td>{escape(r['category_name'])}</td>"
                    f"<td{cls}>{escape(r['text'])}</td><td>{escape(r['author_name'])}（{escape(r['role_name'])}）</td>"
                    f"<td class=\"note\">{escape(provenance(r))}</td></tr>")
    score_rows = "".join(
        f"<tr><td>{s['week']}</td>" + "".join(f"<td>{s['by_group'].get(g, 0):g}</td>" for g in d["groups"])
        + f"<td>{s['total']:g}</td></tr>" for s in d["scores"])
    fc = d["final_comment"]
    body = (f"<h1>{escape(d['title'])}</h1>{_facts(d)}"
            "<h2>纪实记录</h2><table><tr><th>序号</th><th>观察日期</th><th>类别</th><th>内容</th><th>记录人（角色）</th>"
            f"<th>录入与更正</th></tr>{''.join(rows) or '<tr><td colspan=6>暂无记录</td></tr>'}</table>"
            f"<h2>量化考核{('：' + escape(d['scheme_title'])) if d['scheme_title'] else ''}</h2>"
            "<table><tr><th>周</th>" + "".join(f"<th>{escape(g)}</th>" for g in d["groups"]) + "<th>合计</th></tr>"
            f"{score_rows or '<tr><td colspan=9>暂无评分</td></tr>'}</table>"
            "<h2>结业鉴定评语</h2>"
            + (f"<p>{escape(fc['text'])}</p><p>班主任：{escape(fc['author_name'])}　{fc['written_at'][:10]}</p>"
               if fc else "<p>尚未撰写</p>"))
    return _page(f"{d['title']} - {d['name']}", body)


def profile_svg(profile: list[Doc], width: int = 520) -> str:
    """Horizontal bars: the trainee's points per group against the class average."""
    if not profile:
        return "<p>尚无量化考核数据</p>"
    top = max([p["mine"] for p in profile] + [p["class_average"] for p in profile] + [1])
    row_h, label_w = 46, 120
    h = row_h * len(profile) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img" aria-label="得分对比">']
    for i, p in enumerate(profile):
        y = 10 + i * row_h
        for j, (val, colour) in enumerate(((p["mine"], "#c0392b"), (p["class_average"], "#95a5a6"))):
            w = (width - label_w - 60) * val / top
            parts.append(f'<rect x="{label_w}" y="{y + j * 18}" width="{w:.1f}" height="14" fill="{colour}"/>'
                         f'<text x="{label_w + w + 4:.1f}" y="{y + j * 18 + 12}" font-size="12">{val:g}</text>')
        parts.append(f'<text x="0" y="{y + 20}" font-size="13">{escape(p["group"])}</text>')
    parts.append(f'<text x="{label_w}" y="{h - 4}" font-size="12" fill="#c0392b">■ 本人</text>'
                 f'<text x="{label_w + 60}" y="{h - 4}" font-size="12" fill="#7f8c8d">■ 全班平均</text></svg>')
    return "".join(parts)


def portrait_html(d: Doc) -> str:
    p = d["portrait"]
    cats = "".join(
        f"<tr><th>{escape(c['name'])}</th><td>"
        + ("<br>".join(f"{escape(r['text'])}（{escape(r['author_name'])}，{r['observed_on']}）" for r in c["records"])
           or "暂无记录") + "</td></tr>" for c in p["categories"])
    cov = "、".join(f"{RECORDER_ROLES[r]}：{(on or '未记录')}" for r, on in p["coverage"].items())
    body = (f"<h1>干部“肖像”· {escape(d['name'])}</h1>{_facts(d)}"
            f"<h2>优势与关注点</h2><p>优势：{escape('、'.join(p['strengths']) or '—')}</p>"
            f"<p>关注：{escape('、'.join(p['concerns']) or '—')}</p>"
            f"<h2>各方面表现（现行记录）</h2><table>{cats}</table>"
            f"<h2>量化考核得分与全班平均</h2>{profile_svg(p['profile'])}"
            f"<h2>纪实覆盖</h2><p>共 {p['records']} 条记录（其中更正 {p['corrections']} 条）；各角色最近记录：{escape(cov)}</p>")
    return _page(f"干部肖像 - {d['name']}", body)
