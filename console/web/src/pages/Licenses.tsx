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
  Switch,
  TextArea,
  TextInput,
} from '../components/ui';
import { fmtDate, fmtNumber, humanize, slugify } from '../format';
import {
  CreateLicenseDocument,
  LicensesDocument,
  UpdateLicenseDocument,
  type LicenseOrderField,
  type LicenseSummaryFragment,
  type LicenseType,
  type LicenseWhereInput,
  type OrderDirection,
} from '../gql/generated';
import { useQuery } from '../hooks';
import { Link, navigate, useLocation, useTitle } from '../router';
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

export function licenseTypeTone(t: string) {
  return t === 'PAID' ? 'green' : t === 'TRIAL' ? 'amber' : t === 'DEVELOPMENT' ? 'blue' : 'neutral';
}

export function LicensesPage() {
  useTitle('Licenses');
  const session = useSession();
  const { query } = useLocation();
  const [type, setType] = useState<string>(query.get('type') ?? '');
  const [active, setActive] = useState<string>(query.get('active') ?? '');
  const [sort, setSort] = useState<LicenseOrderField>((query.get('sort') as LicenseOrderField) || 'NAME');
  const [dir, setDir] = useState<OrderDirection>((query.get('dir') as OrderDirection) || 'ASC');
  const [first, setFirst] = useState(50);
  const [creating, setCreating] = useState(false);

  const where: LicenseWhereInput = {};
  if (type) where.type = type as LicenseType;
  if (active) where.isActive = active === 'active';
  const q = useQuery(LicensesDocument, { where, orderBy: [{ field: sort, direction: dir }], first });

  const syncURL = (next: Record<string, string>) => {
    const params = new URLSearchParams({ type, active, sort, dir, ...next });
    for (const [k, v] of [...params.entries()]) if (!v || (k === 'sort' && v === 'NAME') || (k === 'dir' && v === 'ASC')) params.delete(k);
    const s = params.toString();
    navigate(s ? `/licenses?${s}` : '/licenses', { replace: true });
  };

  const filtered = Boolean(type || active);
  const conn = q.data?.licenses;
  const rows = conn?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];

  return (
    <>
      <PageHeader
        title="Licenses"
        subtitle="What each license grants. Instances get their entitlements from their license."
        actions={
          session.canWrite ? (
            <Button variant="primary" onClick={() => setCreating(true)}>
              New license
            </Button>
          ) : null
        }
      />
      <div className="toolbar" role="group" aria-label="Filter and sort licenses">
        <ToolbarField label="Type">
          {(p) => (
            <Select
              {...p}
              value={type}
              onChange={(e) => {
                setType(e.target.value);
                syncURL({ type: e.target.value });
              }}
            >
              <option value="">All types</option>
              {LICENSE_TYPES.map((t) => (
                <option key={t} value={t}>
                  {humanize(t)}
                </option>
              ))}
            </Select>
          )}
        </ToolbarField>
        <ToolbarField label="Status">
          {(p) => (
            <Select
              {...p}
              value={active}
              onChange={(e) => {
                setActive(e.target.value);
                syncURL({ active: e.target.value });
              }}
            >
              <option value="">Active and inactive</option>
              <option value="active">Active only</option>
              <option value="inactive">Inactive only</option>
            </Select>
          )}
        </ToolbarField>
        <ToolbarField label="Sort by">
          {(p) => (
            <Select
              {...p}
              value={sort}
              onChange={(e) => {
                setSort(e.target.value as LicenseOrderField);
                syncURL({ sort: e.target.value });
              }}
            >
              {SORTS.map((s) => (
                <option key={s.value} value={s.value}>
                  {s.label}
                </option>
              ))}
            </Select>
          )}
        </ToolbarField>
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
        {q.loading && q.data ? (
          <span className="toolbar-status" role="status">
            Updating…
          </span>
        ) : null}
      </div>

      {q.error && !q.data ? (
        <ErrorState what="licenses" error={q.error} onRetry={q.refetch} />
      ) : !q.data ? (
        <Loading label="Loading licenses…" />
      ) : rows.length === 0 ? (
        filtered ? (
          <EmptyState
            title="No license matches these filters."
            action={
              <Button
                onClick={() => {
                  setType('');
                  setActive('');
                  syncURL({ type: '', active: '' });
                }}
              >
                Clear filters
              </Button>
            }
          />
        ) : (
          <EmptyState
            title="No licenses yet."
            action={
              session.canWrite ? (
                <Button variant="primary" onClick={() => setCreating(true)}>
                  Create your first license
                </Button>
              ) : null
            }
          >
            {session.canWrite
              ? 'A license bundles entitlements with their values. Create one, then link entitlements to it.'
              : 'Someone with an ADMIN key can create licenses.'}
          </EmptyState>
        )
      ) : (
        <div className="table-wrap">
          <table className="table table-cards">
            <caption className="sr-only">
              Licenses, {conn?.totalCount} in all, sorted by {SORTS.find((s) => s.value === sort)?.label.toLowerCase()}{' '}
              {dir === 'ASC' ? 'ascending' : 'descending'}
            </caption>
            <thead>
              <tr>
                <th scope="col">License</th>
                <th scope="col">Type</th>
                <th scope="col">Version</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Instances
                </th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((l) => (
                <tr key={l.id}>
                  <td data-label="License">
                    <Link to={`/licenses/${encodeURIComponent(l.slug)}`} className="row-title">
                      {l.name}
                    </Link>
                    <span className="row-sub mono">{l.slug}</span>
                  </td>
                  <td data-label="Type">
                    <Badge tone={licenseTypeTone(l.type)}>{humanize(l.type)}</Badge>
                  </td>
                  <td data-label="Version">
                    <span className="mono">v{l.version}</span>
                    {l.versionName ? <span className="row-sub">{l.versionName}</span> : null}
                  </td>
                  <td data-label="Status">
                    <span className="badges">
                      {l.isActive ? <Badge tone="green">Active</Badge> : <Badge tone="red">Inactive</Badge>}
                      {l.isDefault ? <Badge tone="purple">Default</Badge> : null}
                    </span>
                  </td>
                  <td data-label="Instances" className="num">
                    {fmtNumber(l.instances.totalCount)}
                  </td>
                  <td data-label="Updated">{fmtDate(l.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="table-footer">
            <span>
              Showing {rows.length} of {conn?.totalCount}
            </span>
            {conn?.pageInfo.hasNextPage ? (
              <Button size="sm" onClick={() => setFirst((f) => f + 50)} busy={q.loading}>
                Show more
              </Button>
            ) : null}
          </div>
        </div>
      )}
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
  const [name, setName] = useState(license?.name ?? '');
  const [slug, setSlug] = useState(license?.slug ?? '');
  const [slugTouched, setSlugTouched] = useState(Boolean(license));
  const [type, setType] = useState<LicenseType>(license?.type ?? 'PAID');
  const [versionName, setVersionName] = useState(license?.versionName ?? '');
  const [description, setDescription] = useState(license?.description ?? '');
  const [isActive, setIsActive] = useState(license?.isActive ?? true);
  const [isDefault, setIsDefault] = useState(license?.isDefault ?? false);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string[] }>({ fields: {}, other: [] });

  const submit = async () => {
    const local: Record<string, string> = {};
    if (!name.trim()) local.name = 'Give the license a name.';
    if (!slug.trim()) local.slug = 'Give the license a slug, like "enterprise".';
    if (Object.keys(local).length) {
      setErrors({ fields: local, other: [] });
      return;
    }
    setBusy(true);
    setErrors({ fields: {}, other: [] });
    try {
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
    } catch (err) {
      setErrors(splitErrors(err, LICENSE_FIELDS));
      setBusy(false);
    }
  };

  const bumps = license && (type !== license.type || isActive !== license.isActive);
  return (
    <Dialog
      title={license ? `Edit ${license.name}` : 'New license'}
      onClose={onClose}
      onSubmit={submit}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            {license ? 'Save changes' : 'Create license'}
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
          hint={
            license
              ? 'Fixed once created: clients ask for it by this slug.'
              : 'Used by the API and in URLs: lower-case words joined by hyphens.'
          }
        >
          {(p) => (
            <TextInput
              {...p}
              className="input mono"
              value={slug}
              readOnly={Boolean(license)}
              spellCheck={false}
              onChange={(e) => {
                setSlug(e.target.value);
                setSlugTouched(true);
              }}
            />
          )}
        </Field>
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
    </Dialog>
  );
}
