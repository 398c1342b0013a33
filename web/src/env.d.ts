/// <reference types="vite/client" />
declare module '*.vue' {
  import type { DefineComponent } from 'vue'
  const component: DefineComponent<object, object, unknown>
  export default component
}
interface ImportMetaEnv {
  /** The API's base URL at build time (overrides config.json's apiBase). */
  readonly VITE_API_BASE?: string
}
