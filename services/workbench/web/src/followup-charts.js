// The class effect report's charts (FollowupEffect.vue): ECharts from the npm package, only
// the parts used, loaded with that page. Kept apart from charts.js (the reports page's).
import * as echarts from 'echarts/core'
import { BarChart, PieChart } from 'echarts/charts'
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([BarChart, PieChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer])

/** Scores (0–100) as bars, one per name, with the value on each bar. */
export function scoreBars(el, names, values, { horizontal = false } = {}) {
  const category = { type: 'category', data: names, axisLabel: { interval: 0 } }
  const value = { type: 'value', min: 0, max: 100 }
  echarts.init(el).setOption({
    tooltip: {},
    grid: { left: horizontal ? 190 : 40, right: 30, bottom: 30, top: 20 },
    xAxis: horizontal ? value : category,
    yAxis: horizontal ? { ...category, inverse: true } : value,
    series: [{ type: 'bar', name: '平均分', data: values, itemStyle: { color: '#b71c1c' },
      label: { show: true, position: horizontal ? 'right' : 'top' } }],
  })
}

/** How the milestones that came due stand: on time, late, still open. The counts are in the
 * legend (labels around a small ring would overlap); an empty part is left out. */
export function completionPie(el, data) {
  const colors = { 按时完成: '#67c23a', 逾期后完成: '#e6a23c', 逾期未完成: '#f56c6c', 到期待完成: '#909399' }
  const shown = data.filter((d) => d.value > 0)
  const count = Object.fromEntries(shown.map((d) => [d.name, d.value]))
  echarts.init(el).setOption({
    tooltip: { formatter: '{b}：{c} 个（{d}%）' },
    legend: { bottom: 0, formatter: (name) => `${name} ${count[name]} 个` },
    series: [{ type: 'pie', radius: ['35%', '65%'], center: ['50%', '42%'], data: shown, label: { show: false } }],
    color: shown.map((d) => colors[d.name]),
  })
}
