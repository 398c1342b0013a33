// The two locales say the same things, and every error code the server can
// send has words in both: a clerk never reads a raw code or raw JSON.

import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import en from './en'
import zhCN from './zh-CN'
import { errorText, i18n } from './index'

type Tree = { [k: string]: string | Tree }

function flatten(tree: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>()
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k
    if (typeof v === 'string') out.set(key, v)
    else for (const [kk, vv] of flatten(v, key)) out.set(kk, vv)
  }
  return out
}
const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()

const zh = flatten(zhCN as unknown as Tree)
const eng = flatten(en as unknown as Tree)

/** The error codes the Rust side can answer with, read from its source. */
const rustSources = import.meta.glob<string>(['../../../core/src/error.rs', '../../../api/src/*.rs'], {
  query: '?raw',
  import: 'default',
  eager: true,
})
function serverCodes(): string[] {
  const codes = new Set<string>()
  for (const text of Object.values(rustSources)) {
    const src = text.split('#[cfg(test)]')[0]
    for (const m of src.matchAll(/=> "([a-z_]+)"|code: "([a-z_]+)"|bad_request\(\s*"([a-z_]+)"/g)) codes.add(m[1] ?? m[2] ?? m[3])
  }
  return [...codes].sort()
}

describe('locales', () => {
  it('have the same keys', () => {
    expect([...eng.keys()].filter((k) => !zh.has(k))).toEqual([])
    expect([...zh.keys()].filter((k) => !eng.has(k))).toEqual([])
  })

  it('have no empty messages', () => {
    expect([...zh].filter(([, v]) => !v.trim()).map(([k]) => k)).toEqual([])
    expect([...eng].filter(([, v]) => !v.trim()).map(([k]) => k)).toEqual([])
  })

  it('use the same placeholders for each message', () => {
    const differ = [...zh].filter(([k, v]) => placeholders(v).join() !== placeholders(eng.get(k) ?? '').join()).map(([k]) => k)
    expect(differ).toEqual([])
  })

  it('translate every error code the server sends', () => {
    const codes = serverCodes()
    // The scan found the codes (a change of style in the Rust source must not
    // make this test pass vacuously).
    expect(codes).toContain('credit_code_taken')
    expect(codes).toContain('malformed_json')
    expect(codes.length).toBeGreaterThan(25)
    const untranslated = codes.filter((c) => c !== 'invalid_field' && !(zh.has(`errors.${c}`) && eng.has(`errors.${c}`)))
    expect(untranslated).toEqual([])
  })
})

describe('errorText', () => {
  const zhText = (e: unknown) => {
    i18n.global.locale.value = 'zh-CN'
    return errorText(e)
  }

  it('translates a known code', () => {
    expect(zhText(new ApiError(409, 'credit_code_taken', 'this unified social credit code is registered by another account'))).toBe(
      '该统一社会信用代码已被其他账号登记',
    )
    i18n.global.locale.value = 'en'
    expect(errorText(new ApiError(404, 'not_found', 'x'))).toMatch(/not found/i)
  })

  it('names the field in the user’s words', () => {
    expect(zhText(new ApiError(400, 'invalid_field', 'bad', { field: 'creditCode' }))).toBe('统一社会信用代码有误')
    expect(zhText(new ApiError(400, 'missing_field', 'bad', { field: 'claimedArea' }))).toMatch(/^缺少必填项：申报面积/)
  })

  it('falls back to a generic message carrying the code, never the server’s JSON', () => {
    const text = zhText(new ApiError(418, 'teapot', '{"error":{"code":"teapot"}}'))
    expect(text).toBe('操作失败（teapot），请稍后重试')
    expect(zhText(new Error('TypeError: x is undefined'))).toBe('操作失败（client），请稍后重试')
    expect(zhText(new ApiError(400, 'invalid_field', 'bad'))).toBe('操作失败（invalid_field），请稍后重试')
  })
})
