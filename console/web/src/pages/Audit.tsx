import { useMemo, useState } from 'react';
import { request } from '../api';
import { ACTOR_TYPES, AUDIT_ACTIONS, RESOURCE_TYPES, actorLabel, resourceTypeLabel, type AuditEvent } from '../audit';
import { AuditEntry, useResourceIndex } from '../components/Audit';
import { Banner, Button, EmptyState, ErrorState, Loading, PageHeader, Select, TextInput, ToolbarField, errorText } from '../components/ui';
import { fmtNumber, fromLocalInput, humanize } from '../format';
import {
  ActorKeysDocument,
  AuditEventsDocument,
  VerifyAuditChainDocument,
  type AuditEventActorType,
  type AuditEventWhereInput,
  type VerifyAuditChainQuery,
} from '../gql/generated';
import { useDebounced, usePages, useQuery } from '../hooks';
import { navigate, useLocation, useTitle } from '../router';
import { useSession } from '../session';

const PAGE = 50;

/** The filters, as the page's query string holds them. */
interface Filters {
  /** An action, or a resource's actions as "license.*". */
  action: string;
  type: string;
  /** An actor type (SYSTEM, OPERATOR, API_KEY), or "key:<API key id>". */
  actor: string;
  /** datetime-local values. */
  from: string;
  to: string;
  /** A resource id, or part of its slug. */
  resource: string;
  /** One event by its seq (from a broken chain). */
  seq: string;
}

const KEYS: (keyof Filters)[] = ['action', 'type', 'actor', 'from', 'to', 'resource', 'seq'];

function readFilters(q: URLSearchParams): Filters {
  const f = {} as Filters;
  for (const k of KEYS) f[k] = q.get(k) ?? '';
  return f;
}

/** The server-side filter for a set of filters. */
function auditWhere(f: Filters): AuditEventWhereInput {
  const w: AuditEventWhereInput = {};
  if (f.action.endsWith('.*')) w.actionHasPrefix = f.action.slice(0, -1);
  else if (f.action) w.action = f.action;
  if (f.type) w.resourceType = f.type;
  if (f.actor.startsWith('key:')) w.actorID = f.actor.slice(4);
  else if (f.actor) w.actorType = f.actor as AuditEventActorType;
  const from = fromLocalInput(f.from);
  const to = fromLocalInput(f.to);
  if (from) w.occurredAtGTE = from;
  if (to) w.occurredAtLT = to;
  const r = f.resource.trim();
  if (r) w.or = [{ resourceID: r }, { resourceSlugContainsFold: r }];
  const seq = Number(f.seq);
  if (f.seq && Number.isInteger(seq) && seq > 0) w.seq = seq;
  return w;
}

