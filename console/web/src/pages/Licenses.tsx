import { useState } from 'react';
import { request } from '../api';
import { FormDialog, NameSlugFields, useFormSubmit, useNameSlug } from '../components/Forms';
import { Badge, Button, Field, PageHeader, Select, Switch, TextArea, TextInput } from '../components/ui';
import { fmtNumber, humanize, plural } from '../format';
import {
  CreateLicenseDocument,
  LicensesDocument,
  type LicensesQuery,
  UpdateLicenseDocument,
  type LicenseOrderField,
  type LicenseSummaryFragment,
  type LicenseType,
  type LicenseWhereInput,
  type OrderDirection,
} from '../gql/generated';
import { useDebounced, usePages, type NodeOf } from '../hooks';
import { FilterSelect, ListEmpty, ListView, NameCell, SearchField, Toolbar, type Column } from '../components/ListView';
import { When } from '../components/When';
import { navigate, useLocation, useTitle } from '../router';
import { useSession } from '../session';

export const LICENSE_TYPES: LicenseType[] = ['COMMUNITY', 'TRIAL', 'DEVELOPMENT', 'PAID'];

const SORTS: { value: LicenseOrderField; label: string }[] = [
  { value: 'NAME', label: 'Name' },
  { value: 'SLUG', label: 'Slug' },
  { value: 'TYPE', label: 'Type' },
  { value: 'VERSION', label: 'Version' },
  { value: 'INSTANCES_COUNT', label: 'Instances' },
  { value: 'CREATED_AT', label: 'Created' },
  { value: 'UPDATED_AT', label: 'Last updated' },
];

const STATUSES = [
  { value: '', label: 'Active and inactive' },
  { value: 'active', label: 'Active only' },
  { value: 'inactive', label: 'Inactive only' },
];

export function licenseTypeTone(t: string) {
  return t === 'PAID' ? 'green' : t === 'TRIAL' ? 'amber' : t === 'DEVELOPMENT' ? 'blue' : 'neutral';
}

export function LicensesPage() {
  useTitle('Licenses');
  const session = useSession();
  const { query } = useLocation();
  const [search, setSearch] = useState(query.get('q') ?? '');
  const [type, setType] = useState<string>(query.get('type') ?? '');
  const [active, setActive] = useState<string>(query.get('active') ?? '');
  const [sort, setSort] = useState<LicenseOrderField>((query.get('sort') as LicenseOrderField) || 'NAME');
  const [dir, setDir] = useState<OrderDirection>((query.get('dir') as OrderDirection) || 'ASC');
  const [creating, setCreating] = useState(false);
  const q = useDebounced(search.trim(), 250);

  const where: LicenseWhereInput = q ? { or: [{ slugContainsFold: q }, { nameContainsFold: q }] } : {};
  if (type) where.type = type as LicenseType;
  if (active) where.isActive = active === 'active';
  const pages = usePages(LicensesDocument, { where, orderBy: [{ field: sort, direction: dir }], first: PAGE }, (r) => r.licenses);

  const syncURL = (next: Record<string, string>) => {
    const params = new URLSearchParams({ q: search, type, active, sort, dir, ...next });
    for (const [k, v] of [...params.entries()]) if (!v || (k === 'sort' && v === 'NAME') || (k === 'dir' && v === 'ASC')) params.delete(k);
    const s = params.toString();
    navigate(s ? `/licenses?${s}` : '/licenses', { replace: true });
  };
  const create = session.canWrite ? () => setCreating(true) : undefined;

  return (
    <>
      <PageHeader
        title="Licenses"
        subtitle="What each license grants. Instances get their entitlements from their license."
        actions={
          create ? (
            <Button variant="primary" onClick={create}>
              New license
            </Button>
          ) : null
        }
      />
      <Toolbar label="Filter and sort licenses" busy={pages.loading && !pages.initial}>
        <SearchField
          placeholder="Slug or name"
          value={search}
          onChange={(v) => {
            setSearch(v);
            syncURL({ q: v });
          }}
        />
        <FilterSelect
          label="Type"
          value={type}
          onChange={(v) => {
            setType(v);
            syncURL({ type: v });
          }}
          options={[{ value: '', label: 'All types' }, ...LICENSE_TYPES.map((t) => ({ value: t, label: humanize(t) }))]}
        />
        <FilterSelect
          label="Status"
          value={active}
          onChange={(v) => {
            setActive(v);
            syncURL({ active: v });
          }}
          options={STATUSES}
        />
        <FilterSelect
          label="Sort by"
          value={sort}
          onChange={(v) => {
            setSort(v as LicenseOrderField);
            syncURL({ sort: v });
          }}
          options={SORTS}
        />
        <Button
          className="toolbar-dir"
          aria-label={dir === 'ASC' ? 'Ascending order; switch to descending' : 'Descending order; switch to ascending'}
          onClick={() => {
            const d = dir === 'ASC' ? 'DESC' : 'ASC';
            setDir(d);
            syncURL({ dir: d });
          }}
        >
          {dir === 'ASC' ? '↑ Ascending' : '↓ Descending'}
        </Button>
      </Toolbar>
      <ListView
        what="licenses"
        noun={['license', 'licenses']}
        pages={pages}
        caption={`Licenses, ${plural(pages.totalCount ?? 0, 'license')} in all, sorted by ${SORTS.find((s) => s.value === sort)?.label.toLowerCase()} ${
          dir === 'ASC' ? 'ascending' : 'descending'
        }`}
        columns={LICENSE_COLUMNS}
        empty={
          <ListEmpty
            filtered={Boolean(q || type || active)}
            noMatch={q ? `No license matches "${q}" with these filters.` : 'No license matches these filters.'}
            onClear={() => {
              setSearch('');
              setType('');
              setActive('');
              syncURL({ q: '', type: '', active: '' });
            }}
            title="No licenses yet."
            action={
              create ? (
                <Button variant="primary" onClick={create}>
                  Create your first license
                </Button>
              ) : null
            }
          >
            {create
              ? 'A license bundles entitlements with their values. Create one, then link entitlements to it.'
              : 'Someone with an ADMIN key can create licenses.'}
          </ListEmpty>
        }
      />
      {creating ? (
        <LicenseForm
          onClose={() => setCreating(false)}
          onSaved={(l) => {
            setCreating(false);
            navigate(`/licenses/${encodeURIComponent(l.slug)}`);
          }}
        />
      ) : null}
    </>
  );
}

