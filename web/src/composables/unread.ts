// The unread count on the 通知 tab's badge: asked of the server on every
// navigation and after a notice is read; one question at a time, and an
// answer for a session that has since signed out (or switched) is dropped.

import { ref } from 'vue'
import { listNotices } from '../api/client'
import { session } from '../auth/session'

export const unread = ref(0)

let running: Promise<void> | null = null
let again = false

/** Sets the count from an answer that carries it (a page of the list), for the session it was asked in. */
export function setUnread(n: number, token: string | null = session.token): void {
  if (token === session.token) unread.value = Math.max(0, n)
}

/** Asks the server for the count; a failure leaves the badge as it was. */
export function refreshUnread(): Promise<void> {
  if (!session.token || !session.me) {
    unread.value = 0
    return Promise.resolve()
  }
  if (running) {
    again = true
    return running
  }
  running = (async () => {
    do {
      again = false
      const token = session.token
      const acting = `${session.me?.role}:${session.me?.unit?.code ?? ''}`
      try {
        const page = await listNotices({ limit: 1 })
        if (acting === `${session.me?.role}:${session.me?.unit?.code ?? ''}`) setUnread(page.unread, token)
      } catch {
        // Offline, or refused (a manager without a verified phone): the badge keeps its count.
      }
    } while (again && session.token)
  })().finally(() => {
    running = null
  })
  return running
}
