import { useMemo, useState } from 'react';
import { request } from '../api';
import { Badge, Banner, Button, ConfirmDialog, ErrorState, Field, Loading, PageHeader, Section, TextInput } from '../components/ui';
import { DecisionsTable } from '../components/Decisions';
import { HistoryPanel } from '../components/Audit';
import { IssueLicenseFileDialog, LicenseFilesTable } from '../components/LicenseFiles';
import { When } from '../components/When';
import { UsageHistory } from '../components/UsageChart';
import { expiry, fmtDate, fmtDateTime, fmtNumber, humanize } from '../format';
import {
  DeleteInstanceDocument,
  InstanceDecisionsDocument,
  InstanceDetailDocument,
  ResetUsageDocument,
  type InstanceDetailQuery,
} from '../gql/generated';
import { useQuery } from '../hooks';
import { BySlug } from '../components/Detail';
import { Link, navigate, useTitle } from '../router';
import { useSession } from '../session';
import { ExpiryBadge, InstanceForm } from './Instances';

type Instance = NonNullable<NonNullable<NonNullable<InstanceDetailQuery['instances']['edges']>[number]>['node']>;
type Usage = Instance['usage'][number];

export function InstanceDetailPage({ slug }: { slug: string }) {
  const q = useQuery(InstanceDetailDocument, { slug });
  const instance = q.data?.instances.edges?.[0]?.node ?? null;
  useTitle(instance ? instance.name : 'Instance');
  return (
    <BySlug q={q} node={instance} what="instance" slug={slug}>
      {(n) => <InstanceView instance={n} reload={q.refetch} />}
    </BySlug>
  );
}