const PAGE = 50;

type LicenseRow = NodeOf<LicensesQuery['licenses']>;

const LICENSE_COLUMNS: Column<LicenseRow>[] = [
  { header: 'License', cell: (l) => <NameCell to={`/licenses/${encodeURIComponent(l.slug)}`} name={l.name} sub={l.slug} /> },
  { header: 'Type', cell: (l) => <Badge tone={licenseTypeTone(l.type)}>{humanize(l.type)}</Badge> },
  {
    header: 'Version',
    cell: (l) => (
      <>
        <span className="mono">v{l.version}</span>
        {l.versionName ? <span className="row-sub">{l.versionName}</span> : null}
      </>
    ),
  },
  {
    header: 'Status',
    cell: (l) => (
      <span className="badges">
        {l.isActive ? <Badge tone="green">Active</Badge> : <Badge tone="red">Inactive</Badge>}
        {l.isDefault ? <Badge tone="purple">Default</Badge> : null}
      </span>
    ),
  },
  { header: 'Instances', numeric: true, cell: (l) => fmtNumber(l.instances.totalCount) },
  { header: 'Updated', cell: (l) => <When iso={l.updatedAt} date /> },
];

const LICENSE_FIELDS = ['name', 'slug', 'type', 'versionName', 'description', 'isActive', 'isDefault'] as const;

/** Create a license, or edit one when `license` is given. */
export function LicenseForm({
  license,
  onClose,
  onSaved,
}: {
  license?: LicenseSummaryFragment;
  onClose: () => void;
  onSaved: (l: LicenseSummaryFragment) => void;
}) {
  const ns = useNameSlug(license);
  const { name, slug } = ns;
  const [type, setType] = useState<LicenseType>(license?.type ?? 'PAID');
  const [versionName, setVersionName] = useState(license?.versionName ?? '');
  const [description, setDescription] = useState(license?.description ?? '');
  const [isActive, setIsActive] = useState(license?.isActive ?? true);
  const [isDefault, setIsDefault] = useState(license?.isDefault ?? false);
  const { busy, errors, run, check } = useFormSubmit(LICENSE_FIELDS);

  const submit = async () => {
    const local: Record<string, string> = ns.missing('license', 'enterprise');
    if (!check(local)) return;
    await run(async () => {
      let saved: LicenseSummaryFragment;
      if (license) {
        const input = {
          name: name.trim(),
          slug: slug.trim(),
          type,
          description,
          isActive,
          ...(versionName.trim() ? { versionName: versionName.trim() } : license.versionName ? { clearVersionName: true } : {}),
          ...(isDefault !== license.isDefault ? { isDefault } : {}),
        };
        saved = (await request(UpdateLicenseDocument, { id: license.id, input })).updateLicense;
      } else {
        const input = {
          name: name.trim(),
          slug: slug.trim(),
          type,
          description,
          isActive,
          isDefault,
          ...(versionName.trim() ? { versionName: versionName.trim() } : {}),
        };
        saved = (await request(CreateLicenseDocument, { input })).createLicense;
      }
      onSaved(saved);
    });
  };

  const bumps = license && (type !== license.type || isActive !== license.isActive);
  return (
    <FormDialog
      title={license ? `Edit ${license.name}` : 'New license'}
      submitLabel={license ? 'Save changes' : 'Create license'}
      busy={busy}
      errors={errors}
      onClose={onClose}
      onSubmit={submit}
    >
      <div className="form-grid">
        <NameSlugFields state={ns} errors={errors} hint="Used by the API and in URLs: lower-case words joined by hyphens." />
        <Field label="Type" error={errors.fields.type}>
          {(p) => (
            <Select {...p} value={type} onChange={(e) => setType(e.target.value as LicenseType)}>
              {LICENSE_TYPES.map((t) => (
                <option key={t} value={t}>
                  {humanize(t)}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <Field
          label="Version name"
          optional
          error={errors.fields.versionName}
          hint='A label for people, like "2026.1". The version number itself counts up by itself.'
        >
          {(p) => <TextInput {...p} value={versionName} onChange={(e) => setVersionName(e.target.value)} />}
        </Field>
        <Field label="Description" optional error={errors.fields.description} className="span-2">
          {(p) => <TextArea {...p} rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />}
        </Field>
        <div className="span-2 stack">
          <Switch
            label="Active"
            checked={isActive}
            onChange={setIsActive}
            hint="An inactive license grants nothing: every decision for its instances is denied."
          />
          <Switch
            label="Default license"
            checked={isDefault}
            onChange={setIsDefault}
            hint="Instances created without a license get the default one. Making this the default clears the flag on the others."
          />
        </div>
      </div>
      {bumps ? <p className="form-note">Changing the type or the active flag creates a new version of the license.</p> : null}
    </FormDialog>
  );
}
