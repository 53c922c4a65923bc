/**
 * @module A log-linear latency histogram in the manner of HdrHistogram: constant memory, and every
 * recorded value is kept to within 0.2% however far out in the tail it lies, so p99.9 and max are
 * as trustworthy as the median.
 */

/** Sub-buckets per power of two: values below 2^10 are exact, above it within 2^-9 (0.2%). */
const SUB_BITS = 10
const SUB_COUNT = 1 << SUB_BITS
const HALF = SUB_COUNT >> 1
/** Largest exponent kept: 2^44 µs is over six months. */
const MAX_EXPONENT = 44
const SIZE = SUB_COUNT + (MAX_EXPONENT - SUB_BITS + 1) * HALF

export interface HistogramSummary {
  readonly count: number
  readonly min: number
  readonly mean: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

/** Records non-negative values (we use microseconds). */
export class Histogram {
  readonly #counts = new Float64Array(SIZE)
  #count = 0
  #sum = 0
  #min = Number.POSITIVE_INFINITY
  #max = 0

  record(value: number): void {
    this.recordMany(value, 1)
  }

  /** Records `value` `count` times (merging another process's buckets). */
  recordMany(value: number, count: number): void {
    const v = Math.max(0, Math.round(value))
    this.#counts[bucketOf(v)]! += count
    this.#count += count
    this.#sum += v * count
    if (v < this.#min) this.#min = v
    if (v > this.#max) this.#max = v
  }

  get count(): number {
    return this.#count
  }

  /**
   * The smallest recorded value `v` such that at least `p` percent of values are `<= v`, reported
   * as the top of its bucket (never above the largest value recorded).
   */
  percentile(p: number): number {
    if (this.#count === 0) return 0
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count))
    let seen = 0
    for (let i = 0; i < SIZE; i++) {
      seen += this.#counts[i]!
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, upperBoundOf(i)))
    }
    return this.#max
  }

  summary(): HistogramSummary {
    return {
      count: this.#count,
      min: this.#count === 0 ? 0 : this.#min,
      mean: this.#count === 0 ? 0 : this.#sum / this.#count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.#max,
    }
  }

  /** Adds every value of `other` to this histogram. */
  merge(other: Histogram): void {
    const counts = other.#counts
    for (let i = 0; i < SIZE; i++) this.#counts[i]! += counts[i]!
    this.#count += other.#count
    this.#sum += other.#sum
    this.#min = Math.min(this.#min, other.#min)
    this.#max = Math.max(this.#max, other.#max)
  }

  /** Non-empty buckets as `[upper bound, count]`, for plotting. */
  buckets(): [number, number][] {
    const out: [number, number][] = []
    for (let i = 0; i < SIZE; i++) if (this.#counts[i]! > 0) out.push([upperBoundOf(i), this.#counts[i]!])
    return out
  }
}

function bucketOf(v: number): number {
  if (v < SUB_COUNT) return v
  const exponent = Math.min(MAX_EXPONENT, Math.floor(Math.log2(v)))
  const shift = exponent - SUB_BITS + 1
  const sub = Math.min(SUB_COUNT - 1, Math.floor(v / 2 ** shift))
  return SUB_COUNT + (shift - 1) * HALF + (sub - HALF)
}

function upperBoundOf(index: number): number {
  if (index < SUB_COUNT) return index
  const shift = Math.floor((index - SUB_COUNT) / HALF) + 1
  const sub = ((index - SUB_COUNT) % HALF) + HALF
  return (sub + 1) * 2 ** shift - 1
}
