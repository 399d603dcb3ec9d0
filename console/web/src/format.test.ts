// Unit tests of the pure helpers the pages share. Run: npm test
import { describe, expect, test } from 'vitest';
import {
  compactJSON,
  diffVersions,
  expiry,
  fmtNumber,
  fmtUTC,
  fmtValue,
  keyStatus,
  parseJSONObject,
  plural,
  shortKid,
  slugify,
  type VersionSnapshot,
} from './format';

describe('slugify', () => {
  test('lower-case words joined by single hyphens, accents dropped', () => {
    expect(slugify('  Enterprise — Plan (EU)  ')).toBe('enterprise-plan-eu');
    expect(slugify('Café Crème')).toBe('cafe-creme');
    expect(slugify('API calls / month')).toBe('api-calls-month');
  });
  test('at most 64 characters, no edge hyphens', () => {
    expect(slugify('x'.repeat(100))).toHaveLength(64);
    expect(slugify('---')).toBe('');
  });
});

describe('parseJSONObject', () => {
  test('an object, or empty text as {}', () => {
    expect(parseJSONObject('{"region": "eu"}')).toEqual({ ok: true, value: { region: 'eu' } });
    expect(parseJSONObject('   ')).toEqual({ ok: true, value: {} });
  });
  test('arrays and scalars are refused with an example', () => {
    for (const text of ['[1]', '3', 'null', '"x"']) {
      const r = parseJSONObject(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(/Must be a JSON object/);
    }
  });
  test('syntax errors say where', () => {
    const r = parseJSONObject('{\n  "a": 1,\n  oops\n}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^Invalid JSON: .*line 3, column \d+/);
  });
});

describe('expiry', () => {
  const now = Date.parse('2026-12-08T12:00:00Z');
  test('no date never expires', () => {
    expect(expiry(null, now)).toEqual({ kind: 'none', label: 'Never' });
  });
  test('past, within 30 days, within a day, later', () => {
    expect(expiry('2026-12-01T00:00:00Z', now).kind).toBe('expired');
    expect(expiry('2026-12-20T12:00:00Z', now)).toMatchObject({ kind: 'soon', label: 'Expires in 12 days' });
    expect(expiry('2026-12-08T18:00:00Z', now)).toMatchObject({ kind: 'soon', label: 'Expires within a day' });
    expect(expiry('2027-06-01T00:00:00Z', now).kind).toBe('ok');
  });
});

describe('numbers, plurals, values', () => {
  test('fmtNumber groups thousands, keeps two decimals, dashes for nothing', () => {
    expect(fmtNumber(1234567.891)).toBe('1,234,567.89');
    expect(fmtNumber(null)).toBe('—');
    expect(fmtNumber(0)).toBe('0');
  });
  test('plural', () => {
    expect(plural(1, 'license')).toBe('1 license');
    expect(plural(0, 'license')).toBe('0 licenses');
    expect(plural(2, 'entry', 'entries')).toBe('2 entries');
    expect(plural(1500, 'instance')).toBe('1,500 instances');
  });
  test('fmtValue of each link type', () => {
    expect(fmtValue({ type: 'number', value: -1 })).toBe('Unlimited');
    expect(fmtValue({ type: 'number', value: 1000 }, 10)).toBe('1,000 (+10% overage)');
    expect(fmtValue({ type: 'boolean', value: true })).toBe('Enabled');
    expect(fmtValue({ type: 'object', value: { theme: 'dark' } })).toBe('{"theme": "dark"}');
  });
  test('compactJSON cuts long values', () => {
    expect(compactJSON({ a: 'x'.repeat(100) }, 20)).toHaveLength(20);
  });
});

describe('dates in UTC', () => {
  test('fmtUTC says UTC and uses the 24-hour clock', () => {
    expect(fmtUTC('2026-12-08T14:05:00Z')).toBe('Dec 8, 2026, 14:05 UTC');
    expect(fmtUTC('2026-01-01T00:00:00+02:00')).toBe('Dec 31, 2025, 22:00 UTC');
    expect(fmtUTC(null)).toBe('—');
  });
});

describe('keys', () => {
  const now = Date.parse('2026-12-08T12:00:00Z');
  test('keyStatus: revoked wins, then expiry', () => {
    expect(keyStatus({ revokedAt: '2026-12-01T00:00:00Z', expiresAt: '2026-12-02T00:00:00Z' }, now).label).toBe('Revoked');
    expect(keyStatus({ revokedAt: null, expiresAt: '2026-12-02T00:00:00Z' }, now).label).toBe('Expired');
    expect(keyStatus({ revokedAt: null, expiresAt: null }, now).label).toBe('Active');
  });
  test('shortKid keeps 12 characters', () => {
    expect(shortKid('E1m9Kt3cf-c3_iSpEUeOPpBSilGT12')).toBe('E1m9Kt3cf-c3…');
    expect(shortKid('short')).toBe('short');
  });
});

describe('diffVersions', () => {
  const term = (id: string, value: unknown) => ({ entitlementID: id, entitlementSlug: id, entitlementType: 'NUMBER', value });
  const v1: VersionSnapshot = { version: 1, type: 'PAID', isActive: true, terms: [term('seats', { type: 'number', value: 10 })] };
  test('the first version adds every term', () => {
    expect(diffVersions(undefined, v1)).toEqual([{ kind: 'add', text: 'seats: 10' }]);
  });
  test('changes, additions, removals, type and activation', () => {
    const v2: VersionSnapshot = {
      version: 2,
      type: 'TRIAL',
      isActive: false,
      terms: [term('seats', { type: 'number', value: 20 }), term('sso', { type: 'boolean', value: true })],
    };
    expect(diffVersions(v1, v2)).toEqual([
      { kind: 'change', text: 'type: Paid → Trial' },
      { kind: 'change', text: 'deactivated' },
      { kind: 'change', text: 'seats: 10 → 20' },
      { kind: 'add', text: 'sso: Enabled' },
    ]);
    expect(diffVersions(v2, { ...v2, version: 3, terms: [] })).toEqual([
      { kind: 'remove', text: 'seats: 20' },
      { kind: 'remove', text: 'sso: Enabled' },
    ]);
  });
});
