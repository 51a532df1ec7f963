// A list page's query (page, size, search, sort, filters) kept in the address bar, so a
// reload, a shared link or coming back to the page shows the same page of the same list.
import { reactive } from 'vue'
import { useRoute, useRouter } from 'vue-router'

/** `defaults` names every parameter with its default (a number stays a number). A prefix
 * keeps two lists of one page apart in the URL. */
export function useListQuery(defaults, prefix = '') {
  const route = useRoute()
  const router = useRouter()
  const query = reactive(Object.fromEntries(Object.entries(defaults).map(([k, d]) => {
    const v = route.query[prefix + k]
    if (v === undefined || v === null) return [k, d]
    return [k, typeof d === 'number' ? (Number(v) > 0 ? Number(v) : d) : String(v)]
  })))
  /** Writes the query into the URL (without a new history entry), leaving defaults out. */
  function remember() {
    const q = { ...route.query }
    for (const [k, d] of Object.entries(defaults)) {
      if (query[k] === d || query[k] === '' || query[k] === null) delete q[prefix + k]
      else q[prefix + k] = String(query[k])
    }
    router.replace({ query: q })
  }
  /** The parameters to send: empty filters left out. */
  const params = () => Object.fromEntries(Object.entries(query).filter(([, v]) => v !== '' && v !== null))
  return { query, remember, params }
}
