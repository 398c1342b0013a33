import { ref, type Ref } from 'vue'
import { errorText } from '../i18n'
import { ApiError } from '../api/client'

/** A value loaded from the API, with its loading and error states. */
export function useAsync<T>(load: () => Promise<T>) {
  const data = ref<T | null>(null) as Ref<T | null>
  const loading = ref(false)
  const error = ref<string | null>(null)
  const errorCode = ref<string | null>(null)
  async function run(): Promise<void> {
    loading.value = true
    error.value = null
    errorCode.value = null
    try {
      data.value = await load()
    } catch (e) {
      error.value = errorText(e)
      errorCode.value = e instanceof ApiError ? e.code : 'client'
    } finally {
      loading.value = false
    }
  }
  return { data, loading, error, errorCode, run }
}
