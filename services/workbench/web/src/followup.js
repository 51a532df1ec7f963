// Names for follow-up's codes, shared by the organisation department's desk pages
// (FollowupDesk.vue, FollowupEffect.vue, FollowupFile.vue). Display only.

/** Who a missing evaluation is waiting for, by name: the trainee, or their unit. */
export const MISSING_NAME = {
  self: (i) => `本人（${i.name}）`,
  colleague: (i) => `同事（${i.unit}）`,
  unit_leader: (i) => `单位领导（${i.unit}）`,
  mentor: (i) => `导师${i.mentor ? `（${i.mentor}）` : ''}`,
}

export const CHANNEL_NAMES = { email: '邮件', webhook: '短信/消息', log: '日志（未实际发出）' }

export const MILESTONE_STATUS = { scheduled: ['未到期', 'info'], due: ['已到期', 'warning'],
  overdue: ['已逾期', 'danger'], completed: ['已完成', 'success'] }

export const pct = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)}%`)
