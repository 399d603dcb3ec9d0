// The event log's vocabulary and the pure helpers its views share: the
// actions and resource types of the contract, who made a change, which
// fields a change touched, and where in the console a resource lives.
import { asLinkValue, compactJSON, fmtValue } from './format';
import type { AuditEventActorType, AuditEventFieldsFragment } from './gql/generated';

export type AuditEvent = AuditEventFieldsFragment;

/** Every action of the event log, `<resource>.<verb>`, grouped by resource. */
export const AUDIT_ACTIONS: { resource: string; actions: string[] }[] = [
  { resource: 'license', actions: ['license.created', 'license.updated', 'license.deleted'] },
  { resource: 'license_entitlement', actions: ['license_entitlement.set', 'license_entitlement.removed'] },
  { resource: 'entitlement', actions: ['entitlement.created', 'entitlement.updated', 'entitlement.deleted'] },
  { resource: 'instance', actions: ['instance.created', 'instance.updated', 'instance.deleted', 'instance.expiring'] },
  { resource: 'policy', actions: ['policy.created', 'policy.updated', 'policy.deleted'] },
  { resource: 'api_key', actions: ['api_key.created', 'api_key.revoked'] },
  { resource: 'usage', actions: ['usage.reset', 'usage.threshold_crossed'] },
  {
    resource: 'webhook_endpoint',
    actions: ['webhook_endpoint.created', 'webhook_endpoint.updated', 'webhook_endpoint.deleted', 'webhook_endpoint.secret_rotated'],
  },
  { resource: 'signing_key', actions: ['signing_key.created', 'signing_key.rotated'] },
  { resource: 'license_file', actions: ['license_file.issued'] },
];

/** The resource types: the upper-case resource of the actions. */
export const RESOURCE_TYPES: string[] = AUDIT_ACTIONS.map((g) => g.resource.toUpperCase());

/** "LICENSE_ENTITLEMENT" → "License entitlement". */
export function resourceTypeLabel(t: string): string {
  const s = t.toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export const ACTOR_TYPES: AuditEventActorType[] = ['API_KEY', 'OPERATOR', 'SYSTEM'];

/** Who made a change, for people. */
export function actorLabel(e: Pick<AuditEvent, 'actorType' | 'actorID' | 'actorName'>): string {
  switch (e.actorType) {
    case 'API_KEY':
      return e.actorName ? `API key ${e.actorName}` : e.actorID ? `API key ${e.actorID}` : 'An API key';
    case 'OPERATOR':
      return 'Operator';
    case 'SYSTEM':
      return 'System';
    default:
      return e.actorName ?? e.actorID ?? String(e.actorType);
  }
}

export type FieldChangeKind = 'add' | 'remove' | 'change' | 'same';

export interface FieldChange {
  field: string;
  kind: FieldChangeKind;
  before?: unknown;
  after?: unknown;
}

function equal(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

/** JSON with object keys sorted, so that equal values compare equal. */
function canonical(v: unknown): string {
  if (v === undefined) return 'undefined';
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x as object)
            .sort()
            .map((k) => [k, (x as Record<string, unknown>)[k]]),
        )
      : x,
  );
}

/**
 * The fields of a change, before and after: every field of either side,
 * sorted by name with id first, each marked added (only after: a
 * creation), removed (only before: a deletion), changed or the same.
 */
export function diffFields(
  before: Record<string, unknown> | null | undefined,
  after: Record<string, unknown> | null | undefined,
): FieldChange[] {
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  const out: FieldChange[] = [];
  for (const field of keys) {
    const inBefore = before != null && Object.prototype.hasOwnProperty.call(before, field);
    const inAfter = after != null && Object.prototype.hasOwnProperty.call(after, field);
    const b = inBefore ? before![field] : undefined;
    const a = inAfter ? after![field] : undefined;
    let kind: FieldChangeKind;
    if (!before) kind = 'add';
    else if (!after) kind = 'remove';
    else kind = inBefore && inAfter && equal(b, a) ? 'same' : 'change';
    out.push({ field, kind, ...(inBefore ? { before: b } : {}), ...(inAfter ? { after: a } : {}) });
  }
  return out.sort((x, y) => (x.field === 'id' ? -1 : y.field === 'id' ? 1 : x.field.localeCompare(y.field)));
}

/** A field's value in one line: link values as the console shows them, JSON otherwise. */
export function fmtFieldValue(v: unknown): string {
  if (v === undefined) return '(none)';
  if (v === null) return 'null';
  if (typeof v === 'string') return v === '' ? '""' : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const lv = asLinkValue(v);
  if (lv.type && 'value' in (v as object) && ['number', 'boolean', 'object'].includes(lv.type)) return fmtValue(v);
  return compactJSON(v, 200);
}

