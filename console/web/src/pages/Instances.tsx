import { useState } from 'react';
import { request, splitErrors } from '../api';
import {
  Badge,
  Button,
  ToolbarField,
  Dialog,
  EmptyState,
  ErrorBanner,
  ErrorState,
  Field,
  Loading,
  PageHeader,
  Select,
  TextArea,
  TextInput,
} from '../components/ui';
import { expiry, fmtDate, fromLocalInput, parseJSONObject, slugify, toLocalInput, type ExpiryState } from '../format';
import {
  CreateInstanceDocument,
  InstancesDocument,
  LicenseOptionsDocument,
  UpdateInstanceDocument,
  type InstanceFieldsFragment,
  type InstanceOrderField,
  type InstanceWhereInput,
  type OrderDirection,
} from '../gql/generated';
import { useDebounced, useNow, useQuery } from '../hooks';
import { Link, navigate, useLocation, useTitle } from '../router';
import { useSession } from '../session';

export function ExpiryBadge({ state }: { state: ExpiryState }) {
  if (state.kind === 'expired') return <Badge tone="red">{state.label}</Badge>;
  if (state.kind === 'soon') return <Badge tone="amber">{state.label}</Badge>;
  return <span>{state.label}</span>;
}

const SORTS: { value: InstanceOrderField; label: string; dir: OrderDirection }[] = [
  { value: 'NAME', label: 'Name', dir: 'ASC' },
  { value: 'EXPIRES_AT', label: 'Expiry, soonest first', dir: 'ASC' },
  { value: 'CREATED_AT', label: 'Newest first', dir: 'DESC' },
  { value: 'SLUG', label: 'Slug', dir: 'ASC' },
];

