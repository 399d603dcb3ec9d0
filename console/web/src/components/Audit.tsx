// Entries of the event log as the Audit page and the History panels show
// them: who, when, what, on which resource, and the fields before → after.
import { useEffect, useMemo, useRef, useState } from 'react';
import {
  actorLabel,
  diffFields,
  fmtFieldChange,
  isAboutLicense,
  referencedIDs,
  resourceRef,
  type AuditEvent,
  type FieldChange,
  type ResourceIndex,
} from '../audit';
import { fmtNumber } from '../format';
import { When } from './When';
import { AuditEventsDocument, AuditResourcesDocument, type AuditEventWhereInput } from '../gql/generated';
import { useLatest, useQuery, usePages } from '../hooks';
import { Link } from '../router';
import { Badge, Button, ErrorState, Loading, Section, errorText } from './ui';

/** The current names and slugs of the resources the events name. */
export function useResourceIndex(events: AuditEvent[]): ResourceIndex | null {
  const ids = useMemo(() => referencedIDs(events), [events]);
  const none = ids.licenseIDs.length + ids.instanceIDs.length + ids.entitlementIDs.length === 0;
  const q = useQuery(AuditResourcesDocument, ids, { skip: none });
  return useMemo(() => {
    if (none) return { licenses: new Map(), instances: new Map(), entitlements: new Map() };
    if (!q.data) return null;
    const index = <T extends { id: string; name: string; slug: string }>(edges: ({ node: T | null } | null)[] | null) =>
      new Map((edges ?? []).flatMap((e) => (e?.node ? [[e.node.id, { name: e.node.name, slug: e.node.slug }] as const] : [])));
    return {
      licenses: index(q.data.licenses.edges),
      instances: index(q.data.instances.edges),
      entitlements: index(q.data.entitlements.edges),
    };
  }, [q.data, none]);
}

const SIGN = { add: '+', remove: '−', change: '~', same: ' ' } as const;
const SR = { add: 'Added: ', remove: 'Removed: ', change: 'Changed: ', same: 'Unchanged: ' } as const;

/** The fields a change touched (all of them on request), one line each. */
export function FieldDiff({ event, label }: { event: AuditEvent; label: string }) {
  const [all, setAll] = useState(false);
  const fields = useMemo(() => diffFields(event.before, event.after), [event.before, event.after]);
  const changed = fields.filter((f) => f.kind !== 'same');
  const shown = all ? fields : changed;
  const hidden = fields.length - changed.length;
  if (fields.length === 0) return <p className="muted small">No fields recorded.</p>;
  return (
    <div className="audit-diff">
      {shown.length === 0 ? (
        <p className="muted small">No field changed.</p>
      ) : (
        <ul className="diff" aria-label={label}>
          {shown.map((f) => (
            <li key={f.field} className={f.kind === 'same' ? 'diff-same' : `diff-${f.kind}`}>
              <span className="diff-sign" aria-hidden="true">
                {SIGN[f.kind]}
              </span>
              <span className="sr-only">{SR[f.kind]}</span>
              {isLong(f.before) || isLong(f.after) ? <LongChange change={f} /> : fmtFieldChange(f)}
            </li>
          ))}
        </ul>
      )}
      {hidden > 0 || all ? (
        <button type="button" className="linkish" aria-expanded={all} onClick={() => setAll((a) => !a)}>
          {all ? 'Show changed fields only' : `Show all ${fields.length} fields`}
        </button>
      ) : null}
    </div>
  );
}

function verb(action: string): string {
  return action.slice(action.indexOf('.') + 1);
}

function actionTone(action: string) {
  const v = verb(action);
  if (v === 'created' || v === 'set' || v === 'issued') return 'green' as const;
  if (v === 'deleted' || v === 'removed' || v === 'revoked') return 'red' as const;
  if (v === 'threshold_crossed' || v === 'expiring') return 'amber' as const;
  return 'blue' as const;
}