export function AuditPage() {
  useTitle('Audit log');
  const session = useSession();
  const { query } = useLocation();
  const [filters, setFilters] = useState<Filters>(() => readFilters(query));
  const [resourceText, setResourceText] = useState(filters.resource);
  const resource = useDebounced(resourceText.trim(), 300);
  const effective = useMemo(() => ({ ...filters, resource }), [filters, resource]);
  const where = useMemo(() => auditWhere(effective), [effective]);
  const pages = usePages(AuditEventsDocument, { where, first: PAGE }, (r) => r.auditEvents);
  const index = useResourceIndex(pages.nodes);
  const keys = useQuery(ActorKeysDocument, {}, { skip: !session.canWrite });

  const update = (next: Partial<Filters>) => {
    const f = { ...filters, resource: resourceText, ...next };
    if (next.resource !== undefined) setResourceText(next.resource);
    setFilters(f);
    const params = new URLSearchParams();
    for (const k of KEYS) if (f[k]) params.set(k, f[k]);
    const s = params.toString();
    navigate(s ? `/audit?${s}` : '/audit', { replace: true });
  };
  const filtered = KEYS.some((k) => (k === 'resource' ? resource : filters[k]));
  const clear = () => update({ action: '', type: '', actor: '', from: '', to: '', resource: '', seq: '' });

  // The actors a filter can pick: every kind, the organization's keys
  // (ADMIN may list them; a READ key knows itself), and the one asked for.
  const actorOptions = useMemo(() => {
    const opts: { value: string; label: string }[] = [];
    const keyList = keys.data?.apiKeys ?? (session.viewer.apiKey ? [{ ...session.viewer.apiKey, revoked: false }] : []);
    for (const k of keyList) opts.push({ value: `key:${k.id}`, label: `API key ${k.name}${k.revoked ? ' (revoked)' : ''}` });
    if (filters.actor.startsWith('key:') && !opts.some((o) => o.value === filters.actor)) {
      const seen = pages.nodes.find((e) => e.actorID === filters.actor.slice(4));
      opts.push({ value: filters.actor, label: seen ? actorLabel(seen) : `API key ${filters.actor.slice(4)}` });
    }
    return opts;
  }, [keys.data, session.viewer.apiKey, filters.actor, pages.nodes]);

  const [verifying, setVerifying] = useState(false);
  const [verification, setVerification] = useState<{ result?: Verification; error?: string }>({});
  const verify = async () => {
    setVerifying(true);
    setVerification({});
    try {
      const r = await request(VerifyAuditChainDocument, {});
      setVerification({ result: r.verifyAuditChain });
    } catch (err) {
      setVerification({ error: errorText(err) });
    } finally {
      setVerifying(false);
    }
  };

  const byActor = (e: AuditEvent) => update({ actor: e.actorID ? `key:${e.actorID}` : e.actorType });

  return (
    <>
      <PageHeader
        title="Audit log"
        subtitle="Every change in this organization: who made it, when, and the resource before and after. Each entry is chained to the one before by its hash."
        actions={
          <Button busy={verifying} onClick={verify}>
            Verify chain
          </Button>
        }
      />
      <VerifyChainResult state={verification} onDismiss={() => setVerification({})} onShowSeq={(seq) => update({ seq: String(seq) })} />
      <div className="toolbar" role="search" aria-label="Filter the audit log">
        <ToolbarField label="Resource" grow>
          {(p) => (
            <TextInput
              {...p}
              type="search"
              placeholder="Resource id (lic_…) or slug"
              spellCheck={false}
              value={resourceText}
              onChange={(e) => update({ resource: e.target.value })}
            />
          )}
        </ToolbarField>
        <ToolbarField label="Action">
          {(p) => (
            <Select {...p} value={filters.action} onChange={(e) => update({ action: e.target.value })}>
              <option value="">All actions</option>
              {AUDIT_ACTIONS.map((g) => (
                <optgroup key={g.resource} label={resourceTypeLabel(g.resource)}>
                  <option value={`${g.resource}.*`}>{`${g.resource}.* (all)`}</option>
                  {g.actions.map((a) => (
                    <option key={a} value={a}>
                      {a}
                    </option>
                  ))}
                </optgroup>
              ))}
            </Select>
          )}
        </ToolbarField>
        <ToolbarField label="Resource type">
          {(p) => (
            <Select {...p} value={filters.type} onChange={(e) => update({ type: e.target.value })}>
              <option value="">All types</option>
              {RESOURCE_TYPES.map((t) => (
                <option key={t} value={t}>
                  {resourceTypeLabel(t)}
                </option>
              ))}
            </Select>
          )}
        </ToolbarField>
        <ToolbarField label="Actor">
          {(p) => (
            <Select {...p} value={filters.actor} onChange={(e) => update({ actor: e.target.value })}>
              <option value="">Anyone</option>
              {ACTOR_TYPES.map((t) => (
                <option key={t} value={t}>
                  {t === 'API_KEY' ? 'Any API key' : humanize(t)}
                </option>
              ))}
              {actorOptions.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </Select>
          )}
        </ToolbarField>
        <ToolbarField label="From">
          {(p) => <TextInput {...p} type="datetime-local" value={filters.from} onChange={(e) => update({ from: e.target.value })} />}
        </ToolbarField>
        <ToolbarField label="Until">
          {(p) => <TextInput {...p} type="datetime-local" value={filters.to} onChange={(e) => update({ to: e.target.value })} />}
        </ToolbarField>
        {filtered ? (
          <Button className="toolbar-dir" onClick={clear}>
            Clear filters
          </Button>
        ) : null}
        {pages.loading && !pages.initial ? (
          <span className="toolbar-status" role="status">
            Updating…
          </span>
        ) : null}
      </div>
      {filters.seq ? <Banner tone="blue" title={`Showing event #${filters.seq} only.`} onDismiss={() => update({ seq: '' })} /> : null}

      {pages.error && pages.initial ? (
        <ErrorState what="the audit log" error={pages.error} onRetry={pages.refetch} />
      ) : pages.initial ? (
        <Loading label="Loading the audit log…" />
      ) : pages.nodes.length === 0 ? (
        filtered ? (
          <EmptyState title="No event matches these filters." action={<Button onClick={clear}>Clear filters</Button>} />
        ) : (
          <EmptyState title="No events yet.">Changes made through the API or this console appear here as they happen.</EmptyState>
        )
      ) : (
        <div className="table-wrap">
          <ol className="audit-list" aria-label="Events, newest first">
            {pages.nodes.map((e) => (
              <AuditEntry key={e.id} event={e} index={index} onActor={byActor} />
            ))}
          </ol>
          <div className="table-footer">
            <span>
              Showing {fmtNumber(pages.nodes.length)} of {fmtNumber(pages.totalCount)}
            </span>
            {pages.error ? <span className="field-error">{errorText(pages.error)}</span> : null}
            {pages.hasNextPage ? (
              <Button size="sm" onClick={() => void pages.loadMore()} busy={pages.loadingMore}>
                Show older
              </Button>
            ) : null}
          </div>
        </div>
      )}
    </>
  );
}

type Verification = VerifyAuditChainQuery['verifyAuditChain'];

function VerifyChainResult({
  state,
  onDismiss,
  onShowSeq,
}: {
  state: { result?: Verification; error?: string };
  onDismiss: () => void;
  onShowSeq: (seq: number) => void;
}) {
  if (state.error) return <Banner tone="red" title={`Could not verify the chain: ${state.error}`} onDismiss={onDismiss} />;
  const v = state.result;
  if (!v) return null;
  return (
    <div data-testid="chain-verification">
      {v.valid ? (
        <Banner tone="green" title="The chain is intact." onDismiss={onDismiss}>
          <ChainFacts v={v} />
        </Banner>
      ) : (
        <Banner tone="red" title={`The chain is broken at event #${v.firstBrokenSeq ?? '?'}.`} onDismiss={onDismiss}>
          <p>An event was changed, removed or reordered after it was written: from there on the events no longer verify.</p>
          <ChainFacts v={v} />
          {v.firstBrokenSeq != null ? (
            <Button size="sm" onClick={() => onShowSeq(v.firstBrokenSeq!)}>
              Show event #{v.firstBrokenSeq}
            </Button>
          ) : null}
        </Banner>
      )}
    </div>
  );
}

function ChainFacts({ v }: { v: Verification }) {
  return (
    <dl className="chain-facts">
      <div>
        <dt>Valid</dt>
        <dd>{v.valid ? 'Yes' : 'No'}</dd>
      </div>
      <div>
        <dt>Events checked</dt>
        <dd>{fmtNumber(v.checked)}</dd>
      </div>
      <div>
        <dt>Head</dt>
        <dd>#{v.headSeq}</dd>
      </div>
      <div>
        <dt>Head hash</dt>
        <dd className="mono">{v.headHash}</dd>
      </div>
      {!v.valid ? (
        <div>
          <dt>First broken</dt>
          <dd>#{v.firstBrokenSeq ?? '—'}</dd>
        </div>
      ) : null}
    </dl>
  );
}
