import { createRouter, createWebHashHistory, type RouteRecordRaw } from 'vue-router'
import type { Role } from './api/types'
import { homeOf, session } from './auth/session'

declare module 'vue-router' {
  interface RouteMeta {
    roles?: Role[]
    public?: boolean
    tab?: string
  }
}

const reviewers: Role[] = ['community', 'subdistrict', 'district']
const staff: Role[] = ['community', 'subdistrict', 'district', 'finance', 'city']

// Hash history: the client is static files anywhere (the standalone
// server, S3 behind CloudFront) with no server-side rewrites.
const routes: RouteRecordRaw[] = [
  { path: '/login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
  // 公示: a district's approvals on public notice, for anyone, signed in or
  // not (objecting needs a sign-in; the page says so). Signed in, it is
  // reached from 我的, whose tab stays lit.
  { path: '/public/notices', component: () => import('./views/public/NoticesView.vue'), meta: { public: true, tab: 'me' } },
  { path: '/', redirect: () => homeOf(session.me?.role) },
  {
    path: '/company/applications',
    component: () => import('./views/company/ApplicationsView.vue'),
    meta: { roles: ['company'], tab: 'applications' },
  },
  {
    path: '/company/applications/new',
    component: () => import('./views/company/NewApplicationView.vue'),
    meta: { roles: ['company'], tab: 'applications' },
  },
  {
    path: '/company/projects',
    component: () => import('./views/company/ProjectsView.vue'),
    meta: { roles: ['company'], tab: 'projects' },
  },
  {
    path: '/company/projects/:id',
    component: () => import('./views/company/ProjectEditView.vue'),
    meta: { roles: ['company'], tab: 'projects' },
  },
  {
    path: '/company/profile',
    component: () => import('./views/company/ProfileView.vue'),
    meta: { roles: ['company'], tab: 'company' },
  },
  {
    path: '/applications/:id',
    component: () => import('./views/ApplicationView.vue'),
    meta: { roles: ['company', 'project_manager', ...staff] },
  },
  {
    path: '/manager/inbox',
    component: () => import('./views/manager/InboxView.vue'),
    meta: { roles: ['project_manager'], tab: 'inbox' },
  },
  {
    path: '/review/inbox',
    component: () => import('./views/review/InboxView.vue'),
    meta: { roles: reviewers, tab: 'inbox' },
  },
  {
    path: '/dashboard/:code?',
    component: () => import('./views/stats/DashboardView.vue'),
    meta: { roles: staff, tab: 'dashboard' },
  },
  {
    path: '/finance',
    component: () => import('./views/finance/FinanceView.vue'),
    meta: { roles: ['finance'], tab: 'finance' },
  },
  {
    path: '/finance/batches/:id',
    component: () => import('./views/finance/BatchView.vue'),
    meta: { roles: ['finance'], tab: 'finance' },
  },
  {
    path: '/admin/staff',
    component: () => import('./views/admin/StaffListView.vue'),
    meta: { roles: ['admin'], tab: 'staff' },
  },
  {
    path: '/admin/staff/new',
    name: 'staff-new',
    component: () => import('./views/admin/StaffEditView.vue'),
    meta: { roles: ['admin'], tab: 'staff' },
  },
  {
    // A subject may hold any character but whitespace ('/' too): pushed
    // by name, the router encodes it as one segment.
    path: '/admin/staff/edit/:sub',
    name: 'staff-edit',
    component: () => import('./views/admin/StaffEditView.vue'),
    meta: { roles: ['admin'], tab: 'staff' },
  },
  // Every role's own notices (通知).
  { path: '/notifications', component: () => import('./views/NotificationsView.vue'), meta: { tab: 'notices' } },
  { path: '/me', component: () => import('./views/MeView.vue'), meta: { tab: 'me' } },
  { path: '/:pathMatch(.*)*', redirect: '/' },
]

export const router = createRouter({ history: createWebHashHistory(), routes })

router.beforeEach((to) => {
  if (to.meta.public) return true
  const me = session.me
  if (!me) return { path: '/login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  if (to.meta.roles && !to.meta.roles.includes(me.role)) return homeOf(me.role)
  return true
})
