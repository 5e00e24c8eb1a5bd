/**
 * dates.js — times from the API (ISO 8601 UTC) shown in the reader's locale and time zone, and the
 * reader's calendar days turned into the moments the API filters on.
 */

const formats = {
  dateTime: new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }),
  date: new Intl.DateTimeFormat(undefined, { dateStyle: "medium" }),
  day: new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" }),
  month: new Intl.DateTimeFormat(undefined, { month: "short", year: "numeric" }),
  monthShort: new Intl.DateTimeFormat(undefined, { month: "short" }),
};

function valid(date) {
  return !Number.isNaN(date.getTime());
}

/** "2024-05-31T12:00:00Z" → "May 31, 2024, 2:00 PM" (in the reader's zone); "" for nothing. */
export function formatDateTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return valid(date) ? formats.dateTime.format(date) : "";
}

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return valid(date) ? formats.date.format(date) : "";
}

/** A calendar day "2024-05-31" (no time, no zone) → "May 31". */
export function formatDay(day) {
  const [year, month, date] = day.split("-").map(Number);
  return formats.day.format(new Date(year, month - 1, date));
}

/** A calendar month "2024-05" → "May 2024". */
export function formatMonth(month) {
  const [year, number] = month.split("-").map(Number);
  return formats.month.format(new Date(year, number - 1, 1));
}

/** A calendar month "2024-05" → "May" (chart axes). */
export function formatMonthShort(month) {
  const [year, number] = month.split("-").map(Number);
  return formats.monthShort.format(new Date(year, number - 1, 1));
}

/** The reader's IANA time zone ("Europe/Berlin"), for day and month buckets. */
export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/**
 * The reader's calendar days (from <input type="date">: "2024-05-01") as the API's half-open range:
 * `from` is the first moment of the first day, `to` the first moment after the last day, in UTC.
 */
export function dayRange(fromDay, toDay) {
  const moment = (day, addDays) => {
    const [year, month, date] = day.split("-").map(Number);
    return new Date(year, month - 1, date + addDays).toISOString();
  };
  return { from: fromDay ? moment(fromDay, 0) : "", to: toDay ? moment(toDay, 1) : "" };
}
