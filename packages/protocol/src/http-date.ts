/**
 * @module HTTP-date (RFC 9110 section 5.6.7): we send IMF-fixdate and read it back strictly.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/

/** Formats epoch milliseconds as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
export function formatHttpDate(epochMs: number): string {
  return new Date(epochMs).toUTCString()
}

/**
 * Parses an IMF-fixdate into epoch milliseconds, or `null` when the text is not one (including
 * impossible dates such as 31 Feb). Obsolete RFC 850 and asctime forms are not accepted: we never
 * send them and only read our own dates back.
 */
export function parseHttpDate(text: string): number | null {
  const m = IMF_FIXDATE.exec(text)
  if (!m) return null
  const [, , day, month, year, hour, minute, second] = m as unknown as string[]
  const monthIndex = MONTHS.indexOf(month!)
  const ms = Date.UTC(Number(year), monthIndex, Number(day), Number(hour), Number(minute), Number(second))
  const back = new Date(ms)
  const valid =
    back.getUTCDate() === Number(day) &&
    back.getUTCMonth() === monthIndex &&
    back.getUTCHours() === Number(hour) &&
    back.getUTCMinutes() === Number(minute) &&
    back.getUTCSeconds() === Number(second)
  return valid ? ms : null
}
