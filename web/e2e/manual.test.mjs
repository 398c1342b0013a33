// The operations manual shows only screens the browser tests take, and
// every screen they take is in the manual.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { MANUAL } from './lib.mjs'

test('操作手册 and the screenshots agree', () => {
  const text = readFileSync(join(MANUAL, '操作手册.md'), 'utf8')
  const referenced = new Set([...text.matchAll(/!\[[^\]]*\]\(([^)]+\.png)\)/g)].map((m) => m[1]))
  assert.ok(referenced.size >= 20, `the manual shows ${referenced.size} screens`)
  const shots = new Set(readdirSync(MANUAL).filter((f) => f.endsWith('.png')))
  assert.deepEqual([...referenced].filter((f) => !shots.has(f)), [], 'images the manual shows but no test takes')
  assert.deepEqual([...shots].filter((f) => !referenced.has(f)), [], 'screens the tests take but the manual leaves out')
})
