// 干部教育培训看板: reads the JSON views with the token (Authorization header) and
// refetches when the live stream (SSE, token as access_token: EventSource has no
// headers) says something under the current jurisdiction changed.
"use strict";
(function () {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("ganxun.token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = sessionStorage.getItem("ganxun.token") || "";
  const params = new URLSearchParams(location.search);
  // The address is typed or linked by anyone: its values are checked for their shape here
  // and escaped wherever they reach the page (the token sits in sessionStorage).
  const shaped = (v, re, fallback) => (v !== null && re.test(v) ? v : fallback);
  const state = {
    jurisdiction: shaped(params.get("jurisdiction"), /^\d{2}(\d{2}){0,2}$/, ""),
    year: shaped(params.get("year"), /^(\d{4}|all)$/, String(new Date().getFullYear())),
    policy: shaped(params.get("policy"), /^\d{1,3}$/, "110"),
    klass: params.get("class") || "",
    own: params.get("own") === "true",  // a province's or city's own classes (its 本级 row)
  };
  const charts = {};
  const $ = (id) => document.getElementById(id);
  const pct = (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%");
  const num = (v) => (v === null || v === undefined ? "—" : String(v));
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const LEVEL = { province: "省", city: "市", county: "县" };
  const MONTHS = ["1", "3", "6", "12"];
  const BANDS = [["excellent", "优秀"], ["good", "良好"], ["pass", "合格"], ["below", "待改进"]];
  const STATUS = { nominated: "已推荐", confirmed: "已确定", rejected: "不予确定", waitlisted: "候补", withdrawn: "已撤回" };
  const MS = { scheduled: "未到期", due: "到期待评", completed: "已完成", overdue: "逾期" };

  const KPIS = [
    ["classes", "培训期数（期）", (m) => num(m.classes)],
    ["trainees", "参训人次", (m) => num(m.trainees)],
    ["nominated", "推荐人数", (m) => num(m.nominated)],
    ["confirmation_rate", "确定率", (m) => pct(m.confirmation_rate)],
    ["attendance_rate", "出勤率", (m) => pct(m.attendance_rate)],
    ["hours", "出勤学时", (m) => num(m.hours)],
    ["rotation_coverage", "五年轮训覆盖率", (m) => pct(m.rotation_coverage)],
    ["hours_compliance", "年度学时达标率", (m) => pct(m.hours_compliance)],
    ["record_coverage", "3+N 纪实覆盖率", (m) => pct(m.record_coverage)],
    ["records", "纪实记录（条）", (m) => num(m.records)],
    ["ms_due", "跟踪节点到期", (m) => num(m.milestones.due)],
    ["ms_completed", "跟踪节点完成", (m) => num(m.milestones.completed)],
    ["ms_on_time", "按时完成", (m) => num(m.milestones.on_time)],
    ["ms_overdue", "逾期未完成", (m) => num(m.milestones.overdue)],
    ["mentor_tasks", "导师帮带任务完成", (m) => num(m.mentor_tasks)],
    ["talks", "上讲台（次）", (m) => num(m.talks)],
    ["outcomes", "成果（项）", (m) => num(m.outcomes)],
    ["outcomes_endorsed", "获批示/采纳", (m) => num(m.outcomes_endorsed)],
  ];

  async function get(path) {
    const res = await fetch(path, { headers: { Authorization: "Bearer " + token } });
    if (!res.ok) {
      let msg = "请求失败（" + res.status + "）";
      try { msg = (await res.json()).message || msg; } catch (e) { /* not JSON */ }
      const err = new Error(msg); err.status = res.status; throw err;
    }
    return res;
  }

  function query(extra) {
    const q = new URLSearchParams({ year: state.year, hours_policy: state.policy, ...extra });
    if (state.jurisdiction) q.set("jurisdiction", state.jurisdiction);
    if (state.own) q.set("own", "true");
    return q.toString();
  }

  function chart(id) {
    if (!charts[id]) charts[id] = echarts.init($(id));
    return { setOption: (o, replace) => charts[id].setOption({ animation: false, ...o }, replace) };
  }

  function showError(msg) {
    $("error").hidden = !msg;
    $("error").textContent = msg || "";
  }

  function renderKpis(m) {
    $("kpis").innerHTML = KPIS.map(([key, label, f]) =>
      `<div class="kpi"><div class="label">${label}</div><div class="value" data-kpi="${key}">${esc(f(m))}</div></div>`
    ).join("");
  }

  function renderCharts(view) {
    const rows = view.rows;
    const isCounty = view.level === "county" || view.own;
    chart("chart-rows").setOption({
      title: { text: isCounty ? "各班次参训人次与出勤率" : "各县参训人次与出勤率", textStyle: { fontSize: 14 } },
      tooltip: { trigger: "axis" }, legend: { top: 0, right: 10, data: ["人次", "出勤率"] }, grid: { top: 60, bottom: 50 },
      xAxis: { type: "category", data: rows.map((r) => r.title), axisLabel: { rotate: 20 } },
      yAxis: [{ type: "value", name: "人次" }, { type: "value", name: "%", max: 100 }],
      series: [
        { name: "人次", type: "bar", data: rows.map((r) => r.trainees) },
        { name: "出勤率", type: "line", yAxisIndex: 1, data: rows.map((r) => r.attendance_rate === null ? null : +(r.attendance_rate * 100).toFixed(1)) },
      ],
    }, true);
    const ms = view.totals.milestones;
    chart("chart-milestones").setOption({
      title: { text: "跟踪节点", textStyle: { fontSize: 14 } }, tooltip: {},
      xAxis: { type: "category", data: ["已排定", "已到期", "已完成", "按时完成", "逾期"] }, yAxis: { type: "value" },
      series: [{ type: "bar", data: [ms.scheduled, ms.due, ms.completed, ms.on_time, ms.overdue], label: { show: true, position: "top" } }],
    }, true);
    chart("chart-evaluation").setOption({
      title: { text: "训后评价均分（1/3/6/12 个月）", textStyle: { fontSize: 14 } }, tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: MONTHS.map((m) => m + " 个月") }, yAxis: { type: "value", min: 0, max: 100 },
      series: [{ type: "line", data: MONTHS.map((m) => view.totals.evaluation[m]), connectNulls: true, label: { show: true } }],
    }, true);
    chart("chart-assessment").setOption({
      title: { text: "量化考核等次分布", textStyle: { fontSize: 14 } }, tooltip: { trigger: "item" },
      series: [{ type: "pie", radius: "50%", center: ["50%", "60%"], label: { formatter: "{b}：{c}" }, data: BANDS.map(([k, l]) => ({ name: l, value: view.totals.assessment[k] })) }],
    }, true);
  }

  function renderRows(view) {
    const isCounty = view.level === "county" || view.own;
    $("table-title").textContent = view.own ? `${view.name}本级班次（点击查看学员）`
      : isCounty ? "本县班次（点击查看学员）" : "各县并列（点击进入该县）";
    const head = ["编号", "名称", "期数", "人次", "推荐", "确定率", "出勤率", "学时", "五年轮训覆盖率", "学时达标率",
      "纪实覆盖率", "优秀/良好/合格/待改进", "节点到期", "完成", "按时", "逾期", "1/3/6/12月评价", "帮带任务", "上讲台", "成果"];
    const body = view.rows.map((r) => `<tr class="drill" data-kind="${esc(r.kind)}" data-code="${esc(r.code)}">` + [
      r.code, r.title, r.classes, r.trainees, r.nominated, pct(r.confirmation_rate), pct(r.attendance_rate), r.hours,
      pct(r.rotation_coverage), pct(r.hours_compliance), pct(r.record_coverage),
      BANDS.map(([k]) => r.assessment[k]).join("/"), r.milestones.due, r.milestones.completed, r.milestones.on_time,
      r.milestones.overdue, MONTHS.map((m) => num(r.evaluation[m])).join(" / "), r.mentor_tasks, r.talks, r.outcomes,
    ].map((v) => `<td>${esc(v)}</td>`).join("") + "</tr>").join("");
    $("rows").innerHTML = `<thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${body}</tbody>`;
    for (const tr of $("rows").querySelectorAll("tr.drill")) {
      tr.addEventListener("click", () => {
        if (tr.dataset.kind === "class") navigate({ klass: tr.dataset.code });
        else navigate({ jurisdiction: tr.dataset.code, klass: "", own: tr.dataset.kind === "own" });
      });
    }
  }

  function renderCrumbs(crumbs, klassTitle) {
    // crumbs: [{code, name, level}] from the province down to the current division (names from GB/T 2260).
    const parts = crumbs.map((c) => `<a data-code="${esc(c.code)}" title="${esc(c.code)}">${esc(c.level)} ${esc(c.name)}</a>`);
    if (klassTitle) parts.push(`<span>班次 ${esc(klassTitle)}</span>`);
    $("crumbs").innerHTML = parts.join('<span class="sep">›</span>');
    for (const a of $("crumbs").querySelectorAll("a")) a.addEventListener("click", () => navigate({ jurisdiction: a.dataset.code, klass: "", own: false }));
  }

  async function renderClass() {
    const c = await (await get(`/api/classes/${encodeURIComponent(state.klass)}?hours_policy=${state.policy}`)).json();
    renderCrumbs(c.crumbs, c.title);
    renderKpis(c.totals);
    renderCharts({ level: "class", rows: [], totals: c.totals });
    chart("chart-rows").setOption({
      title: { text: "学员出勤学时与纪实条数", textStyle: { fontSize: 14 } },
      tooltip: { trigger: "axis" }, legend: { top: 0, right: 10, data: ["学时", "纪实"] }, grid: { top: 60, bottom: 50 },
      xAxis: { type: "category", data: c.trainees.map((t) => t.name), axisLabel: { rotate: 20 } },
      yAxis: { type: "value" },
      series: [
        { name: "学时", type: "bar", data: c.trainees.map((t) => t.hours) },
        { name: "纪实", type: "bar", data: c.trainees.map((t) => t.records) },
      ],
    }, true);
    $("table-title").textContent = `班次“${c.title}”学员（${c.names_shown ? "含姓名" : "分析员视图：不显示姓名"}）`;
    const head = ["姓名", "单位", "状态", "小组", "出勤", "缺勤", "学时", "结业", "纪实", "考核均分", "跟踪节点", "评价", "帮带任务", "上讲台"];
    const body = c.trainees.map((t) => "<tr>" + [
      t.name, t.unit ?? "—", STATUS[t.status] || t.status, t.group, t.attended, t.absent, t.hours,
      t.graduated ? "是" : (t.not_graduated ? `否：${(t.not_graduated_reasons || []).join("；")}` : ""),
      t.records, num(t.assessment), Object.entries(t.milestones).map(([m, s]) => `${m}月${MS[s] || s}`).join(" "),
      Object.entries(t.evaluation).map(([m, s]) => `${m}月${s}`).join(" "), t.mentor_tasks, t.talks,
    ].map((v) => `<td>${esc(v)}</td>`).join("") + "</tr>").join("");
    $("rows").innerHTML = `<thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${body}</tbody>`;
  }

  async function render() {
    try {
      if (state.klass) { await renderClass(); }
      else {
        const view = await (await get("/api/overview?" + query({}))).json();
        state.jurisdiction = view.jurisdiction;
        renderCrumbs(view.crumbs, "");
        renderKpis(view.totals);
        renderCharts(view);
        renderRows(view);
      }
      showError("");
      document.body.dataset.rendered = String(Date.now());
    } catch (e) {
      showError(e.message);
    }
  }

  function navigate(change) {
    Object.assign(state, change);
    const q = new URLSearchParams({ year: state.year, policy: state.policy });
    if (state.jurisdiction) q.set("jurisdiction", state.jurisdiction);
    if (state.klass) q.set("class", state.klass);
    if (state.own) q.set("own", "true");
    history.pushState(null, "", "?" + q.toString());
    connect();
    render();
  }

  let source = null;
  function connect() {
    if (source) source.close();
    const q = new URLSearchParams({ access_token: token });
    if (state.jurisdiction) q.set("jurisdiction", state.jurisdiction);
    source = new EventSource("/api/stream?" + q.toString());
    source.addEventListener("ready", () => { $("live").textContent = "实时"; $("live").className = "live on"; });
    source.addEventListener("update", () => render());
    source.onerror = () => { $("live").textContent = "重连中"; $("live").className = "live off"; };
  }

  async function exportView() {
    try {
      const res = state.klass
        ? await get(`/api/classes/${encodeURIComponent(state.klass)}/export.xlsx`)
        : await get("/api/export.xlsx?" + query({}));
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = state.klass ? `干训看板_班次_${state.klass}.xlsx` : `干训看板_${state.jurisdiction}_${state.year}.xlsx`;
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) { showError(e.message); }
  }

  const thisYear = new Date().getFullYear();
  $("year").innerHTML = [`<option value="all">全部年份</option>`]
    .concat(Array.from({ length: 8 }, (_, i) => thisYear + 1 - i).map((y) => `<option value="${y}">${y} 年</option>`)).join("");
  if (![...$("year").options].some((o) => o.value === state.year)) $("year").insertAdjacentHTML("beforeend", `<option value="${esc(state.year)}">${esc(state.year)} 年</option>`);
  $("year").value = state.year;
  $("policy").innerHTML = [40, 50, 80, 90, 110].map((h) => `<option value="${h}">${h} 学时</option>`).join("");
  if (![...$("policy").options].some((o) => o.value === state.policy)) $("policy").insertAdjacentHTML("beforeend", `<option value="${esc(state.policy)}">${esc(state.policy)} 学时</option>`);
  $("policy").value = state.policy;
  $("year").addEventListener("change", () => navigate({ year: $("year").value }));
  $("policy").addEventListener("change", () => navigate({ policy: $("policy").value }));
  $("export").addEventListener("click", exportView);
  window.addEventListener("popstate", () => location.reload());
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  if (!token) { showError("未登录：请在地址后加 #token=<令牌> 打开本页（令牌可用 ganxun token 签发）。"); return; }
  connect();
  render();
})();
