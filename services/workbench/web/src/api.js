// The one module that talks to the server. Every call goes to the workbench service
// (/api/<service>/<path>), which adds the user's token; the services decide everything.
// A refusal arrives as ApiError with the service's own Chinese message and field.

/** @typedef {{user_id: string, name: string, role: string, role_zh: string, jurisdiction: string,
 *   unit: string|null, csrf_token: string}} Me */
/** @typedef {{items: any[], total: number, page: number, size: number}} Page */

export class ApiError extends Error {
  /** @param {number} status @param {{code?: string, message?: string, field?: string|null, errors?: any[]}} body */
  constructor(status, body) {
    super(body.message || `请求失败（${status}）`)
    this.status = status
    this.code = body.code || 'error'
    this.field = body.field || null
    this.errors = body.errors || []
  }
}

let csrf = ''

/** @returns {Promise<Me|null>} null when nobody is logged in */
export async function me() {
  const r = await fetch('/api/me', { credentials: 'same-origin' })
  if (r.status === 401) return null
  const body = await r.json()
  if (!r.ok) throw new ApiError(r.status, body)
  csrf = body.csrf_token
  return body
}

// Read-your-writes: what the user's commands wrote, per service (the X-Ganxun-Token of their
// answers). The next reads of that service send it back (X-Ganxun-After) and the service answers
// once its read models show it (shared/consistency.py); answered, it is dropped.
const written = {}

function remember(service, r) {
  const token = r.headers.get('x-ganxun-token')
  if (token) written[service] = [...(written[service] || []), ...token.split(',')].slice(-20)
}

function forget(service, sent, r) {
  if (!sent.length || !r.headers.get('x-ganxun-consistency')) return
  written[service] = (written[service] || []).filter((t) => !sent.includes(t))
}

async function call(method, service, path, { params, json, form } = {}) {
  const query = params ? '?' + new URLSearchParams(clean(params)).toString() : ''
  const headers = { accept: 'application/json' }
  let body
  if (json !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(json) }
  if (form !== undefined) body = form
  if (method !== 'GET') headers['x-csrf-token'] = csrf
  const sent = method === 'GET' ? [...(written[service] || [])] : []
  if (sent.length) headers['x-ganxun-after'] = sent.join(',')
  const r = await fetch(`/api/${service}${path}${query}`, { method, headers, body, credentials: 'same-origin' })
  if (method === 'GET') forget(service, sent, r)
  else if (r.ok) remember(service, r)
  const text = await r.text()
  let data = null
  try { data = text ? JSON.parse(text) : null } catch { data = { message: text } }
  if (r.status === 401 && data && ['login_required', 'login_expired'].includes(data.code)) {
    window.location.href = '/auth/login?next=' + encodeURIComponent(location.pathname + location.search)
  }
  if (!r.ok) throw new ApiError(r.status, data || {})
  return data
}

function clean(params) {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''))
}

export const get = (service, path, params) => call('GET', service, path, { params })
export const post = (service, path, json) => call('POST', service, path, { json: json ?? {} })
export const put = (service, path, json) => call('PUT', service, path, { json })
export const patch = (service, path, json) => call('PATCH', service, path, { json })
export const upload = (service, path, file) => {
  const form = new FormData()
  form.append('file', file)
  return call('POST', service, path, { form })
}

/** A page the service renders (the record form's HTML), as text, for a preview. */
export async function getText(service, path) {
  const r = await fetch(`/api/${service}${path}`, { credentials: 'same-origin' })
  const text = await r.text()
  if (!r.ok) {
    let body = {}
    try { body = JSON.parse(text) } catch { body = { message: text } }
    throw new ApiError(r.status, body)
  }
  return text
}

/** A link the browser downloads (Excel), through the workbench with the user's token. */
export const fileUrl = (service, path, params) =>
  `/api/${service}${path}?` + new URLSearchParams(clean({ ...params })).toString()

/** A list route as one page. The services answer `{items, total, page, size}` (server-side
 * paging); an older service answers the whole list, which is then paged here. */
export async function page(service, path, params, listKey) {
  const data = await get(service, path, params)
  if (data && Array.isArray(data.items) && typeof data.total === 'number') return data
  let items = Array.isArray(data) ? data : (data?.[listKey] || data?.items || [])
  const q = (params.q || '').trim()
  if (q) items = items.filter((x) => [x.name, x.unit, x.title].some((v) => v && String(v).includes(q)))
  for (const key of ['unit', 'rank', 'category']) {
    if (params[key]) items = items.filter((x) => x[key] === params[key])
  }
  if (params.sort) {
    const dir = params.order === 'desc' ? -1 : 1
    items = [...items].sort((a, b) => (a[params.sort] ?? '') > (b[params.sort] ?? '') ? dir : -dir)
  }
  const size = params.size || 20, p = params.page || 1
  return { items: items.slice((p - 1) * size, p * size), total: items.length, page: p, size }
}

/** Reads until the user's own change shows, at most `ms`; then shows what there is. A read
 * of the service the user wrote to already shows it (it carries the write's token, above), so
 * this re-reads only for a change that reaches ANOTHER service's read model through Kafka,
 * or one whose command gives no token (a transfer, a weekly score sheet). */
export async function settle(read, done, ms = 6000) {
  const until = Date.now() + ms
  let last = await read()
  while (!done(last) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250))
    last = await read()
  }
  return last
}

export async function logout() {
  await fetch('/auth/logout', { method: 'POST', headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' })
}

export const STATUS_ZH = { nominated: '待确定', confirmed: '已确定', rejected: '未确定', waitlisted: '候补',
  withdrawn: '已撤回' }
