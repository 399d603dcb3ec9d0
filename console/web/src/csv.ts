// CSV (RFC 4180): fields with commas, quotes or line breaks are quoted.

export function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A header row and one row per record, CRLF-separated, ending with CRLF. */
export function toCSV<T>(columns: readonly (keyof T & string)[], rows: readonly T[]): string {
  const lines = [columns.join(','), ...rows.map((r) => columns.map((c) => csvField(r[c])).join(','))];
  return lines.join('\r\n') + '\r\n';
}
