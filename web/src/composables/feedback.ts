import { showConfirmDialog, showFailToast, showSuccessToast } from 'vant'
import { errorText } from '../i18n'

/** Runs an action, toasting success or the translated error; returns whether it succeeded. */
export async function act(f: () => Promise<unknown>, success?: string): Promise<boolean> {
  try {
    await f()
    if (success) showSuccessToast({ message: success, className: 'toast-ok' })
    return true
  } catch (e) {
    showFailToast({ message: errorText(e), className: 'toast-error', duration: 3000 })
    return false
  }
}

/** Asks first; false when the user backs out. */
export async function ask(message: string): Promise<boolean> {
  try {
    await showConfirmDialog({ message })
    return true
  } catch {
    return false
  }
}
