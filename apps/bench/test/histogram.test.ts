import { describe, expect, it } from 'vitest'
import { Histogram } from '../src/histogram.ts'

describe('Histogram', () => {
  it('should report exact percentiles for small values', () => {
    const h = new Histogram()
    for (let v = 1; v <= 100; v++) h.record(v)
    expect(h.summary()).toMatchObject({ count: 100, min: 1, max: 100, p50: 50, p90: 90, p99: 99, p999: 100 })
    expect(h.summary().mean).toBeCloseTo(50.5)
  })

  it('should keep large values within 0.2% in the tail', () => {
    const h = new Histogram()
    const values = [1234, 98_765, 1_234_567, 45_678_901, 3_000_000_000]
    for (const v of values) {
      const single = new Histogram()
      single.record(v)
      single.record(0)
      const reported = single.percentile(100)
      expect(Math.abs(reported - v) / v).toBeLessThanOrEqual(0.002)
      h.record(v)
    }
    expect(h.summary().max).toBe(3_000_000_000)
  })

  it('should find p99 and p99.9 of a long-tailed distribution', () => {
    const h = new Histogram()
    for (let i = 0; i < 9_990; i++) h.record(100)
    for (let i = 0; i < 9; i++) h.record(50_000)
    h.record(2_000_000)
    expect(h.percentile(99)).toBe(100)
    expect(Math.abs(h.percentile(99.9) - 50_000) / 50_000).toBeLessThan(0.002)
    expect(h.percentile(100)).toBe(2_000_000)
  })

  it('should merge two histograms as if all values went into one', () => {
    const a = new Histogram()
    const b = new Histogram()
    const all = new Histogram()
    for (let i = 0; i < 1000; i++) {
      const v = (i * 7919) % 100_000
      ;(i % 2 ? a : b).record(v)
      all.record(v)
    }
    a.merge(b)
    expect(a.summary()).toEqual(all.summary())
  })

  it('should report zeros when empty', () => {
    expect(new Histogram().summary()).toEqual({ count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 })
  })
})
