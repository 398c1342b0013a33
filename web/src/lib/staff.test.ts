import { describe, expect, it } from 'vitest'
import { formKeyOf, formProblems, MAX_ASSIGNMENTS, roleFits, rolesFor, STAFF_ROLES, toAssignments, type AssignmentRow } from './staff'

describe('roles and levels', () => {
  it('offers each level its own roles and admin, as the server allows them', () => {
    expect(rolesFor('community')).toEqual(['community', 'admin'])
    expect(rolesFor('subdistrict')).toEqual(['subdistrict', 'admin'])
    expect(rolesFor('district')).toEqual(['district', 'finance', 'admin'])
    expect(rolesFor('city')).toEqual(['city', 'admin'])
  })

  it('refuses a role at a unit of another level', () => {
    expect(roleFits('community', 'subdistrict')).toBe(false)
    expect(roleFits('finance', 'city')).toBe(false)
    expect(roleFits('city', 'district')).toBe(false)
    expect(roleFits('district', 'community')).toBe(false)
    expect(roleFits('finance', 'district')).toBe(true)
  })

  it('lets admin be held at every level', () => {
    for (const level of ['city', 'district', 'subdistrict', 'community'] as const) expect(roleFits('admin', level)).toBe(true)
  })

  it('offers every staff role somewhere, and no other role', () => {
    const offered = new Set((['city', 'district', 'subdistrict', 'community'] as const).flatMap(rolesFor))
    expect([...offered].sort()).toEqual([...STAFF_ROLES].sort())
    expect(offered.has('company' as never)).toBe(false)
  })
})

const row = (role: AssignmentRow['role'], unit: string | null, level: AssignmentRow['level'] = null): AssignmentRow => ({ role, unit, level })

describe('the form before it is sent', () => {
  it('accepts a complete member', () => {
    expect(formProblems({ sub: 'u-1', name: '南园社区工作站', rows: [row('community', '440304001020', 'community')] })).toEqual({})
  })

  it('names what is missing: subject, name, each assignment part', () => {
    expect(formProblems({ sub: '  ', name: '', rows: [row(null, null)] })).toEqual({
      sub: 'required',
      name: 'required',
      'assignments[0].unit': 'required',
      'assignments[0].role': 'required',
    })
    expect(formProblems({ sub: 'u', name: 'n', rows: [] })).toEqual({ assignments: 'none' })
  })

  it('refuses a role that does not fit the unit picked, and a repeated assignment', () => {
    expect(formProblems({ sub: 'u', name: 'n', rows: [row('community', '440304001', 'subdistrict')] })).toEqual({
      'assignments[0].role': 'unfit',
    })
    const twice = [row('finance', '440304', 'district'), row('admin', '440304', 'district'), row('finance', '440304', 'district')]
    expect(formProblems({ sub: 'u', name: 'n', rows: twice })).toEqual({ 'assignments[2].role': 'duplicate' })
  })

  it('refuses more assignments than the server keeps', () => {
    const rows = Array.from({ length: MAX_ASSIGNMENTS + 1 }, (_, i) => row('admin', `44030400${String(i).padStart(4, '0')}`, 'community'))
    expect(formProblems({ sub: 'u', name: 'n', rows })).toEqual({ assignments: 'too_many' })
  })

  it('leaves the subject’s characters to the server', () => {
    // A space inside is the server's to refuse (and the form shows its answer).
    expect(formProblems({ sub: 'a b', name: 'n', rows: [row('admin', '440304', 'district')] })).toEqual({})
  })
})

describe('sending assignments and placing the server’s answer', () => {
  const rows = [row('admin', '440304'), row('community', '440304001023'), row('community', '440304001020'), row(null, '440304001')]

  it('sends complete rows in the server’s order, remembering where each came from', () => {
    const { assignments, rowOf } = toAssignments(rows)
    expect(assignments).toEqual([
      { role: 'community', unit: '440304001020' },
      { role: 'community', unit: '440304001023' },
      { role: 'admin', unit: '440304' },
    ])
    expect(rowOf).toEqual([2, 1, 0])
  })

  it('puts an error about the k-th assignment sent at its form row', () => {
    const { rowOf } = toAssignments(rows)
    expect(formKeyOf('assignments[0].unit', rowOf)).toBe('assignments[2].unit')
    expect(formKeyOf('assignments[2].role', rowOf)).toBe('assignments[0].role')
    expect(formKeyOf('assignments[7].role', rowOf)).toBe('assignments')
  })

  it('keeps the plain fields and ignores ones the form does not show', () => {
    expect(formKeyOf('sub', [])).toBe('sub')
    expect(formKeyOf('name', [])).toBe('name')
    expect(formKeyOf('assignments', [])).toBe('assignments')
    expect(formKeyOf('version', [])).toBeNull()
    expect(formKeyOf('assignments[x].unit', [])).toBeNull()
    expect(formKeyOf(undefined, [])).toBeNull()
  })
})
