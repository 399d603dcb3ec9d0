// Formatting shared by the pages: dates, numbers, link values, expiry.

const numberFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const dateFmt = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric' });
const dateTimeFmt = new Intl.DateTimeFormat('en-US', {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});

export function fmtNumber(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  return numberFmt.format(n);
}

export function fmtDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  return dateFmt.format(new Date(iso));
}

export function fmtDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return dateTimeFmt.format(new Date(iso));
}

export function humanize(enumValue: string | null | undefined): string {
  if (!enumValue) return '—';
  const s = enumValue.toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A slug from a name: lower-case words joined by single hyphens. */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
}

export type ExpiryState = { kind: 'none' | 'ok' | 'soon' | 'expired'; label: string; days?: number };

const DAY = 24 * 60 * 60 * 1000;

/** Whether an instance has expired or expires within 30 days. */
export function expiry(expiresAt: string | null | undefined, now = Date.now()): ExpiryState {
  if (!expiresAt) return { kind: 'none', label: 'Never' };
  const t = new Date(expiresAt).getTime();
  const days = Math.ceil((t - now) / DAY);
  if (t <= now) return { kind: 'expired', label: `Expired ${fmtDate(expiresAt)}`, days };
  if (days <= 30) return { kind: 'soon', label: days <= 1 ? 'Expires within a day' : `Expires in ${days} days`, days };
  return { kind: 'ok', label: fmtDate(expiresAt), days };
}

/** The {type, value} structure of a link value. */
export interface LinkValue {
  type?: string;
  value?: unknown;
}

export function asLinkValue(v: unknown): LinkValue {
  return v && typeof v === 'object' ? (v as LinkValue) : {};
}

/** A short human text for a link value. */
export function fmtValue(v: unknown, overagePercent?: number | null): string {
  const lv = asLinkValue(v);
  switch (lv.type) {
    case 'number': {
      const n = Number(lv.value);
      if (n === -1) return 'Unlimited';
      return overagePercent ? `${fmtNumber(n)} (+${fmtNumber(overagePercent)}% overage)` : fmtNumber(n);
    }
    case 'boolean':
      return lv.value ? 'Enabled' : 'Disabled';
    case 'object':
      return compactJSON(lv.value);
    default:
      return compactJSON(v);
  }
}

/** One-line JSON with spaces after colons and commas, so it wraps between values. */
export function compactJSON(v: unknown, max = 80): string {
  const s = oneLineJSON(v);
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

export function oneLineJSON(v: unknown): string {
  return JSON.stringify(v ?? null, null, 1)
    .replace(/\n\s*/g, ' ')
    .replace(/([[{]) /g, '$1')
    .replace(/ ([\]}])/g, '$1');
}

/** Parses JSON that must be an object; returns the error's text otherwise. */
export function parseJSONObject(text: string): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  if (text.trim() === '') return { ok: true, value: {} };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `Invalid JSON: ${describeJSONError(text, err as Error)}` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return { ok: false, error: 'Must be a JSON object, like {"theme": "dark"}.' };
  }
  return { ok: true, value: v as Record<string, unknown> };
}

function describeJSONError(text: string, err: Error): string {
  const msg = err.message.replace(/^JSON\.parse: /, '');
  const m = /position (\d+)/.exec(msg);
  if (!m) return msg;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `${msg.replace(/\s*in JSON at position \d+.*$/, '').replace(/ \(line \d+ column \d+\)$/, '')} at line ${line}, column ${col}`;
}

export interface Term {
  entitlementID: string;
  entitlementSlug: string;
  entitlementType: string;
  value: unknown;
  overagePercent?: number | null;
}

export interface VersionSnapshot {
  version: number;
  type: string;
  isActive: boolean;
  terms: Term[];
}

/** What changed from one snapshot to the next, one line each. */
export function diffVersions(
  prev: VersionSnapshot | undefined,
  next: VersionSnapshot,
): { kind: 'add' | 'remove' | 'change'; text: string }[] {
  if (!prev) {
    return next.terms.map((t) => ({ kind: 'add' as const, text: `${t.entitlementSlug}: ${fmtValue(t.value, t.overagePercent)}` }));
  }
  const out: { kind: 'add' | 'remove' | 'change'; text: string }[] = [];
  if (prev.type !== next.type) out.push({ kind: 'change', text: `type: ${humanize(prev.type)} → ${humanize(next.type)}` });
  if (prev.isActive !== next.isActive) out.push({ kind: 'change', text: next.isActive ? 'activated' : 'deactivated' });
  const before = new Map(prev.terms.map((t) => [t.entitlementID, t]));
  const after = new Map(next.terms.map((t) => [t.entitlementID, t]));
  for (const t of next.terms) {
    const old = before.get(t.entitlementID);
    const nv = fmtValue(t.value, t.overagePercent);
    if (!old) out.push({ kind: 'add', text: `${t.entitlementSlug}: ${nv}` });
    else {
      const ov = fmtValue(old.value, old.overagePercent);
      if (ov !== nv || JSON.stringify(old.value) !== JSON.stringify(t.value)) {
        out.push({ kind: 'change', text: `${t.entitlementSlug}: ${ov} → ${nv}` });
      }
    }
  }
  for (const t of prev.terms) {
    if (!after.has(t.entitlementID)) out.push({ kind: 'remove', text: `${t.entitlementSlug}: ${fmtValue(t.value, t.overagePercent)}` });
  }
  return out;
}

/** Local "YYYY-MM-DDTHH:MM" for <input type="datetime-local">. */
export function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(v: string): string | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Where a key stands: active, revoked, or past its expiry. */
export function keyStatus(
  k: { revokedAt?: string | null; expiresAt?: string | null },
  now = Date.now(),
): { label: string; tone: 'green' | 'red' | 'neutral' } {
  if (k.revokedAt) return { label: 'Revoked', tone: 'red' };
  if (k.expiresAt && new Date(k.expiresAt).getTime() <= now) return { label: 'Expired', tone: 'neutral' };
  return { label: 'Active', tone: 'green' };
}

/** The first characters of a key id, enough to tell keys apart. */
export function shortKid(kid: string): string {
  return kid.length > 12 ? `${kid.slice(0, 12)}…` : kid;
}

/** "1 license", "2 licenses"; irregular plurals are passed in. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${fmtNumber(n)} ${n === 1 ? one : many}`;
}

const utcFmt = new Intl.DateTimeFormat('en-US', {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
  timeZone: 'UTC',
});

/** A date and time in UTC, like "Dec 8, 2026, 14:05 UTC" (usage periods are UTC). */
export function fmtUTC(iso: string | null | undefined): string {
  if (!iso) return '—';
  return `${utcFmt.format(new Date(iso))} UTC`;
}

const utcDateFmt = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });

/** A date in UTC, like "Dec 8, 2026". */
export function fmtDateUTC(iso: string | null | undefined): string {
  if (!iso) return '—';
  return utcDateFmt.format(new Date(iso));
}