/** Text too long for one line (a policy's module): shown in blocks on request. */
function isLong(v: unknown): boolean {
  return typeof v === 'string' && (v.length > 120 || v.includes('\n'));
}

function LongChange({ change: c }: { change: FieldChange }) {
  const what = c.kind === 'change' ? 'changed' : c.kind === 'add' ? 'set' : c.kind === 'remove' ? 'was' : 'unchanged';
  return (
    <details className="diff-long">
      <summary>
        {c.field}: {what} ({fmtNumber(String(c.after ?? c.before ?? '').length)} characters)
      </summary>
      {c.kind === 'change' ? (
        <div className="diff-sides">
          <pre className="code-block" aria-label={`${c.field} before`}>
            {String(c.before ?? '')}
          </pre>
          <pre className="code-block" aria-label={`${c.field} after`}>
            {String(c.after ?? '')}
          </pre>
        </div>
      ) : (
        <pre className="code-block">{String(c.after ?? c.before ?? '')}</pre>
      )}
    </details>
  );
}

/** One entry of the log. */
export function AuditEntry({
  event: e,
  index,
  onActor,
  compact,
}: {
  event: AuditEvent;
  index: ResourceIndex | null;
  /** Filters by this entry's actor (the Audit page). */
  onActor?: (e: AuditEvent) => void;
  /** In a History panel: the resource is the page's own. */
  compact?: boolean;
}) {
  const ref = resourceRef(e, index);
  const who = actorLabel(e);
  return (
    <li className="audit-entry" data-testid={`audit-${e.seq}`}>
      <div className="audit-head">
        <Badge tone={actionTone(e.action)}>
          <span className="mono">{e.action}</span>
        </Badge>
        {!compact || e.resourceType === 'LICENSE_ENTITLEMENT' ? (
          <span className="audit-resource">
            {ref.to ? <Link to={ref.to}>{ref.label}</Link> : <span>{ref.label}</span>}
            {ref.gone ? <span className="muted"> (deleted)</span> : null}
          </span>
        ) : null}
        <span className="audit-when muted">
          <When iso={e.occurredAt} />
        </span>
      </div>
      <p className="audit-who">
        by{' '}
        {onActor && (e.actorID || e.actorType !== 'API_KEY') ? (
          <button type="button" className="linkish" onClick={() => onActor(e)} title="Show only this actor's changes">
            <strong data-testid="audit-actor">{who}</strong>
          </button>
        ) : (
          <strong data-testid="audit-actor">{who}</strong>
        )}
        {e.licenseVersion != null ? <span className="muted"> · license version {e.licenseVersion}</span> : null}
      </p>
      <FieldDiff event={e} label={`Changes in event ${e.seq}`} />
      <dl className="audit-meta">
        <div>
          <dt>Event</dt>
          <dd className="mono">#{e.seq}</dd>
        </div>
        <div>
          <dt>Resource</dt>
          <dd className="mono">
            {e.resourceType} {e.resourceID}
          </dd>
        </div>
        <div>
          <dt>Request</dt>
          <dd className="mono">{e.requestID ?? '—'}</dd>
        </div>
      </dl>
    </li>
  );
}

const HISTORY_PAGE = 50;
/** How many pages one "Show older" reads at most while too few entries match. */
const SCAN_PAGES = 5;

/**
 * The "History" panel of a resource's page: its events, newest first.
 * `where` selects them on the server; `match`, when the server cannot
 * select exactly (a license's links), keeps only the right ones, reading
 * further pages until enough match.
 */
