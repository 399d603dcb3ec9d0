import { useState } from 'react';
import { request } from '../api';
import { FormDialog, NameSlugFields, useFormSubmit, useNameSlug } from '../components/Forms';
import { Badge, Button, Field, PageHeader, Select, TextArea, TextInput } from '../components/ui';
import { expiry, fromLocalInput, parseJSONObject, toLocalInput, type ExpiryState } from '../format';
import {
  CreateInstanceDocument,
  InstancesDocument,
  type InstancesQuery,
  LicenseOptionsDocument,
  UpdateInstanceDocument,
  type InstanceFieldsFragment,
  type InstanceOrderField,
  type InstanceWhereInput,
  type OrderDirection,
} from '../gql/generated';
import { useDebounced, useNow, usePages, useQuery, type NodeOf } from '../hooks';
import { FilterSelect, ListEmpty, ListView, NameCell, SearchField, Toolbar, type Column } from '../components/ListView';
import { When } from '../components/When';
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

type InstanceRow = NodeOf<InstancesQuery['instances']>;

export function InstancesPage() {
  useTitle('Instances');
  const session = useSession();
  const { query } = useLocation();
  const [search, setSearch] = useState(query.get('q') ?? '');
  const [sort, setSort] = useState<InstanceOrderField>('NAME');
  const [creating, setCreating] = useState(false);
  const q = useDebounced(search.trim(), 250);
  const where: InstanceWhereInput = q ? { or: [{ slugContains: q }, { nameContainsFold: q }] } : {};
  const s = SORTS.find((x) => x.value === sort)!;
  const pages = usePages(InstancesDocument, { where, orderBy: [{ field: sort, direction: s.dir }], first: 50 }, (r) => r.instances);
  const now = useNow();
  const create = session.canWrite ? () => setCreating(true) : undefined;
  const setQuery = (v: string) => {
    setSearch(v);
    navigate(v ? `/instances?q=${encodeURIComponent(v)}` : '/instances', { replace: true });
  };

  const columns: Column<InstanceRow>[] = [
    { header: 'Instance', cell: (i) => <NameCell to={`/instances/${encodeURIComponent(i.slug)}`} name={i.name} sub={i.slug} /> },
    {
      header: 'License',
      cell: (i) =>
        i.license ? (
          <>
            <Link to={`/licenses/${encodeURIComponent(i.license.slug)}`}>{i.license.name}</Link>
            <span className="row-sub">
              v{i.license.version}
              {!i.license.isActive ? ' · inactive' : ''}
            </span>
          </>
        ) : (
          <Badge tone="red">No license</Badge>
        ),
    },
    { header: 'Starts', cell: (i) => <When iso={i.startsAt} date /> },
    { header: 'Expires', cell: (i) => <ExpiryBadge state={expiry(i.expiresAt, now)} /> },
  ];

  return (
    <>
      <PageHeader
        title="Instances"
        subtitle="The running copies of your software, each on one license."
        actions={
          create ? (
            <Button variant="primary" onClick={create}>
              New instance
            </Button>
          ) : null
        }
      />
      <Toolbar label="Search instances" search busy={pages.loading && !pages.initial}>
        <SearchField placeholder="Slug or name" value={search} onChange={setQuery} />
        <FilterSelect label="Sort by" value={sort} onChange={(v) => setSort(v as InstanceOrderField)} options={SORTS} />
      </Toolbar>
      <ListView
        what="instances"
        noun={['instance', 'instances']}
        pages={pages}
        columns={columns}
        rowProps={(i) => {
          const ex = expiry(i.expiresAt, now);
          return { className: ex.kind === 'expired' ? 'row-expired' : ex.kind === 'soon' ? 'row-soon' : undefined };
        }}
        empty={
          <ListEmpty
            filtered={Boolean(q)}
            noMatch={`No instance matches "${q}".`}
            onClear={() => setQuery('')}
            clearLabel="Clear search"
            title="No instances yet."
            action={
              create ? (
                <Button variant="primary" onClick={create}>
                  Create your first instance
                </Button>
              ) : null
            }
          >
            An instance is one deployment of your software. Create one and it gets a license&apos;s entitlements.
          </ListEmpty>
        }
      />
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
  const ns = useNameSlug(instance);
  const { name, slug } = ns;
  const [licenseID, setLicenseID] = useState<string | null>(instance?.license?.id ?? null);
  const [startsAt, setStartsAt] = useState(toLocalInput(instance?.startsAt));
  const [expiresAt, setExpiresAt] = useState(toLocalInput(instance?.expiresAt));
  const [metadata, setMetadata] = useState(instance?.metadata ? JSON.stringify(instance.metadata, null, 2) : '{}');
  const [metaTouched, setMetaTouched] = useState(false);
  const { busy, errors, run, check } = useFormSubmit(FIELDS);

  // The default license is preselected for a new instance.
  const defaultLicense = options.find((l) => l.isDefault);
  const chosen = licenseID ?? (instance ? '' : (defaultLicense?.id ?? ''));
  const parsedMeta = parseJSONObject(metadata);
  const metaError = !parsedMeta.ok && metaTouched ? parsedMeta.error : null;

  const submit = async () => {
    const local: Record<string, string> = ns.missing('instance', 'eu-production');
    if (!parsedMeta.ok) {
      local.metadata = parsedMeta.error;
      setMetaTouched(true);
    }
    if (!chosen && !instance) local.licenseID = 'Pick a license. This organization has no default license to fall back on.';
    if (!check(local)) return;
    const meta = parsedMeta.ok ? parsedMeta.value : {};
    await run(async () => {
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
    });
  };

  const selected = options.find((l) => l.id === chosen);
  return (
    <FormDialog
      title={instance ? `Edit ${instance.name}` : 'New instance'}
      submitLabel={instance ? 'Save changes' : 'Create instance'}
      busy={busy}
      errors={errors}
      onClose={onClose}
      onSubmit={submit}
      wide
    >
      <div className="form-grid">
        <NameSlugFields state={ns} errors={errors} hint="What services send when they ask for decisions." />
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
    </FormDialog>
  );
}