/** One line per change: "field: before → after", "field: value" for an addition or removal. */
export function fmtFieldChange(c: FieldChange): string {
  if (c.kind === 'change') return `${c.field}: ${fmtFieldValue(c.before)} → ${fmtFieldValue(c.after)}`;
  if (c.kind === 'remove') return `${c.field}: ${fmtFieldValue(c.before)}`;
  return `${c.field}: ${fmtFieldValue(c.after)}`;
}

/** A string field of the resource, after the change or else before it. */
export function fieldOf(e: Pick<AuditEvent, 'before' | 'after'>, field: string): string | null {
  const v = e.after?.[field] ?? e.before?.[field];
  return typeof v === 'string' && v ? v : null;
}

/** What the console knows of resources that still exist, by id. */
export interface ResourceIndex {
  licenses: Map<string, { name: string; slug: string }>;
  instances: Map<string, { name: string; slug: string }>;
  entitlements: Map<string, { name: string; slug: string }>;
}

/** The ids of licenses, instances and entitlements that events name (to look up their pages). */
export function referencedIDs(events: AuditEvent[]): { licenseIDs: string[]; instanceIDs: string[]; entitlementIDs: string[] } {
  const lic = new Set<string>();
  const inst = new Set<string>();
  const ent = new Set<string>();
  for (const e of events) {
    if (e.resourceType === 'LICENSE') lic.add(e.resourceID);
    if (e.resourceType === 'INSTANCE') inst.add(e.resourceID);
    if (e.resourceType === 'ENTITLEMENT') ent.add(e.resourceID);
    const l = fieldOf(e, 'licenseID');
    const i = fieldOf(e, 'instanceID');
    const n = fieldOf(e, 'entitlementID');
    if (l) lic.add(l);
    if (i) inst.add(i);
    if (n) ent.add(n);
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return { licenseIDs: sorted(lic), instanceIDs: sorted(inst), entitlementIDs: sorted(ent) };
}

export interface ResourceRef {
  /** What the entry changed, for people. */
  label: string;
  /** Its page in the console, when it has one and still exists. */
  to: string | null;
  /** True when the resource no longer exists. */
  gone: boolean;
}

const path = (base: string, key: string) => `${base}/${encodeURIComponent(key)}`;

/**
 * The resource an event changed and where the console shows it. Links go
 * by the resource's current slug (looked up by id), so an entry never
 * links to a page that now shows something else.
 */
export function resourceRef(e: AuditEvent, idx: ResourceIndex | null): ResourceRef {
  const slug = e.resourceSlug ?? fieldOf(e, 'slug');
  const name = fieldOf(e, 'name');
  const known = (m: Map<string, { name: string; slug: string }> | undefined, id: string | null, base: string): ResourceRef | null => {
    if (!id || !idx || !m) return null;
    const r = m.get(id);
    return r ? { label: r.name, to: path(base, r.slug), gone: false } : null;
  };
  const fallback = (what: string): ResourceRef => ({
    label: name ?? slug ?? `${what} ${e.resourceID}`,
    to: null,
    gone: Boolean(idx),
  });
  switch (e.resourceType) {
    case 'LICENSE':
      return known(idx?.licenses, e.resourceID, '/licenses') ?? fallback('license');
    case 'INSTANCE':
      return known(idx?.instances, e.resourceID, '/instances') ?? fallback('instance');
    case 'ENTITLEMENT':
      return known(idx?.entitlements, e.resourceID, '/entitlements') ?? fallback('entitlement');
    case 'LICENSE_ENTITLEMENT': {
      const lic = known(idx?.licenses, fieldOf(e, 'licenseID'), '/licenses');
      const entID = fieldOf(e, 'entitlementID');
      const ent = entID ? idx?.entitlements.get(entID) : undefined;
      const what = ent ? ent.name : (slug ?? 'an entitlement');
      if (lic) return { label: `${what} on ${lic.label}`, to: lic.to, gone: false };
      return { label: `Link ${what}`, to: null, gone: Boolean(idx) };
    }
    case 'POLICY':
      // Policies' pages go by id; the page says so when it is gone.
      return { label: name ?? slug ?? `policy ${e.resourceID}`, to: path('/policies', e.resourceID), gone: false };
    case 'WEBHOOK_ENDPOINT':
      return { label: fieldOf(e, 'url') ?? slug ?? `endpoint ${e.resourceID}`, to: path('/webhooks', e.resourceID), gone: false };
    default: {
      // Usage and other events about an instance link to it.
      const inst = known(idx?.instances, fieldOf(e, 'instanceID'), '/instances');
      if (inst) return inst;
      return { label: name ?? slug ?? e.resourceID, to: null, gone: false };
    }
  }
}

/** Whether an event is about a license: the license itself or one of its links. */
export function isAboutLicense(e: AuditEvent, licenseID: string): boolean {
  if (e.resourceID === licenseID) return true;
  return e.after?.licenseID === licenseID || e.before?.licenseID === licenseID;
}
