import { reactive } from 'vue'

/** The logged-in user, loaded once by App.vue from /api/me. */
export const session = reactive({ user: null, loaded: false })
