import { useMemo, useState } from 'react';
import { request } from '../api';
import { HistoryPanel } from '../components/Audit';
import { Badge, Banner, Button, ConfirmDialog, PageHeader, Section } from '../components/ui';
import { fmtDateTime, fmtValue, humanize } from '../format';
import { DeleteEntitlementDocument, EntitlementsDocument, type AuditEventWhereInput, type EntitlementsQuery } from '../gql/generated';
import { useQuery } from '../hooks';
import { BySlug } from '../components/Detail';
import { Link, navigate, useTitle } from '../router';
import { useSession } from '../session';
import { EntitlementForm } from './Entitlements';

type Entitlement = NonNullable<NonNullable<NonNullable<EntitlementsQuery['entitlements']['edges']>[number]>['node']>;

export function EntitlementDetailPage({ slug }: { slug: string }) {
  const q = useQuery(EntitlementsDocument, { where: { slug }, first: 1 });
  const entitlement = q.data?.entitlements.edges?.[0]?.node ?? null;
  useTitle(entitlement ? entitlement.name : 'Entitlement');
  return (
    <BySlug q={q} node={entitlement} what="entitlement" slug={slug} gone="It may have been deleted.">
      {(n) => <EntitlementView entitlement={n} reload={q.refetch} />}
    </BySlug>
  );
}

function EntitlementView({ entitlement: e, reload }: { entitlement: Entitlement; reload: () => Promise<void> }) {
  const session = useSession();
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [changes, setChanges] = useState(0);
  const where = useMemo<AuditEventWhereInput>(() => ({ resourceID: e.id }), [e.id]);
  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            <Link to="/entitlements">Entitlements</Link> <span aria-hidden="true">/</span> <span>{e.name}</span>
          </>
        }
        title={e.name}
        badges={<Badge tone={e.type === 'NUMBER' ? 'blue' : e.type === 'BOOLEAN' ? 'green' : 'purple'}>{humanize(e.type)}</Badge>}
        subtitle={<span className="mono">{e.slug}</span>}
        actions={
          session.canWrite ? (
            <>
              <Button onClick={() => setEditing(true)}>Edit</Button>
              <Button variant="danger" onClick={() => setDeleting(true)}>
                Delete
              </Button>
            </>
          ) : null
        }
      />
      {notice ? <Banner tone="green" title={notice} onDismiss={() => setNotice(null)} /> : null}
      {e.description ? <p className="description">{e.description}</p> : null}
      <div className="detail-grid">
        <div className="detail-main">
          <HistoryPanel where={where} auditLink={`/audit?resource=${encodeURIComponent(e.id)}`} refreshKey={changes} />
        </div>
        <div className="detail-side">
          <Section title="Details">
            <dl className="props">
              <dt>Slug</dt>
              <dd className="mono">{e.slug}</dd>
              <dt>Type</dt>
              <dd>{humanize(e.type)}</dd>
              {e.type === 'NUMBER' ? (
                <>
                  <dt>Metering</dt>
                  <dd>
                    {humanize(e.meterType)}, {humanize(e.aggregationMethod)}
                  </dd>
                  <dt>Resets</dt>
                  <dd>{e.resetPeriod === 'NONE' ? 'Never' : `Every ${e.resetPeriod?.toLowerCase()}`}</dd>
                </>
              ) : null}
              <dt>Created</dt>
              <dd>{fmtDateTime(e.createdAt)}</dd>
            </dl>
          </Section>
          <Section title={`Granted by (${e.grants.length})`}>
            {e.grants.length === 0 ? (
              <p className="muted">No license grants it.</p>
            ) : (
              <ul className="list">
                {e.grants.map((g) => (
                  <li key={g.id}>
                    <Link to={`/licenses/${encodeURIComponent(g.license.slug)}`}>{g.license.name}</Link>
                    <span className="row-sub">{fmtValue(g.value, g.overagePercent)}</span>
                  </li>
                ))}
              </ul>
            )}
          </Section>
        </div>
      </div>
      {editing ? (
        <EntitlementForm
          entitlement={e}
          onClose={() => setEditing(false)}
          onSaved={async () => {
            setEditing(false);
            setNotice('Entitlement saved.');
            await reload();
            setChanges((n) => n + 1);
          }}
        />
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${e.name}?`}
          confirmLabel="Delete entitlement"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await request(DeleteEntitlementDocument, { id: e.id });
            navigate('/entitlements');
          }}
        >
          {e.grants.length > 0
            ? `${e.grants.length} license(s) grant it, so the server will refuse. Remove it from those licenses first.`
            : 'This deletes the entitlement. It cannot be undone.'}
        </ConfirmDialog>
      ) : null}
    </>
  );
}
