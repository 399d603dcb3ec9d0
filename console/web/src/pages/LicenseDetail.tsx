import { useCallback, useMemo, useState } from 'react';
import { request } from '../api';
import {
  Badge,
  Banner,
  Button,
  ConfirmDialog,
  EmptyState,
  ErrorBanner,
  ErrorState,
  Loading,
  PageHeader,
  Section,
  errorText,
} from '../components/ui';
import { LinkEditor, type LinkTarget } from '../components/LinkEditor';
import { LicenseHistoryPanel } from '../components/Audit';
import { actorLabel, type AuditEvent } from '../audit';
import { asLinkValue, diffVersions, expiry, fmtValue, humanize, oneLineJSON, plural } from '../format';
import {
  DeleteLicenseDocument,
  EntitlementOptionsDocument,
  LicenseDetailDocument,
  RemoveLicenseEntitlementDocument,
  UpdateLicenseDocument,
  type LicenseDetailQuery,
} from '../gql/generated';
import { useQuery } from '../hooks';
import { BySlug } from '../components/Detail';
import { Link, navigate, useTitle } from '../router';
import { useSession } from '../session';
import { When } from '../components/When';
import { LicenseForm, licenseTypeTone } from './Licenses';

type License = NonNullable<NonNullable<NonNullable<LicenseDetailQuery['licenses']['edges']>[number]>['node']>;
type Link_ = License['entitlements'][number];

export function LicenseDetailPage({ slug }: { slug: string }) {
  const q = useQuery(LicenseDetailDocument, { slug });
  const license = q.data?.licenses.edges?.[0]?.node ?? null;
  useTitle(license ? license.name : 'License');

  return (
    <BySlug q={q} node={license} what="license" slug={slug}>
      {(n) => <LicenseView license={n} reload={q.refetch} reloading={q.loading} />}
    </BySlug>
  );
}

