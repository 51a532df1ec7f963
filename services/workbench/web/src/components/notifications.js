// What this page has marked read, shared by the header's bell and 我的待办: the reminders
// service's answer follows its events a moment later, so a list fetched right after a
// read may still show it unread. Marking it here makes both agree at once.
export const READ_EVENT = 'ganxun:notification-read'
const readHere = new Set()

/** Remember a read and tell any open list (MyTasks.vue) at once. */
export function noteRead(id) {
  readHere.add(id)
  window.dispatchEvent(new CustomEvent(READ_EVENT, { detail: id }))
}

/** A `{items, unread}` answer with what was read here applied. */
export function withReadHere(data) {
  for (const row of data.items) {
    if (readHere.has(row.id) && !row.read) {
      row.read = true
      if (row.status === 'open') data.unread = Math.max(0, data.unread - 1)
    }
  }
  return data
}
