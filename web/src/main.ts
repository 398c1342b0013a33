import { createApp } from 'vue'
import 'vant/lib/index.css'
import './style.css'
import App from './App.vue'
import { router } from './router'
import { i18n, setLang, currentLang } from './i18n'
import { loadConfig } from './config'
import { restore } from './auth/session'

async function start() {
  try {
    await loadConfig()
    await restore()
  } catch (e) {
    // A broken config.json or OIDC redirect: say so instead of a blank page.
    document.getElementById('app')!.textContent = `启动失败 / Failed to start: ${(e as Error).message}`
    return
  }
  setLang(currentLang())
  createApp(App).use(i18n).use(router).mount('#app')
}

start()