export function InstancesPage() {
  useTitle('Instances');
  const session = useSession();
  const { query } = useLocation();
  const [search, setSearch] = useState(query.get('q') ?? '');
  const [sort, setSort] = useState<InstanceOrderField>('NAME');
  const [first, setFirst] = useState(50);
  const [creating, setCreating] = useState(false);
  const q = useDebounced(search.trim(), 250);
  const where: InstanceWhereInput = q ? { or: [{ slugContains: q }, { nameContainsFold: q }] } : {};
  const s = SORTS.find((x) => x.value === sort)!;
  const res = useQuery(InstancesDocument, { where, orderBy: [{ field: sort, direction: s.dir }], first });
  const conn = res.data?.instances;
  const rows = conn?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
  const now = useNow();

  return (
    <>
      <PageHeader
        title="Instances"
        subtitle="The running copies of your software, each on one license."
        actions={
          session.canWrite ? (
            <Button variant="primary" onClick={() => setCreating(true)}>
              New instance
            </Button>
          ) : null
        }
      />
      <div className="toolbar" role="search">
        <ToolbarField label="Search" grow>
          {(p) => (
            <TextInput
              {...p}
              type="search"
              placeholder="Slug or name"
              value={search}
              onChange={(e) => {
                setSearch(e.target.value);
                navigate(e.target.value ? `/instances?q=${encodeURIComponent(e.target.value)}` : '/instances', { replace: true });
              }}
            />
          )}
        </ToolbarField>
        <ToolbarField label="Sort by">
          {(p) => (
            <Select {...p} value={sort} onChange={(e) => setSort(e.target.value as InstanceOrderField)}>
              {SORTS.map((x) => (
                <option key={x.value} value={x.value}>
                  {x.label}
                </option>
              ))}
            </Select>
          )}
        </ToolbarField>
        {res.loading && res.data ? (
          <span className="toolbar-status" role="status">
            Searching…
          </span>
        ) : null}
      </div>
      {res.error && !res.data ? (
        <ErrorState what="instances" error={res.error} onRetry={res.refetch} />
      ) : !res.data ? (
        <Loading label="Loading instances…" />
      ) : rows.length === 0 ? (
        q ? (
          <EmptyState title={`No instance matches "${q}".`} action={<Button onClick={() => setSearch('')}>Clear search</Button>}>
            Search looks at slugs and names.
          </EmptyState>
        ) : (
          <EmptyState
            title="No instances yet."
            action={
              session.canWrite ? (
                <Button variant="primary" onClick={() => setCreating(true)}>
                  Create your first instance
                </Button>
              ) : null
            }
          >
            An instance is one deployment of your software. Create one and it gets a license&apos;s entitlements.
          </EmptyState>
        )
      ) : (
        <div className="table-wrap">
          <table className="table table-cards">
            <caption className="sr-only">Instances, {conn?.totalCount} in all</caption>
            <thead>
              <tr>
                <th scope="col">Instance</th>
                <th scope="col">License</th>
                <th scope="col">Starts</th>
                <th scope="col">Expires</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((i) => {
                const ex = expiry(i.expiresAt, now);
                return (
                  <tr key={i.id} className={ex.kind === 'expired' ? 'row-expired' : ex.kind === 'soon' ? 'row-soon' : undefined}>
                    <td data-label="Instance">
                      <Link to={`/instances/${encodeURIComponent(i.slug)}`} className="row-title">
                        {i.name}
                      </Link>
                      <span className="row-sub mono">{i.slug}</span>
                    </td>
                    <td data-label="License">
                      {i.license ? (
                        <>
                          <Link to={`/licenses/${encodeURIComponent(i.license.slug)}`}>{i.license.name}</Link>
                          <span className="row-sub">
                            v{i.license.version}
                            {!i.license.isActive ? ' · inactive' : ''}
                          </span>
                        </>
                      ) : (
                        <Badge tone="red">No license</Badge>
                      )}
                    </td>
                    <td data-label="Starts">{fmtDate(i.startsAt)}</td>
                    <td data-label="Expires">
                      <ExpiryBadge state={ex} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <div className="table-footer">
            <span>
              Showing {rows.length} of {conn?.totalCount}
            </span>
            {conn?.pageInfo.hasNextPage ? (
              <Button size="sm" onClick={() => setFirst((f) => f + 50)} busy={res.loading}>
                Show more
              </Button>
            ) : null}
          </div>
        </div>
      )}
      {creating ? (
        <InstanceForm
          onClose={() => setCreating(false)}
          onSaved={(i) => {
            setCreating(false);
            navigate(`/instances/${encodeURIComponent(i.slug)}`);
          }}
        />
      ) : null}
    </>
  );
}

const FIELDS = ['name', 'slug', 'licenseID', 'startsAt', 'expiresAt', 'metadata'] as const;

export function InstanceForm({
  instance,
  onClose,
  onSaved,
}: {
  instance?: InstanceFieldsFragment;
  onClose: () => void;
  onSaved: (i: InstanceFieldsFragment) => void;
}) {
  const licenses = useQuery(LicenseOptionsDocument, {});
  const options = (licenses.data?.licenses.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []));
  const [name, setName] = useState(instance?.name ?? '');
  const [slug, setSlug] = useState(instance?.slug ?? '');
  const [slugTouched, setSlugTouched] = useState(Boolean(instance));
  const [licenseID, setLicenseID] = useState<string | null>(instance?.license?.id ?? null);
  const [startsAt, setStartsAt] = useState(toLocalInput(instance?.startsAt));
  const [expiresAt, setExpiresAt] = useState(toLocalInput(instance?.expiresAt));
  const [metadata, setMetadata] = useState(instance?.metadata ? JSON.stringify(instance.metadata, null, 2) : '{}');
  const [metaTouched, setMetaTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string[] }>({ fields: {}, other: [] });

  // The default license is preselected for a new instance.
  const defaultLicense = options.find((l) => l.isDefault);
  const chosen = licenseID ?? (instance ? '' : (defaultLicense?.id ?? ''));
  const parsedMeta = parseJSONObject(metadata);
  const metaError = !parsedMeta.ok && metaTouched ? parsedMeta.error : null;

  const submit = async () => {
    const local: Record<string, string> = {};
    if (!name.trim()) local.name = 'Give the instance a name.';
    if (!slug.trim()) local.slug = 'Give the instance a slug, like "eu-prod-1".';
    if (!parsedMeta.ok) {
      local.metadata = parsedMeta.error;
      setMetaTouched(true);
    }
    if (!chosen && !instance) local.licenseID = 'Pick a license. This organization has no default license to fall back on.';
    if (Object.keys(local).length) {
      setErrors({ fields: local, other: [] });
      return;
    }
    setBusy(true);
    setErrors({ fields: {}, other: [] });
    const meta = parsedMeta.ok ? parsedMeta.value : {};
    try {
      let saved: InstanceFieldsFragment;
      if (instance) {
        const input = {
          name: name.trim(),
          slug: slug.trim(),
          metadata: meta,
          ...(chosen && chosen !== instance.license?.id ? { licenseID: chosen } : {}),
          ...(startsAt ? { startsAt: fromLocalInput(startsAt) } : {}),
          ...(expiresAt ? { expiresAt: fromLocalInput(expiresAt) } : instance.expiresAt ? { clearExpiresAt: true } : {}),
        };
        saved = (await request(UpdateInstanceDocument, { id: instance.id, input })).updateInstance;
      } else {
        const input = {
          name: name.trim(),
          slug: slug.trim(),
          metadata: meta,
          ...(chosen ? { licenseID: chosen } : {}),
          ...(startsAt ? { startsAt: fromLocalInput(startsAt) } : {}),
          ...(expiresAt ? { expiresAt: fromLocalInput(expiresAt) } : {}),
        };
        saved = (await request(CreateInstanceDocument, { input })).createInstance;
      }
      onSaved(saved);
    } catch (err) {
      setErrors(splitErrors(err, FIELDS));
      setBusy(false);
    }
  };

  const selected = options.find((l) => l.id === chosen);
  return (
    <Dialog
      title={instance ? `Edit ${instance.name}` : 'New instance'}
      onClose={onClose}
      onSubmit={submit}
      wide
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            {instance ? 'Save changes' : 'Create instance'}
          </Button>
        </>
      }
    >
      <ErrorBanner messages={errors.other} />
      <div className="form-grid">
        <Field label="Name" error={errors.fields.name}>
          {(p) => (
            <TextInput
              {...p}
              value={name}
              autoFocus
              onChange={(e) => {
                setName(e.target.value);
                if (!slugTouched) setSlug(slugify(e.target.value));
              }}
            />
          )}
        </Field>
        <Field
          label="Slug"
          error={errors.fields.slug}
          hint={instance ? 'Fixed once created: clients ask for it by this slug.' : 'What services send when they ask for decisions.'}
        >
          {(p) => (
            <TextInput
              {...p}
              className="input mono"
              spellCheck={false}
              value={slug}
              readOnly={Boolean(instance)}
              onChange={(e) => {
                setSlug(e.target.value);
                setSlugTouched(true);
              }}
            />
          )}
        </Field>
        <Field
          label="License"
          className="span-2"
          error={errors.fields.licenseID ?? (licenses.error ? 'Could not load licenses; the default license will be used.' : null)}
          hint={
            selected && !selected.isActive
              ? 'This license is inactive: the instance will be denied everything.'
              : 'The default license is preselected.'
          }
        >
          {(p) => (
            <Select {...p} value={chosen} onChange={(e) => setLicenseID(e.target.value)} disabled={!licenses.data && !licenses.error}>
              {!licenses.data && !licenses.error ? <option value="">Loading licenses…</option> : null}
              {licenses.data && options.length === 0 ? <option value="">No licenses yet: create one first</option> : null}
              {licenses.data && !chosen && options.length > 0 ? <option value="">Pick a license</option> : null}
              {options.map((l) => (
                <option key={l.id} value={l.id}>
                  {l.name} ({l.slug}, v{l.version}){l.isDefault ? ' · default' : ''}
                  {!l.isActive ? ' · inactive' : ''}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <Field label="Starts" optional error={errors.fields.startsAt} hint="Default: now.">
          {(p) => <TextInput {...p} type="datetime-local" value={startsAt} onChange={(e) => setStartsAt(e.target.value)} />}
        </Field>
        <Field label="Expires" optional error={errors.fields.expiresAt} hint="Leave empty for no expiry (a trial license gets 30 days).">
          {(p) => <TextInput {...p} type="datetime-local" value={expiresAt} onChange={(e) => setExpiresAt(e.target.value)} />}
        </Field>
        <Field
          label="Metadata (JSON)"
          className="span-2"
          optional
          error={errors.fields.metadata ?? metaError}
          hint='A JSON object that policies can read, like {"region": "eu"}.'
        >
          {(p) => (
            <TextArea
              {...p}
              className="input textarea mono"
              rows={4}
              spellCheck={false}
              value={metadata}
              onChange={(e) => {
                setMetadata(e.target.value);
                setMetaTouched(true);
              }}
            />
          )}
        </Field>
      </div>
    </Dialog>
  );
}
