import { describe, expect, it } from 'vitest'
import type { ApplicationView, RecoveryView, Role, State } from '../api/types'
import en from '../i18n/en'
import zhCN from '../i18n/zh-CN'
import {
  RECOVERY_STATUSES,
  canConfirmRecovery,
  canOpenRecovery,
  canRecordRepayment,
  checkAmount,
  checkRepaymentDate,
  fenToYuan,
  recoveryStatusKey,
  recoveryTagType,
  yuanToFen,
} from './recovery'

const recovery = (status: RecoveryView['status']): RecoveryView => ({
  amount: '300.00',
  reason: '重复申报',
  status,
  repaid: status === 'recovered' ? '300.00' : '0.00',
  owed: status === 'recovered' ? '0.00' : '300.00',
  openedAt: '2026-12-01T02:00:00Z',
  confirmedAt: status === 'awaiting_confirmation' ? null : '2026-12-02T02:00:00Z',
  repayments: [],
})
const app = (state: State, r?: RecoveryView): Pick<ApplicationView, 'state' | 'recovery'> => (r ? { state, recovery: r } : { state })

type Tree = { [k: string]: string | Tree }
const lookup = (tree: Tree, key: string) => key.split('.').reduce<string | Tree | undefined>((t, k) => (typeof t === 'object' ? t[k] : undefined), tree)

describe('status labels', () => {
  it('name each status in both languages', () => {
    const zh = RECOVERY_STATUSES.map((s) => lookup(zhCN as unknown as Tree, recoveryStatusKey(s)))
    expect(zh).toEqual(['追回待确认', '追回中', '已追回'])
    for (const s of RECOVERY_STATUSES) expect(typeof lookup(en as unknown as Tree, recoveryStatusKey(s))).toBe('string')
  })

  it('give a status the client does not know a generic label, never a missing key', () => {
    expect(recoveryStatusKey('cancelled')).toBe('recovery.status.unknown')
    expect(recoveryStatusKey('')).toBe('recovery.status.unknown')
    expect(lookup(zhCN as unknown as Tree, 'recovery.status.unknown')).toBeTypeOf('string')
  })

  it('colour waiting, under way and done apart', () => {
    expect(RECOVERY_STATUSES.map(recoveryTagType)).toEqual(['warning', 'primary', 'success'])
    expect(recoveryTagType('other')).toBe('default')
  })
})

describe('yuanToFen / fenToYuan', () => {
  it('are exact where floats are not', () => {
    expect(yuanToFen('0.1')).toBe(10n)
    expect(yuanToFen('0.29')).toBe(29n) // 0.29 * 100 = 28.999999999999996 as a float
    expect(yuanToFen('1005.3')).toBe(100530n)
    expect(yuanToFen('9007199254740993.00')).toBe(900719925474099300n) // beyond Number's exact integers
    expect(fenToYuan(900719925474099300n)).toBe('9007199254740993.00')
    expect(fenToYuan(5n)).toBe('0.05')
    expect(fenToYuan(-30000n)).toBe('-300.00')
  })

  it('refuse what is not a plain decimal', () => {
    for (const s of ['', ' ', '.5', '5.', '1e3', '1,000.00', '¥300', '300元', '３００', '1.2.3', '+5', 'NaN', 'Infinity', '0x10', '1 000']) {
      expect(yuanToFen(s), s).toBeNull()
    }
  })
})

