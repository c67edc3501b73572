/** Money and dates for people: integer cents shown as currency, times in the user's locale. */

const moneyFormats = new Map<string, Intl.NumberFormat>();

function moneyFormat(currency: string, locale?: string): Intl.NumberFormat {
  const key = `${locale ?? ""}|${currency}`;
  let format = moneyFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, { style: "currency", currency });
    moneyFormats.set(key, format);
  }
  return format;
}

/** Minor units of the currency (cents for USD), from the currency's own digits. */
function minorUnitDigits(currency: string): number {
  return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/**
 * Integer minor units (cents) as money: formatMoney(123456) is "$1,234.56" in en-US.
 * The division is exact for any safe integer because the formatter rounds to the
 * currency's digits, and the sign is kept for credits (-500 is "-$5.00").
 */
export function formatMoney(amount: number, currency = "USD", locale?: string): string {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`amount must be an integer of minor units: ${amount}`);
  const digits = minorUnitDigits(currency);
  return moneyFormat(currency, locale).format(amount / 10 ** digits);
}

/**
 * Dollars typed by a person ("1,234.5", "$20", "0.07") as integer cents, or null
 * when it is not an amount. Works on the string, never through a float.
 */
export function parseDollars(text: string): number | null {
  const cleaned = text.trim().replace(/^\$/, "").replace(/,/g, "");
  const match = /^(\d+)(?:\.(\d{0,2}))?$/.exec(cleaned);
  if (!match) return null;
  const whole = Number(match[1]);
  const cents = Number((match[2] ?? "").padEnd(2, "0"));
  const value = whole * 100 + cents;
  return Number.isSafeInteger(value) ? value : null;
}

/** Cents as the plain number a form field shows ("1234.50"), no symbol, no grouping. */
export function centsToInput(amount: number | null | undefined): string {
  if (amount === null || amount === undefined) return "";
  const sign = amount < 0 ? "-" : "";
  const abs = Math.abs(amount);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/** An RFC 3339 timestamp as a date and time in the user's locale and time zone. */
export function formatDateTime(value: string | null | undefined, locale?: string, timeZone?: string): string {
  if (!value) return "";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(
    new Date(value),
  );
}

/**
 * A calendar date ("2026-11-25", as due dates are) in the user's locale. Read as a
 * calendar day, not a UTC midnight, so it never shows as the day before west of UTC.
 */
export function formatDate(value: string | null | undefined, locale?: string): string {
  if (!value) return "";
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (day) {
    const date = new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])));
    return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" }).format(date);
  }
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(new Date(value));
}

/** Basis points as a percentage: 2499 is "24.99%". */
export function formatRate(bps: number, locale?: string): string {
  return new Intl.NumberFormat(locale, { style: "percent", minimumFractionDigits: 2 }).format(bps / 10_000);
}
