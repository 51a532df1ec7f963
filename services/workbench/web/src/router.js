import { createRouter, createWebHistory } from 'vue-router'

const routes = [
  { path: '/', component: () => import('./pages/MyTasks.vue'), meta: { title: '我的待办' } },
  { path: '/cadres', component: () => import('./pages/CadreRegistry.vue'), meta: { title: '干部名册' } },
  { path: '/cadres/import', component: () => import('./pages/CadreImport.vue'), meta: { title: '名册导入' } },
  { path: '/cadres/:id', component: () => import('./pages/CadrePage.vue'), meta: { title: '干部档案' } },
  { path: '/classes', component: () => import('./pages/ClassList.vue'), meta: { title: '班次管理' } },
  { path: '/classes/new', component: () => import('./pages/OpenClassForm.vue'), meta: { title: '开设班次' } },
  { path: '/classes/:id', component: () => import('./pages/ClassPage.vue'), meta: { title: '班次' } },
  { path: '/classes/:id/scope', component: () => import('./pages/ScopeDraw.vue'), meta: { title: '划定人选范围' } },
  { path: '/queue', component: () => import('./pages/ConfirmationQueue.vue'), meta: { title: '待确定队列' } },
  { path: '/reports', component: () => import('./pages/Reports.vue'), meta: { title: '统计报表' } },
  { path: '/unit/classes', component: () => import('./pages/UnitClasses.vue'), meta: { title: '本单位调训任务' } },
  { path: '/unit/classes/:id', component: () => import('./pages/UnitRecommend.vue'), meta: { title: '推荐人选' } },
  { path: '/catalogue', component: () => import('./pages/Catalogue.vue'), meta: { title: '课程与师资' } },
  { path: '/school/classes', component: () => import('./pages/SchoolClasses.vue'), meta: { title: '班次教学' } },
  { path: '/school/classes/:id', component: () => import('./pages/Timetable.vue'), meta: { title: '课表与排课' } },
  { path: '/school/classes/:id/sessions/:sid', component: () => import('./pages/RollCall.vue'),
    meta: { title: '点名考勤' } },
  { path: '/school/classes/:id/graduation', component: () => import('./pages/Graduation.vue'),
    meta: { title: '结业评定' } },
  { path: '/me/classes', component: () => import('./pages/MyClasses.vue'), meta: { title: '我的班次' } },
  { path: '/me/classes/:id', component: () => import('./pages/MyTimetable.vue'), meta: { title: '我的课表' } },
  { path: '/me/hours', component: () => import('./pages/MyHours.vue'), meta: { title: '我的学时' } },
  { path: '/me/followup', component: () => import('./pages/MyFollowup.vue'), meta: { title: '训后跟踪' } },
  { path: '/rec/classes', component: () => import('./pages/RecorderClasses.vue'), meta: { title: '我记录的班次' } },
  { path: '/rec/classes/:id', component: () => import('./pages/RecorderRoster.vue'), meta: { title: '纪实名册' } },
  { path: '/rec/classes/:id/scores', component: () => import('./pages/ScoreSheet.vue'), meta: { title: '周评分表' } },
  { path: '/rec/classes/:id/trainees/:cid', component: () => import('./pages/RecorderTrainee.vue'),
    meta: { title: '学员纪实' } },
  { path: '/followup/due', component: () => import('./pages/EvaluationsDue.vue'), meta: { title: '跟踪评价' } },
  { path: '/mentor/mentees', component: () => import('./pages/MyMentees.vue'), meta: { title: '我的帮带对象' } },
  { path: '/sharing', component: () => import('./pages/SharingOutcomes.vue'), meta: { title: '上讲台与成果' } },
  { path: '/:rest(.*)', component: () => import('./pages/NotFound.vue'), meta: { title: '页面不存在' } },
]

export const router = createRouter({ history: createWebHistory(), routes })
router.afterEach((to) => { document.title = `${to.meta.title || ''} · 干训工作台` })
