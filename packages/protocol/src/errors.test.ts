import { Value } from '@sinclair/typebox/value'
import { describe, expect, it } from 'vitest'
import { ERRORS, type ErrorKind, MSC4108_ERRCODE_FIELD, MSC4388_UNSTABLE_ERRCODES, errorBody } from './errors.ts'
import { CreateResponse, ErrorBody, isRendezvousId } from './schemas.ts'

describe('errorBody', () => {
  it('should give every kind a body that matches the ErrorBody schema', () => {
    for (const kind of Object.keys(ERRORS) as ErrorKind[]) {
      expect(Value.Check(ErrorBody, errorBody(kind)), kind).toBe(true)
    }
  })

  it('should map the contract statuses to Matrix codes', () => {
    expect(ERRORS.not_found).toMatchObject({ status: 404, errcode: 'M_NOT_FOUND' })
    expect(ERRORS.too_large).toMatchObject({ status: 413, errcode: 'M_TOO_LARGE' })
    expect(ERRORS.rate_limited).toMatchObject({ status: 429, errcode: 'M_LIMIT_EXCEEDED' })
    expect(ERRORS.precondition_failed).toMatchObject({ status: 412, errcode: 'M_CONCURRENT_WRITE' })
    expect(ERRORS.invalid_param).toMatchObject({ status: 400, errcode: 'M_INVALID_PARAM' })
    expect(ERRORS.method_not_allowed).toMatchObject({ status: 405, errcode: 'M_UNRECOGNIZED' })
    expect(ERRORS.unknown_route).toMatchObject({ status: 404, errcode: 'M_UNRECOGNIZED' })
  })

  it('should add the MSC4108 code on a failed precondition only', () => {
    expect(errorBody('precondition_failed')[MSC4108_ERRCODE_FIELD]).toBe('M_CONCURRENT_WRITE')
    expect(errorBody('not_found')[MSC4108_ERRCODE_FIELD]).toBeUndefined()
    expect(errorBody('sequence_conflict')[MSC4108_ERRCODE_FIELD]).toBeUndefined()
  })

  it("should send MSC4388's unstable code for a stale sequence token when asked, and only that one", () => {
    const unstable = { errcodes: MSC4388_UNSTABLE_ERRCODES }
    expect(errorBody('sequence_conflict', unstable).errcode).toBe('IO_ELEMENT_MSC4388_CONCURRENT_WRITE')
    expect(errorBody('sequence_conflict').errcode).toBe('M_CONCURRENT_WRITE')
    expect(errorBody('not_found', unstable).errcode).toBe('M_NOT_FOUND')
    expect(Value.Check(ErrorBody, errorBody('sequence_conflict', unstable))).toBe(true)
  })

  it('should carry retry_after_ms when given and a custom message', () => {
    expect(errorBody('rate_limited', { detail: 'slow down', retryAfterMs: 1500 })).toEqual({
      errcode: 'M_LIMIT_EXCEEDED',
      error: 'slow down',
      retry_after_ms: 1500,
    })
  })
})

describe('schemas', () => {
  it('should accept a well-formed create response and refuse extra fields', () => {
    const good = { id: 'a'.repeat(22), max_bytes: 10240, url: 'https://rz.example/aaaaaaaaaaaaaaaaaaaaaa' }
    expect(Value.Check(CreateResponse, good)).toBe(true)
    expect(Value.Check(CreateResponse, { ...good, extra: 1 })).toBe(false)
    expect(Value.Check(CreateResponse, { ...good, id: 'short' })).toBe(false)
  })

  it('should recognise only 22-character base64url ids', () => {
    expect(isRendezvousId('AbCdEfGhIjKlMnOpQr-_12')).toBe(true)
    expect(isRendezvousId('AbCdEfGhIjKlMnOpQr-_1')).toBe(false)
    expect(isRendezvousId('AbCdEfGhIjKlMnOpQr-_123')).toBe(false)
    expect(isRendezvousId('AbCdEfGhIjKlMnOpQr+/12')).toBe(false)
    expect(isRendezvousId('../../../../etc/passwd')).toBe(false)
  })
})
