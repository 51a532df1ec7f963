// Where a class stands, as a label for lists: from its dates and whether a scope is drawn
// (display only; the services decide what may still be done).
/** Today in Beijing time (the services' day), as YYYY-MM-DD. */
export const today = () => new Date().toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' })

export function phaseOf(c, day = today()) {
  if (c.ends_on < day) return { label: '已结束', type: 'info' }
  if (c.starts_on <= day) return { label: '培训中', type: 'success' }
  if (c.scope === null || c.scope === undefined) return { label: '待划定范围', type: 'warning' }
  return { label: '推荐与确定中', type: 'primary' }
}
