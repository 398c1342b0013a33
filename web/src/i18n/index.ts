import { createI18n } from 'vue-i18n'
import { Locale } from 'vant'
import vantZh from 'vant/es/locale/lang/zh-CN'
import vantEn from 'vant/es/locale/lang/en-US'
import zhCN from './zh-CN'
import en from './en'
import { ApiError } from '../api/client'

export type Lang = 'zh-CN' | 'en'
const KEY = 'subsidy.locale'

function initial(): Lang {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem(KEY) : null
  return saved === 'en' ? 'en' : 'zh-CN'
}

export const i18n = createI18n({
  legacy: false,
  locale: initial(),
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zhCN, en },
})

export function setLang(lang: Lang): void {
  i18n.global.locale.value = lang
  localStorage.setItem(KEY, lang)
  document.documentElement.lang = lang
  Locale.use(lang === 'en' ? 'en-US' : 'zh-CN', lang === 'en' ? vantEn : vantZh)
}

export function currentLang(): Lang {
  return i18n.global.locale.value as Lang
}

/** The user-facing text of any failure: from the API's error code, translated. */
export function errorText(e: unknown): string {
  const t = i18n.global.t
  const te = i18n.global.te
  if (!(e instanceof ApiError)) return t('errors.unknown', { code: 'client' })
  const field = e.field ? (te(`fields.${e.field}`) ? t(`fields.${e.field}`) : e.field) : ''
  if (e.code === 'invalid_field') {
    return field ? t('errors.invalid_field_plain', { field }) : t('errors.unknown', { code: e.code })
  }
  if (te(`errors.${e.code}`)) return t(`errors.${e.code}`, { field })
  return t('errors.unknown', { code: e.code })
}