describe('checkAmount', () => {
  it('takes a positive amount up to the limit, normalised to two decimals', () => {
    expect(checkAmount('300', '1000.00')).toEqual({ ok: true, fen: 30000n, yuan: '300.00' })
    expect(checkAmount(' 300.5 ', '1000.00')).toEqual({ ok: true, fen: 30050n, yuan: '300.50' })
    expect(checkAmount('0.01', '1000.00')).toEqual({ ok: true, fen: 1n, yuan: '0.01' })
    expect(checkAmount('00300.00', '1000.00')).toEqual({ ok: true, fen: 30000n, yuan: '300.00' })
  })

  it('takes exactly the limit and refuses one fen above it', () => {
    expect(checkAmount('1000.00', '1000.00').ok).toBe(true)
    expect(checkAmount('1000', '1000.00').ok).toBe(true)
    expect(checkAmount('1000.01', '1000.00')).toEqual({ ok: false, error: 'above_limit' })
    expect(checkAmount('200.01', '200.00')).toEqual({ ok: false, error: 'above_limit' })
    expect(checkAmount('52345.68', '52345.67')).toEqual({ ok: false, error: 'above_limit' })
  })

  it('names what is wrong with bad input', () => {
    expect(checkAmount('', '1000.00')).toEqual({ ok: false, error: 'required' })
    expect(checkAmount('   ', '1000.00')).toEqual({ ok: false, error: 'required' })
    expect(checkAmount(null, '1000.00')).toEqual({ ok: false, error: 'required' })
    expect(checkAmount(undefined)).toEqual({ ok: false, error: 'required' })
    expect(checkAmount('0', '1000.00')).toEqual({ ok: false, error: 'not_positive' })
    expect(checkAmount('0.00', '1000.00')).toEqual({ ok: false, error: 'not_positive' })
    expect(checkAmount('-0', '1000.00')).toEqual({ ok: false, error: 'not_positive' })
    expect(checkAmount('-1.00', '1000.00')).toEqual({ ok: false, error: 'not_positive' })
    expect(checkAmount('1.001', '1000.00')).toEqual({ ok: false, error: 'too_many_decimals' })
    expect(checkAmount('abc', '1000.00')).toEqual({ ok: false, error: 'not_a_number' })
    expect(checkAmount('1e2', '1000.00')).toEqual({ ok: false, error: 'not_a_number' })
    expect(checkAmount('1,000', '1000.00')).toEqual({ ok: false, error: 'not_a_number' })
    expect(checkAmount('99999999999999999', null)).toEqual({ ok: false, error: 'too_large' })
  })

  it('leaves an unknown or unreadable limit to the server', () => {
    expect(checkAmount('5000.00', null).ok).toBe(true)
    expect(checkAmount('5000.00', undefined).ok).toBe(true)
    expect(checkAmount('5000.00', 'n/a').ok).toBe(true)
  })
})

describe('checkRepaymentDate', () => {
  const today = '2026-12-06'
  it('takes a real day up to today', () => {
    expect(checkRepaymentDate('2020-06-01', today)).toBeNull()
    expect(checkRepaymentDate('2026-12-06', today)).toBeNull()
    expect(checkRepaymentDate('2024-02-29', today)).toBeNull()
  })
  it('refuses a day after today, a day that does not exist, and other formats', () => {
    expect(checkRepaymentDate('2026-12-07', today)).toBe('in_future')
    expect(checkRepaymentDate('2999-01-01', today)).toBe('in_future')
    expect(checkRepaymentDate('2023-02-29', today)).toBe('bad_date')
    expect(checkRepaymentDate('2020-13-01', today)).toBe('bad_date')
    expect(checkRepaymentDate('2020-6-1', today)).toBe('bad_date')
    expect(checkRepaymentDate('6/2/2020', today)).toBe('bad_date')
    expect(checkRepaymentDate('', today)).toBe('required')
    expect(checkRepaymentDate(undefined, today)).toBe('required')
  })
})

describe('who may act', () => {
  const roles: Role[] = ['company', 'project_manager', 'community', 'subdistrict', 'district', 'finance', 'city', 'admin']
  const states: State[] = ['approved', 'in_payment_batch', 'paid', 'payment_failed']

  it('only a district reviewer opens, and only on a paid application without one', () => {
    const may = roles.flatMap((r) => states.filter((s) => canOpenRecovery(r, app(s))).map((s) => `${r}:${s}`))
    expect(may).toEqual(['district:paid'])
    expect(canOpenRecovery('district', app('paid', recovery('recovered')))).toBe(false)
    expect(canOpenRecovery('district', null)).toBe(false)
  })

  it('only finance confirms, while it waits; only finance records repayments, while it is under way', () => {
    for (const r of roles) {
      expect(canConfirmRecovery(r, app('paid', recovery('awaiting_confirmation'))), r).toBe(r === 'finance')
      expect(canRecordRepayment(r, app('paid', recovery('recovering'))), r).toBe(r === 'finance')
    }
    expect(canConfirmRecovery('finance', app('paid', recovery('recovering')))).toBe(false)
    expect(canConfirmRecovery('finance', app('paid'))).toBe(false)
    expect(canRecordRepayment('finance', app('paid', recovery('awaiting_confirmation')))).toBe(false)
    expect(canRecordRepayment('finance', app('paid', recovery('recovered')))).toBe(false)
  })
})