function InstanceView({ instance, reload }: { instance: Instance; reload: () => Promise<void> }) {
  const session = useSession();
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [resetting, setResetting] = useState<Usage | null>(null);
  const [issuing, setIssuing] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const decisions = useQuery(InstanceDecisionsDocument, { instance: instance.slug }, { skip: !session.canCheck });
  const ex = expiry(instance.expiresAt);
  const events = (instance.thresholdEvents.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []));
  const [changes, setChanges] = useState(0);
  const refresh = async () => {
    await Promise.all([reload(), session.canCheck ? decisions.refetch() : Promise.resolve()]);
    setChanges((n) => n + 1);
  };
  const historyWhere = useMemo(() => ({ resourceID: instance.id }), [instance.id]);

  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            <Link to="/instances">Instances</Link> <span aria-hidden="true">/</span> <span>{instance.name}</span>
          </>
        }
        title={instance.name}
        badges={
          ex.kind === 'expired' ? <Badge tone="red">Expired</Badge> : ex.kind === 'soon' ? <Badge tone="amber">{ex.label}</Badge> : null
        }
        subtitle={
          <>
            <span className="mono">{instance.slug}</span>
            {instance.license ? (
              <>
                {' '}
                · on <Link to={`/licenses/${encodeURIComponent(instance.license.slug)}`}>{instance.license.name}</Link> v
                {instance.license.version}
              </>
            ) : null}
          </>
        }
        actions={
          <>
            <Button onClick={refresh}>Refresh</Button>
            {session.canWrite ? (
              <>
                <Button onClick={() => setEditing(true)}>Edit</Button>
                <Button variant="danger" onClick={() => setDeleting(true)}>
                  Delete
                </Button>
              </>
            ) : null}
          </>
        }
      />
      {notice ? <Banner tone="green" title={notice} onDismiss={() => setNotice(null)} /> : null}
      {ex.kind === 'expired' ? (
        <Banner tone="red" title={`This instance expired on ${fmtDate(instance.expiresAt)}.`}>
          Its decisions say LICENSE_EXPIRED. {session.canWrite ? 'Edit it to extend the expiry.' : ''}
        </Banner>
      ) : ex.kind === 'soon' ? (
        <Banner tone="amber" title={`${ex.label} (${fmtDate(instance.expiresAt)}).`}>
          {session.canWrite ? 'Edit it to extend the expiry before decisions start to fail.' : 'Decisions start to fail then.'}
        </Banner>
      ) : null}
      {instance.license && !instance.license.isActive ? (
        <Banner tone="amber" title={`Its license ${instance.license.name} is inactive.`}>
          The instance is denied everything until the license is activated or the instance moves to another license.
        </Banner>
      ) : null}
      {!instance.license ? <Banner tone="red" title="This instance has no license, so it is entitled to nothing." /> : null}

      <div className="detail-grid">
        <div className="detail-main">
          <Section title="Usage this period" description="Metered entitlements: the current period's usage against the limit.">
            {instance.usage.length === 0 ? (
              <p className="muted">This instance&apos;s license grants no metered (Number) entitlement.</p>
            ) : (
              <div className="meters">
                {instance.usage.map((u) => (
                  <UsageMeter key={u.entitlement.id} usage={u} onReset={session.canWrite ? () => setResetting(u) : undefined} />
                ))}
              </div>
            )}
          </Section>
          {instance.usage.length > 0 ? (
            <Section
              title="Usage over time"
              description="The last 12 periods of each metered entitlement (UTC), against the limit and the hard cap."
            >
              {instance.usage.map((u) => (
                <div key={u.entitlement.id} className="usage-history-block">
                  <h3 className="subhead">{u.entitlement.name}</h3>
                  {u.entitlement.resetPeriod === 'NONE' ? (
                    <p className="muted">Never resets: one period, all time, {fmtNumber(u.value)} so far.</p>
                  ) : (
                    <UsageHistory instance={instance.slug} entitlement={u.entitlement.slug} name={u.entitlement.name} />
                  )}
                </div>
              ))}
            </Section>
          ) : null}
          <Section title="Decisions now" description="What a service asking right now would be told, for each entitlement of the license.">
            {!session.canCheck ? (
              <p className="muted">This API key (READ) may not ask for decisions. Sign in with an ADMIN or CHECK key to see them.</p>
            ) : decisions.error && !decisions.data ? (
              <ErrorState what="decisions" error={decisions.error} onRetry={decisions.refetch} />
            ) : !decisions.data ? (
              <Loading label="Asking for decisions…" />
            ) : decisions.data.decisions.length === 0 ? (
              <p className="muted">The license grants no entitlement, so there is nothing to decide.</p>
            ) : (
              <DecisionsTable decisions={decisions.data.decisions} />
            )}
          </Section>
          <Section
            title="License files"
            description="Signed files for software that decides without reaching the server; newest first."
            actions={
              session.canWrite ? (
                <Button variant="primary" onClick={() => setIssuing(true)}>
                  Download license file
                </Button>
              ) : null
            }
          >
            <LicenseFilesTable files={instance.licenseFiles ?? []} />
          </Section>
          <Section title="Recent threshold events" description="Crossings of 80% of a limit, the limit, and the hard cap; newest first.">
            {events.length === 0 ? (
              <p className="muted">No thresholds crossed yet.</p>
            ) : (
              <table className="table table-cards">
                <caption className="sr-only">Threshold events</caption>
                <thead>
                  <tr>
                    <th scope="col">Event</th>
                    <th scope="col">Entitlement</th>
                    <th scope="col" className="num">
                      Usage / limit
                    </th>
                    <th scope="col">When</th>
                  </tr>
                </thead>
                <tbody>
                  {events.map((e) => (
                    <tr key={e.id}>
                      <td data-label="Event">
                        <Badge tone={e.kind === 'HARD_CAP_EXCEEDED' ? 'red' : e.kind === 'LIMIT_REACHED' ? 'amber' : 'blue'}>
                          {eventLabel(e.kind)}
                        </Badge>
                      </td>
                      <td data-label="Entitlement" className="mono">
                        {e.entitlement.slug}
                      </td>
                      <td data-label="Usage / limit" className="num">
                        {fmtNumber(e.usage)} / {fmtNumber(e.limit)}
                      </td>
                      <td data-label="When">{fmtDateTime(e.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
          <HistoryPanel
            where={historyWhere}
            auditLink={`/audit?resource=${encodeURIComponent(instance.id)}`}
            refreshKey={`${instance.updatedAt}:${changes}`}
          />
        </div>
        <div className="detail-side">
          <Section title="Details">
            <dl className="props">
              <dt>Slug</dt>
              <dd className="mono">{instance.slug}</dd>
              <dt>License</dt>
              <dd>
                {instance.license ? (
                  <>
                    <Link to={`/licenses/${encodeURIComponent(instance.license.slug)}`}>{instance.license.name}</Link> · v
                    {instance.license.version}
                    {instance.license.versionName ? ` (${instance.license.versionName})` : ''} · {humanize(instance.license.type)}
                  </>
                ) : (
                  'None'
                )}
              </dd>
              <dt>Starts</dt>
              <dd>{fmtDateTime(instance.startsAt)}</dd>
              <dt>Expires</dt>
              <dd>
                <ExpiryBadge state={ex} />
              </dd>
              <dt>Created</dt>
              <dd>{fmtDateTime(instance.createdAt)}</dd>
            </dl>
          </Section>
          <Section title="Metadata" description="Visible to policies as input.instance.metadata.">
            {instance.metadata && Object.keys(instance.metadata).length > 0 ? (
              <pre className="code-block">{JSON.stringify(instance.metadata, null, 2)}</pre>
            ) : (
              <p className="muted">No metadata.</p>
            )}
          </Section>
        </div>
      </div>
      {editing ? (
        <InstanceForm
          instance={instance}
          onClose={() => setEditing(false)}
          onSaved={async (i) => {
            setEditing(false);
            setNotice('Instance saved.');
            if (i.slug !== instance.slug) navigate(`/instances/${encodeURIComponent(i.slug)}`, { replace: true });
            else await refresh();
          }}
        />
      ) : null}
      {issuing ? (
        <IssueLicenseFileDialog
          instance={instance}
          onClose={() => setIssuing(false)}
          onIssued={async (f) => {
            setIssuing(false);
            setNotice(`License file issued, valid until ${fmtDateTime(f.expiresAt)}, and downloaded as ${f.filename}.`);
            await refresh();
          }}
        />
      ) : null}
      {resetting ? (
        <ResetUsageDialog
          instance={instance.slug}
          usage={resetting}
          onClose={() => setResetting(null)}
          onDone={async () => {
            setResetting(null);
            setNotice(`Usage of ${resetting.entitlement.name} reset.`);
            await refresh();
          }}
        />
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${instance.name}?`}
          confirmLabel="Delete instance"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await request(DeleteInstanceDocument, { id: instance.id });
            navigate('/instances');
          }}
        >
          Services asking about <span className="mono">{instance.slug}</span> will be told INSTANCE_NOT_FOUND. Its usage history goes too.
          This cannot be undone.
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function eventLabel(kind: string) {
  return kind === 'PERCENT_80'
    ? '80% of limit'
    : kind === 'LIMIT_REACHED'
      ? 'Limit reached'
      : kind === 'HARD_CAP_EXCEEDED'
        ? 'Hard cap exceeded'
        : humanize(kind);
}

function UsageMeter({ usage: u, onReset }: { usage: Usage; onReset?: () => void }) {
  const unlimited = u.limit === -1 || u.limit == null;
  const cap = u.hardCap ?? u.limit ?? 0;
  const max = unlimited ? 0 : Math.max(cap, u.limit ?? 0);
  const pct = max > 0 ? Math.min(100, (u.value / max) * 100) : u.value > 0 ? 100 : 0;
  const limitPct = !unlimited && max > 0 && u.limit != null ? (u.limit / max) * 100 : 100;
  const limit = u.limit ?? 0;
  const tone = unlimited ? 'ok' : u.value > cap ? 'over' : u.value >= 0.8 * limit ? 'warn' : 'ok';
  const id = `meter-${u.entitlement.slug}`;
  return (
    <div className="meter" data-testid={id}>
      <div className="meter-head">
        <span className="meter-name">
          <span id={`${id}-label`}>
            {u.entitlement.name} <span className="mono row-sub-inline">{u.entitlement.slug}</span>
          </span>
          <span className="meter-since">
            {u.entitlement.resetPeriod === 'NONE' || !u.periodEnd ? (
              <>{humanize(u.entitlement.aggregationMethod)} of reports, all time (never resets)</>
            ) : (
              <>
                {humanize(u.entitlement.aggregationMethod)} of reports this {u.entitlement.resetPeriod?.toLowerCase()}, since{' '}
                <When iso={u.periodStart} />
              </>
            )}
          </span>
        </span>
        <span className="meter-value">
          <strong data-testid={`${id}-value`}>{fmtNumber(u.value)}</strong>
          <span className="muted"> / {unlimited ? 'unlimited' : fmtNumber(u.limit)}</span>
        </span>
      </div>
      {unlimited ? (
        <div className="meter-bar meter-unlimited" aria-hidden="true" />
      ) : (
        <div
          className={`meter-bar meter-${tone}`}
          role="progressbar"
          aria-labelledby={`${id}-label`}
          aria-valuemin={0}
          aria-valuemax={max}
          aria-valuenow={u.value}
          aria-valuetext={`${fmtNumber(u.value)} of ${fmtNumber(u.limit)}`}
        >
          <div className="meter-fill" style={{ width: `${pct}%` }} />
          {u.hardCap != null && u.limit != null && u.hardCap > u.limit ? (
            <div className="meter-limit" style={{ left: `${limitPct}%` }} title="Limit" />
          ) : null}
        </div>
      )}
      <dl className="meter-facts">
        <div>
          <dt>Remaining</dt>
          <dd>{unlimited ? 'Unlimited' : fmtNumber(u.remaining)}</dd>
        </div>
        <div>
          <dt>Hard cap</dt>
          <dd>{unlimited ? '—' : fmtNumber(u.hardCap)}</dd>
        </div>
        <div>
          <dt>Reports</dt>
          <dd>{fmtNumber(u.count)}</dd>
        </div>
        <div>
          <dt>Resets</dt>
          <dd>{u.periodEnd ? <When iso={u.periodEnd} /> : 'Never'}</dd>
        </div>
      </dl>
      {onReset ? (
        <Button onClick={onReset} aria-label={`Reset usage of ${u.entitlement.name}`}>
          Reset usage
        </Button>
      ) : null}
    </div>
  );
}

/** Asks for the reason of a usage reset and confirms it. */
function ResetUsageDialog({
  instance,
  usage: u,
  onClose,
  onDone,
}: {
  instance: string;
  usage: Usage;
  onClose: () => void;
  onDone: () => Promise<void>;
}) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  return (
    <ConfirmDialog
      title={`Reset usage of ${u.entitlement.name}?`}
      confirmLabel="Reset usage"
      onClose={onClose}
      onConfirm={async () => {
        if (!reason.trim()) {
          setError('Say why: the reason is kept with the reset.');
          throw new Error('Say why: the reason is kept with the reset.');
        }
        await request(ResetUsageDocument, { input: { instance, entitlement: u.entitlement.slug, reason: reason.trim() } });
        await onDone();
      }}
    >
      <p>
        The current period starts afresh from now: usage goes to 0 and reports dated before now no longer count. The reports stay in the
        ledger.
      </p>
      <Field label="Reason" error={error}>
        {(p) => <TextInput {...p} value={reason} onChange={(e) => setReason(e.target.value)} />}
      </Field>
    </ConfirmDialog>
  );
}
