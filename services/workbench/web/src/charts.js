// ECharts from the npm package, only the parts used (bar and pie), loaded with the reports page.
import * as echarts from 'echarts/core'
import { BarChart, PieChart } from 'echarts/charts'
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([BarChart, PieChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer])

export function bars(el, names, values, label) {
  echarts.init(el).setOption({
    tooltip: {}, grid: { left: 40, right: 10, bottom: 60, top: 20 },
    xAxis: { type: 'category', data: names, axisLabel: { interval: 0, rotate: 30 } },
    yAxis: { type: 'value', max: 100 }, series: [{ type: 'bar', name: label, data: values, itemStyle: { color: '#b71c1c' } }],
  })
}

export function pie(el, data) {
  echarts.init(el).setOption({
    tooltip: {}, legend: { bottom: 0 },
    series: [{ type: 'pie', radius: ['35%', '65%'], data, label: { formatter: '{b}：{c} 人' } }],
    color: ['#67c23a', '#e6a23c'],
  })
}

// Counts side by side (the dashboard): one bar series per entry of `series` ({name, data}).
export function grouped(el, names, series) {
  const chart = echarts.getInstanceByDom(el) || echarts.init(el)
  // No growing animation: the figures are read (and screenshot) as soon as they are drawn.
  chart.setOption({
    animation: false, tooltip: { trigger: 'axis' }, legend: { top: 0 }, grid: { left: 40, right: 10, bottom: 60, top: 30 },
    xAxis: { type: 'category', data: names, axisLabel: { interval: 0, rotate: names.length > 8 ? 30 : 0 } },
    yAxis: { type: 'value', minInterval: 1 },
    series: series.map((s) => ({ type: 'bar', name: s.name, data: s.data })),
    color: ['#b71c1c', '#409eff', '#e6a23c', '#67c23a'],
  }, true)
}
