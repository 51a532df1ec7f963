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

/** How the milestones that came due stand: on time, late, still open. */
export function completionPie(el, data) {
  echarts.init(el).setOption({
    tooltip: {}, legend: { bottom: 0 },
    series: [{ type: 'pie', radius: ['35%', '65%'], data, label: { formatter: '{b}：{c} 个' } }],
    color: ['#67c23a', '#e6a23c', '#f56c6c', '#909399'],
  })
}