export function HistoryPanel({
  where,
  match,
  auditLink,
  description,
  onEvents,
  refreshKey,
}: {
  where: AuditEventWhereInput;
  match?: (e: AuditEvent) => boolean;
  /** The Audit page filtered to this resource. */
  auditLink: string;
  description?: string;
  /** The events read so far (a license's versions name their authors from them). */
  onEvents?: (events: AuditEvent[]) => void;
  /** When it changes (the page saved something), the panel reads the history again. */
  refreshKey?: string | number;
}) {
  const pages = usePages(AuditEventsDocument, { where, first: HISTORY_PAGE }, (r) => r.auditEvents);
  const events = useMemo(() => (match ? pages.nodes.filter(match) : pages.nodes), [pages.nodes, match]);
  const index = useResourceIndex(events);
  const refetch = pages.refetch;
  const lastKey = useRef(refreshKey);
  useEffect(() => {
    if (lastKey.current === refreshKey) return;
    lastKey.current = refreshKey;
    void refetch();
  }, [refreshKey, refetch]);
  const onEventsRef = useLatest(onEvents);
  useEffect(() => onEventsRef.current?.(events), [events, onEventsRef]);

  // With a client-side match, keep reading (a few pages per request) until
  // a page's worth matches or the log ends.
  const [budget, setBudget] = useState(match ? SCAN_PAGES - 1 : 0);
  const want = useRef(HISTORY_PAGE / 5);
  const { hasNextPage, loadingMore, loadMore, initial } = pages;
  useEffect(() => {
    if (!match || initial || loadingMore || !hasNextPage || budget <= 0) return;
    if (events.length >= want.current) return;
    setBudget((b) => b - 1);
    void loadMore();
  }, [match, initial, loadingMore, hasNextPage, budget, events.length, loadMore]);

  const older = () => {
    want.current = events.length + HISTORY_PAGE / 5;
    if (match) setBudget(SCAN_PAGES - 1);
    void loadMore();
  };

  return (
    <Section
      title="History"
      description={description ?? 'Every change, who made it, and what it changed; newest first.'}
      actions={
        <Link to={auditLink} className="btn btn-secondary btn-sm">
          Open in audit log
        </Link>
      }
    >
      {pages.error && pages.initial ? (
        <ErrorState what="the history" error={pages.error} onRetry={pages.refetch} />
      ) : pages.initial ? (
        <Loading label="Loading history…" />
      ) : events.length === 0 && !hasNextPage ? (
        <p className="muted">No changes recorded.</p>
      ) : (
        <>
          <ol className="audit-list audit-list-compact" aria-label="History, newest first">
            {events.map((e) => (
              <AuditEntry key={e.id} event={e} index={index} compact />
            ))}
          </ol>
          {events.length === 0 ? <p className="muted">No changes recorded in the latest events.</p> : null}
          {pages.error ? <p className="field-error">{errorText(pages.error)}</p> : null}
          {hasNextPage ? (
            <div className="audit-more">
              <Button size="sm" onClick={older} busy={loadingMore}>
                Show older
              </Button>
            </div>
          ) : null}
        </>
      )}
    </Section>
  );
}

/** A license's History: its own events and its links'. */
export function LicenseHistoryPanel({
  licenseID,
  onEvents,
  refreshKey,
}: {
  licenseID: string;
  onEvents?: (events: AuditEvent[]) => void;
  refreshKey?: string | number;
}) {
  // A link's events carry the license's id in their before/after
  // (licenseID) rather than as their resource id: the server selects the
  // license's events and every link event, and the panel keeps this
  // license's.
  const where = useMemo<AuditEventWhereInput>(
    () => ({ or: [{ resourceID: licenseID }, { resourceType: 'LICENSE_ENTITLEMENT' }] }),
    [licenseID],
  );
  const match = useMemo(() => (e: AuditEvent) => isAboutLicense(e, licenseID), [licenseID]);
  return (
    <HistoryPanel
      where={where}
      match={match}
      auditLink={`/audit?resource=${encodeURIComponent(licenseID)}`}
      description="Changes to the license and to its entitlements' values, who made them, and what they changed."
      onEvents={onEvents}
      refreshKey={refreshKey}
    />
  );
}
