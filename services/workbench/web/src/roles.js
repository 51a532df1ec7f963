// Which pages each role's menu shows. Only navigation: whether an action is allowed is
// decided by the services, and their refusal is shown where it happens.
export const MENUS = {
  org_department: [
    { path: '/', label: '我的待办' },
    { path: '/cadres', label: '干部名册' },
    { path: '/cadres/import', label: '名册导入' },
    { path: '/classes', label: '班次管理' },
    { path: '/classes/new', label: '开设班次' },
    { path: '/queue', label: '待确定队列' },
    { path: '/reports', label: '统计报表' },
    { path: '/followup/desk', label: '跟踪问效' },
    { path: '/sharing', label: '上讲台与成果' },
    { path: '/dashboard', label: '干训看板' },
  ],
  analyst: [
    { path: '/dashboard', label: '干训看板' },
  ],
  unit: [
    { path: '/', label: '我的待办' },
    { path: '/unit/classes', label: '本单位调训任务' },
    { path: '/followup/due', label: '本单位跟踪待办' },
    { path: '/unit/sharing', label: '上讲台与成果' },
  ],
  evaluator: [
    { path: '/', label: '我的待办' },
    { path: '/followup/due', label: '待我评价' },
  ],
  party_school: [
    { path: '/', label: '我的待办' },
    { path: '/catalogue', label: '课程与师资' },
    { path: '/school/classes', label: '班次教学' },
    { path: '/school/leave', label: '请假审批' },
    { path: '/sharing', label: '上讲台与成果' },
  ],
  recorder: [
    { path: '/', label: '我的待办' },
    { path: '/rec/classes', label: '我记录的班次' },
  ],
  mentor: [
    { path: '/', label: '我的待办' },
    { path: '/mentor/mentees', label: '我的帮带对象' },
  ],
  trainee: [
    { path: '/', label: '我的待办' },
    { path: '/me/classes', label: '我的班次' },
    { path: '/me/hours', label: '我的学时' },
    { path: '/me/followup', label: '训后跟踪' },
    { path: '/sharing', label: '上讲台与成果' },
  ],
}

export const menuOf = (role) => MENUS[role] || [{ path: '/', label: '我的待办' }]
