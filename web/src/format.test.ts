import { describe, expect, it } from "vitest";
import { centsToInput, formatDate, formatDateTime, formatMoney, formatRate, parseDollars } from "./format";

describe("formatMoney", () => {
  it("shows integer cents as dollars", () => {
    expect(formatMoney(123456, "USD", "en-US")).toBe("$1,234.56");
    expect(formatMoney(0, "USD", "en-US")).toBe("$0.00");
    expect(formatMoney(5, "USD", "en-US")).toBe("$0.05");
    expect(formatMoney(-500, "USD", "en-US")).toBe("-$5.00");
  });

  it("is exact for large amounts", () => {
    expect(formatMoney(9_007_199_254_740_99, "USD", "en-US")).toBe("$9,007,199,254,740.99");
  });

  it("follows the locale and the currency's own minor units", () => {
    expect(formatMoney(123456, "EUR", "de-DE")).toBe("1.234,56\u00a0€");
    expect(formatMoney(1234, "JPY", "en-US")).toBe("¥1,234");
  });

  it("refuses fractions of a cent", () => {
    expect(() => formatMoney(10.5)).toThrow(RangeError);
  });
});

describe("parseDollars", () => {
  it.each([
    ["20", 2000],
    ["$1,234.5", 123450],
    ["0.07", 7],
    [" 95,000 ", 9_500_000],
    ["19.99", 1999],
    ["1.", 100],
  ])("reads %j as %d cents", (text, cents) => {
    expect(parseDollars(text)).toBe(cents);
  });

  it.each(["", "abc", "1.234", "-5", "1e3", "$", "12.3.4"])("refuses %j", (text) => {
    expect(parseDollars(text)).toBeNull();
  });

  it("round-trips with centsToInput", () => {
    for (const cents of [0, 1, 99, 100, 123456, 50_000_00]) {
      expect(parseDollars(centsToInput(cents))).toBe(cents);
    }
    expect(centsToInput(null)).toBe("");
  });
});

describe("dates", () => {
  it("shows a due date as that calendar day in any time zone", () => {
    expect(formatDate("2026-03-01", "en-US")).toBe("Mar 1, 2026");
    expect(formatDate("2026-03-01", "de-DE")).toBe("01.03.2026");
  });

  it("shows a timestamp in the given time zone", () => {
    const at = "2026-01-15T23:30:00Z";
    expect(formatDateTime(at, "en-US", "UTC")).toBe("Jan 15, 2026, 11:30 PM");
    expect(formatDateTime(at, "en-US", "Asia/Tokyo")).toBe("Jan 16, 2026, 8:30 AM");
    expect(formatDateTime(null)).toBe("");
  });

  it("shows basis points as a percentage", () => {
    expect(formatRate(2499, "en-US")).toBe("24.99%");
  });
});