function LicenseView({ license, reload, reloading }: { license: License; reload: () => Promise<void>; reloading: boolean }) {
  const session = useSession();
  const [editing, setEditing] = useState(false);
  const [confirm, setConfirm] = useState<null | 'delete' | 'deactivate' | 'default'>(null);
  const [linkTarget, setLinkTarget] = useState<LinkTarget | null>(null);
  const [removing, setRemoving] = useState<Link_ | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  // Who made each version, from the events of the History panel that
  // carry a license version (the events name their actor; versions do not).
  const [authors, setAuthors] = useState<Map<number, AuditEvent>>(new Map());
  const onEvents = useCallback((events: AuditEvent[]) => {
    const m = new Map<number, AuditEvent>();
    for (const e of events) if (e.licenseVersion != null && !m.has(e.licenseVersion)) m.set(e.licenseVersion, e);
    setAuthors(m);
  }, []);

  const setActive = async (isActive: boolean) => {
    await request(UpdateLicenseDocument, { id: license.id, input: { isActive } });
    setConfirm(null);
    setNotice(isActive ? 'License activated.' : 'License deactivated. Its instances are now denied everything.');
    await reload();
  };

  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            <Link to="/licenses">Licenses</Link> <span aria-hidden="true">/</span> <span>{license.name}</span>
          </>
        }
        title={license.name}
        badges={
          <>
            <Badge tone={licenseTypeTone(license.type)}>{humanize(license.type)}</Badge>
            {license.isActive ? <Badge tone="green">Active</Badge> : <Badge tone="red">Inactive</Badge>}
            {license.isDefault ? <Badge tone="purple">Default</Badge> : null}
          </>
        }
        subtitle={
          <>
            <span className="mono">{license.slug}</span> · <span data-testid="license-version">Version {license.version}</span>
            {license.versionName ? ` (${license.versionName})` : ''}
          </>
        }
        actions={
          session.canWrite ? (
            <>
              <Button onClick={() => setEditing(true)}>Edit</Button>
              {!license.isDefault ? (
                <Button
                  onClick={() => setConfirm('default')}
                  disabled={!license.isActive}
                  title={license.isActive ? undefined : 'Activate the license first'}
                >
                  Make default
                </Button>
              ) : null}
              {license.isActive ? (
                <Button onClick={() => setConfirm('deactivate')}>Deactivate</Button>
              ) : (
                <Button
                  onClick={async () => {
                    setActionError(null);
                    try {
                      await setActive(true);
                    } catch (err) {
                      setActionError(errorText(err));
                    }
                  }}
                >
                  Activate
                </Button>
              )}
              <Button
                variant="danger"
                onClick={() => setConfirm('delete')}
                disabled={license.instances.totalCount > 0}
                aria-describedby={license.instances.totalCount > 0 ? 'delete-blocked' : undefined}
              >
                Delete
              </Button>
            </>
          ) : null
        }
      />
      {notice ? <Banner tone="green" title={notice} onDismiss={() => setNotice(null)} /> : null}
      {session.canWrite && license.instances.totalCount > 0 ? (
        <p className="muted small blocked-note" id="delete-blocked">
          Cannot delete: {plural(license.instances.totalCount, 'instance')} {license.instances.totalCount === 1 ? 'uses' : 'use'} this
          license (see <a href="#license-instances">Instances</a> below). Move {license.instances.totalCount === 1 ? 'it' : 'them'} to
          another license first.
        </p>
      ) : null}
      {actionError ? <ErrorBanner messages={[actionError]} onDismiss={() => setActionError(null)} /> : null}
      {!license.isActive ? (
        <Banner tone="amber" title="This license is inactive.">
          It grants nothing: decisions for its instances say LICENSE_INACTIVE.
        </Banner>
      ) : null}
      {license.description ? <p className="description">{license.description}</p> : null}

      <div className="detail-grid">
        <div className="detail-main">
          <LinksSection license={license} onEdit={setLinkTarget} onRemove={setRemoving} />
          <VersionsSection license={license} authors={authors} />
          <LicenseHistoryPanel licenseID={license.id} onEvents={onEvents} refreshKey={`${license.version}:${license.updatedAt}`} />
        </div>
        <div className="detail-side">
          <Section title="Details">
            <dl className="props">
              <dt>Slug</dt>
              <dd className="mono">{license.slug}</dd>
              <dt>Version</dt>
              <dd>
                {license.version}
                {license.versionName ? ` · ${license.versionName}` : ''}
              </dd>
              <dt>Created</dt>
              <dd>
                <When iso={license.createdAt} />
              </dd>
              <dt>Updated</dt>
              <dd>
                <When iso={license.updatedAt} />
              </dd>
            </dl>
          </Section>
          <InstancesSection license={license} />
        </div>
      </div>
      {reloading ? (
        <span className="sr-only" role="status">
          Refreshing…
        </span>
      ) : null}

      {editing ? (
        <LicenseForm
          license={license}
          onClose={() => setEditing(false)}
          onSaved={async (l) => {
            setEditing(false);
            setNotice('License saved.');
            if (l.slug !== license.slug) navigate(`/licenses/${encodeURIComponent(l.slug)}`, { replace: true });
            else await reload();
          }}
        />
      ) : null}
      {linkTarget ? (
        <LinkEditor
          licenseID={license.id}
          target={linkTarget}
          onClose={() => setLinkTarget(null)}
          onSaved={async (msg) => {
            setLinkTarget(null);
            setNotice(msg);
            await reload();
          }}
        />
      ) : null}
      {removing ? (
        <ConfirmDialog
          title={`Remove ${removing.entitlement.name}?`}
          confirmLabel="Remove entitlement"
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await request(RemoveLicenseEntitlementDocument, { licenseID: license.id, entitlementID: removing.entitlement.id });
            setRemoving(null);
            setNotice(`Removed ${removing.entitlement.name}. The license is now at a new version.`);
            await reload();
          }}
        >
          Instances on <strong>{license.name}</strong> will no longer be entitled to <strong>{removing.entitlement.name}</strong>. This
          creates version {license.version + 1} of the license.
        </ConfirmDialog>
      ) : null}
      {confirm === 'delete' ? (
        <ConfirmDialog
          title={`Delete ${license.name}?`}
          confirmLabel="Delete license"
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            await request(DeleteLicenseDocument, { id: license.id });
            navigate('/licenses');
          }}
        >
          This deletes the license and its version history. It cannot be undone.
        </ConfirmDialog>
      ) : null}
      {confirm === 'deactivate' ? (
        <ConfirmDialog
          title={`Deactivate ${license.name}?`}
          confirmLabel="Deactivate"
          onClose={() => setConfirm(null)}
          onConfirm={() => setActive(false)}
        >
          An inactive license grants nothing. Its {plural(license.instances.totalCount, 'instance')} will be denied every entitlement until
          you activate it again. This creates version {license.version + 1}.
        </ConfirmDialog>
      ) : null}
      {confirm === 'default' ? (
        <ConfirmDialog
          title={`Make ${license.name} the default?`}
          confirmLabel="Make default"
          tone="primary"
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            await request(UpdateLicenseDocument, { id: license.id, input: { isDefault: true } });
            setConfirm(null);
            setNotice(`${license.name} is now the default license.`);
            await reload();
          }}
        >
          Instances created without a license will get {license.name}. The current default license loses the flag; existing instances keep
          their licenses.
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function LinksSection({ license, onEdit, onRemove }: { license: License; onEdit: (t: LinkTarget) => void; onRemove: (l: Link_) => void }) {
  const session = useSession();
  const [adding, setAdding] = useState(false);
  const options = useQuery(EntitlementOptionsDocument, {}, { skip: !adding });
  const linked = new Set(license.entitlements.map((l) => l.entitlement.id));
  const available = (options.data?.entitlements.edges ?? []).flatMap((e) => (e?.node && !linked.has(e.node.id) ? [e.node] : []));
  const links = [...license.entitlements].sort((a, b) => a.entitlement.name.localeCompare(b.entitlement.name));

  return (
    <Section
      title="Entitlements"
      description="What this license grants, with the value of each."
      actions={
        session.canWrite ? (
          <Button size="sm" variant="primary" onClick={() => setAdding((a) => !a)} aria-expanded={adding}>
            Add entitlement
          </Button>
        ) : null
      }
    >
      {adding ? (
        <div className="picker" role="group" aria-label="Pick an entitlement to add">
          {options.error ? (
            <ErrorState what="entitlements" error={options.error} onRetry={options.refetch} />
          ) : !options.data ? (
            <Loading label="Loading entitlements…" />
          ) : available.length === 0 ? (
            <p className="muted">
              Every entitlement is already linked. <Link to="/entitlements">Create another entitlement</Link> first.
            </p>
          ) : (
            <ul className="picker-list">
              {available.map((e) => (
                <li key={e.id}>
                  <button
                    type="button"
                    className="picker-item"
                    onClick={() => {
                      setAdding(false);
                      onEdit({ entitlement: e, link: null });
                    }}
                  >
                    <span className="picker-name">{e.name}</span>
                    <span className="mono row-sub">{e.slug}</span>
                    <Badge>{humanize(e.type)}</Badge>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      ) : null}
      {links.length === 0 ? (
        <EmptyState title="This license grants nothing yet.">
          {session.canWrite
            ? 'Add an entitlement and give it a value: a limit, an on/off switch, or a configuration.'
            : 'An ADMIN key can link entitlements.'}
        </EmptyState>
      ) : (
        <table className="table table-cards">
          <caption className="sr-only">Entitlements of {license.name}</caption>
          <thead>
            <tr>
              <th scope="col">Entitlement</th>
              <th scope="col">Type</th>
              <th scope="col">Value</th>
              {session.canWrite ? (
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {links.map((l) => (
              <tr key={l.id} data-testid={`link-${l.entitlement.slug}`}>
                <td data-label="Entitlement">
                  <span className="row-title">{l.entitlement.name}</span>
                  <span className="row-sub mono">{l.entitlement.slug}</span>
                </td>
                <td data-label="Type">
                  <Badge>{humanize(l.entitlement.type)}</Badge>
                </td>
                <td data-label="Value">
                  <LinkValueView value={l.value} overagePercent={l.overagePercent} resetPeriod={l.entitlement.resetPeriod} />
                </td>
                {session.canWrite ? (
                  <td className="actions">
                    <Button
                      size="sm"
                      onClick={() => onEdit({ entitlement: l.entitlement, link: l })}
                      aria-label={`Change ${l.entitlement.name}`}
                    >
                      Change
                    </Button>
                    <Button size="sm" variant="ghost" onClick={() => onRemove(l)} aria-label={`Remove ${l.entitlement.name}`}>
                      Remove
                    </Button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function LinkValueView({
  value,
  overagePercent,
  resetPeriod,
}: {
  value: unknown;
  overagePercent?: number | null;
  resetPeriod?: string | null;
}) {
  const v = asLinkValue(value);
  if (v.type === 'boolean') return v.value ? <Badge tone="green">Enabled</Badge> : <Badge tone="neutral">Disabled</Badge>;
  if (v.type === 'object') return <code className="code code-block">{oneLineJSON(v.value)}</code>;
  if (v.type === 'number') {
    return (
      <span>
        <strong>{fmtValue(value)}</strong>
        {resetPeriod && resetPeriod !== 'NONE' && Number(v.value) !== -1 ? (
          <span className="muted"> per {resetPeriod.toLowerCase()}</span>
        ) : null}
        {overagePercent ? <span className="row-sub">+{overagePercent}% overage allowed</span> : null}
      </span>
    );
  }
  return <span>{fmtValue(value)}</span>;
}

function VersionsSection({ license, authors }: { license: License; authors: Map<number, AuditEvent> }) {
  const versions = useMemo(() => (license.versions.edges ?? []).flatMap((e) => (e?.node ? [e.node] : [])), [license.versions.edges]);
  return (
    <Section title="Version history" description="Every change to the terms creates a version. Each keeps what the license granted then.">
      {versions.length === 0 ? (
        <p className="muted">No versions recorded.</p>
      ) : (
        <ol className="timeline" aria-label="Versions, newest first">
          {versions.map((v, i) => {
            const prev = versions[i + 1];
            const diff = diffVersions(prev, v);
            return (
              <li key={v.id} className="timeline-item" data-testid={`version-${v.version}`}>
                <div className="timeline-head">
                  <span className="timeline-version">v{v.version}</span>
                  {i === 0 ? <Badge tone="blue">Current</Badge> : null}
                  {!v.isActive ? <Badge tone="red">Inactive</Badge> : null}
                  <span className="muted timeline-date">
                    <When iso={v.createdAt} />
                  </span>
                  {authors.has(v.version) ? (
                    <span className="timeline-author" data-testid={`version-${v.version}-author`}>
                      by {actorLabel(authors.get(v.version)!)}
                    </span>
                  ) : null}
                </div>
                {diff.length === 0 && v.change ? (
                  <p className="timeline-change">{v.change.charAt(0).toUpperCase() + v.change.slice(1)}</p>
                ) : null}
                {diff.length > 0 ? (
                  <ul className="diff" aria-label={`Changes in version ${v.version}`}>
                    {diff.map((d, j) => (
                      <li key={j} className={`diff-${d.kind}`}>
                        <span className="diff-sign" aria-hidden="true">
                          {d.kind === 'add' ? '+' : d.kind === 'remove' ? '−' : '~'}
                        </span>
                        <span className="sr-only">{d.kind === 'add' ? 'Added: ' : d.kind === 'remove' ? 'Removed: ' : 'Changed: '}</span>
                        {d.text}
                      </li>
                    ))}
                  </ul>
                ) : null}
                <details className="snapshot">
                  <summary>
                    Terms at v{v.version} ({v.terms.length})
                  </summary>
                  {v.terms.length === 0 ? (
                    <p className="muted">Granted nothing.</p>
                  ) : (
                    <ul className="terms">
                      {v.terms.map((t) => (
                        <li key={t.entitlementID}>
                          <span className="mono">{t.entitlementSlug}</span> {fmtValue(t.value, t.overagePercent)}
                        </li>
                      ))}
                    </ul>
                  )}
                  <p className="muted">
                    Type {humanize(v.type)}, {v.isActive ? 'active' : 'inactive'}.
                  </p>
                </details>
              </li>
            );
          })}
        </ol>
      )}
    </Section>
  );
}

function InstancesSection({ license }: { license: License }) {
  const rows = (license.instances.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []));
  return (
    <Section id="license-instances" title={`Instances (${license.instances.totalCount})`} description="Instances on this license.">
      {rows.length === 0 ? (
        <p className="muted">
          No instance uses this license yet. <Link to="/instances">Go to instances</Link> to create one.
        </p>
      ) : (
        <ul className="list">
          {rows.map((i) => {
            const ex = expiry(i.expiresAt);
            return (
              <li key={i.id}>
                <Link to={`/instances/${encodeURIComponent(i.slug)}`}>{i.name}</Link>
                <span className="row-sub mono">{i.slug}</span>
                {ex.kind === 'expired' ? (
                  <Badge tone="red">{ex.label}</Badge>
                ) : ex.kind === 'soon' ? (
                  <Badge tone="amber">{ex.label}</Badge>
                ) : null}
              </li>
            );
          })}
          {license.instances.totalCount > rows.length ? (
            <li className="muted">
              and {license.instances.totalCount - rows.length} more; see <Link to="/instances">Instances</Link>.
            </li>
          ) : null}
        </ul>
      )}
    </Section>
  );
}
