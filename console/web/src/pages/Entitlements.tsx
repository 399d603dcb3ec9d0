import { useState } from 'react';
import { request } from '../api';
import { FormDialog, NameSlugFields, useFormSubmit, useNameSlug } from '../components/Forms';
import { Badge, Button, ConfirmDialog, Field, PageHeader, Select, TextArea } from '../components/ui';
import { fmtValue, humanize, plural } from '../format';
import {
  CreateEntitlementDocument,
  DeleteEntitlementDocument,
  EntitlementsDocument,
  type EntitlementsQuery,
  UpdateEntitlementDocument,
  type EntitlementAggregationMethod,
  type EntitlementFieldsFragment,
  type EntitlementMeterType,
  type EntitlementResetPeriod,
  type EntitlementType,
  type EntitlementWhereInput,
} from '../gql/generated';
import { useDebounced, usePages, type NodeOf } from '../hooks';
import { FilterSelect, ListEmpty, ListView, NameCell, SearchField, Toolbar, type Column } from '../components/ListView';
import { Link, navigate, useLocation, useTitle } from '../router';
import { useSession } from '../session';

const TYPES: { value: EntitlementType; label: string; hint: string }[] = [
  { value: 'BOOLEAN', label: 'Boolean', hint: 'A feature that is on or off (SSO, audit log).' },
  { value: 'NUMBER', label: 'Number', hint: 'A metered quota (API calls, seats, build minutes).' },
  { value: 'CONFIG', label: 'Config', hint: 'A JSON configuration returned with decisions (branding, regions).' },
];
const METER_TYPES: EntitlementMeterType[] = ['RAW_EVENT', 'CALCULATED_USAGE'];
const AGGREGATIONS: EntitlementAggregationMethod[] = ['SUM', 'COUNT', 'AVERAGE', 'MAX', 'MIN', 'LATEST'];
const RESETS: EntitlementResetPeriod[] = ['NONE', 'HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR'];

type EntitlementRow = NodeOf<EntitlementsQuery['entitlements']>;

export function EntitlementsPage() {
  useTitle('Entitlements');
  const session = useSession();
  const { query } = useLocation();
  const [search, setSearch] = useState(query.get('q') ?? '');
  const [type, setType] = useState('');
  const [editing, setEditing] = useState<EntitlementFieldsFragment | 'new' | null>(null);
  const [deleting, setDeleting] = useState<EntitlementRow | null>(null);
  const q = useDebounced(search.trim(), 250);
  const where: EntitlementWhereInput = q ? { or: [{ slugContainsFold: q }, { nameContainsFold: q }] } : {};
  if (type) where.type = type as EntitlementType;
  const pages = usePages(
    EntitlementsDocument,
    { where, orderBy: [{ field: 'NAME', direction: 'ASC' }], first: 100 },
    (r) => r.entitlements,
  );
  const create = session.canWrite ? () => setEditing('new') : undefined;

  const columns: Column<EntitlementRow>[] = [
    {
      header: 'Entitlement',
      cell: (e) => (
        <NameCell to={`/entitlements/${encodeURIComponent(e.slug)}`} name={e.name} sub={e.slug}>
          {e.description ? <span className="row-sub">{e.description}</span> : null}
        </NameCell>
      ),
    },
    {
      header: 'Type',
      cell: (e) => <Badge tone={e.type === 'NUMBER' ? 'blue' : e.type === 'BOOLEAN' ? 'green' : 'purple'}>{humanize(e.type)}</Badge>,
    },
    {
      header: 'Metering',
      cell: (e) =>
        e.type === 'NUMBER' ? (
          <span className="small">
            {humanize(e.meterType)}, {humanize(e.aggregationMethod)}
            <span className="row-sub">{e.resetPeriod === 'NONE' ? 'Never resets' : `Resets every ${e.resetPeriod?.toLowerCase()}`}</span>
          </span>
        ) : (
          <span className="muted">—</span>
        ),
    },
    {
      header: 'Granted by',
      cell: (e) =>
        e.grants.length === 0 ? (
          <span className="muted">No license</span>
        ) : (
          <ul className="grants">
            {e.grants.map((g) => (
              <li key={g.id}>
                <Link to={`/licenses/${encodeURIComponent(g.license.slug)}`}>{g.license.name}</Link>
                <span className="muted">: {fmtValue(g.value, g.overagePercent)}</span>
              </li>
            ))}
          </ul>
        ),
    },
  ];
  if (session.canWrite) {
    columns.push({
      header: 'Actions',
      hideHeader: true,
      className: 'actions',
      cell: (e) => (
        <>
          <Button size="sm" onClick={() => setEditing(e)} aria-label={`Edit ${e.name}`}>
            Edit
          </Button>
          <Button
            size="sm"
            variant="ghost"
            onClick={() => setDeleting(e)}
            aria-label={`Delete ${e.name}`}
            disabled={e.grants.length > 0}
            aria-describedby={e.grants.length > 0 ? `why-${e.id}` : undefined}
          >
            Delete
          </Button>
          {e.grants.length > 0 ? (
            <span className="row-sub" id={`why-${e.id}`}>
              Cannot delete: {plural(e.grants.length, 'license')} {e.grants.length === 1 ? 'grants' : 'grant'} it. Remove it from{' '}
              {e.grants.length === 1 ? 'that license' : 'those licenses'} first.
            </span>
          ) : null}
        </>
      ),
    });
  }

  return (
    <>
      <PageHeader
        title="Entitlements"
        subtitle="The features, quotas and configuration that licenses can grant."
        actions={
          create ? (
            <Button variant="primary" onClick={create}>
              New entitlement
            </Button>
          ) : null
        }
      />
      <Toolbar label="Filter entitlements" busy={pages.loading && !pages.initial}>
        <SearchField
          placeholder="Slug or name"
          value={search}
          onChange={(v) => {
            setSearch(v);
            navigate(v ? `/entitlements?q=${encodeURIComponent(v)}` : '/entitlements', { replace: true });
          }}
        />
        <FilterSelect label="Type" value={type} onChange={setType} options={[{ value: '', label: 'All types' }, ...TYPES]} />
      </Toolbar>
      <ListView
        what="entitlements"
        noun={['entitlement', 'entitlements']}
        pages={pages}
        columns={columns}
        rowProps={(e) => ({ 'data-testid': `entitlement-${e.slug}` })}
        empty={
          <ListEmpty
            filtered={Boolean(q || type)}
            noMatch={q ? `No entitlement matches "${q}".` : 'No entitlement of this type.'}
            onClear={() => {
              setSearch('');
              setType('');
              navigate('/entitlements', { replace: true });
            }}
            clearLabel={q ? 'Clear search' : 'Show all types'}
            title="No entitlements yet."
            action={
              create ? (
                <Button variant="primary" onClick={create}>
                  Create your first entitlement
                </Button>
              ) : null
            }
          >
            Start with what your product sells: a feature flag (Boolean), a quota (Number) or a configuration (Config).
          </ListEmpty>
        }
      />
      {editing ? (
        <EntitlementForm
          entitlement={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(null)}
          onSaved={async () => {
            setEditing(null);
            await pages.refetch();
          }}
        />
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          confirmLabel="Delete entitlement"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await request(DeleteEntitlementDocument, { id: deleting.id });
            setDeleting(null);
            await pages.refetch();
          }}
        >
          This deletes the entitlement. It cannot be undone.
        </ConfirmDialog>
      ) : null}
    </>
  );
}

const FIELDS = ['name', 'slug', 'type', 'description', 'meterType', 'aggregationMethod', 'resetPeriod'] as const;

export function EntitlementForm({
  entitlement,
  onClose,
  onSaved,
}: {
  entitlement?: EntitlementFieldsFragment;
  onClose: () => void;
  onSaved: () => void;
}) {
  const ns = useNameSlug(entitlement);
  const { name, slug } = ns;
  const [type, setType] = useState<EntitlementType>(entitlement?.type ?? 'BOOLEAN');
  const [description, setDescription] = useState(entitlement?.description ?? '');
  const [meterType, setMeterType] = useState<EntitlementMeterType>(entitlement?.meterType ?? 'RAW_EVENT');
  const [aggregation, setAggregation] = useState<EntitlementAggregationMethod>(entitlement?.aggregationMethod ?? 'SUM');
  const [aggTouched, setAggTouched] = useState(Boolean(entitlement));
  const [reset, setReset] = useState<EntitlementResetPeriod>(entitlement?.resetPeriod ?? 'MONTH');
  const { busy, errors, run, check } = useFormSubmit(FIELDS);

  const submit = async () => {
    const local: Record<string, string> = ns.missing('entitlement', 'api-calls');
    if (!check(local)) return;
    const metering = type === 'NUMBER' ? { meterType, aggregationMethod: aggregation, resetPeriod: reset } : {};
    await run(async () => {
      if (entitlement) {
        await request(UpdateEntitlementDocument, {
          id: entitlement.id,
          input: { name: name.trim(), slug: slug.trim(), description, ...metering },
        });
      } else {
        await request(CreateEntitlementDocument, { input: { name: name.trim(), slug: slug.trim(), type, description, ...metering } });
      }
      onSaved();
    });
  };

  return (
    <FormDialog
      title={entitlement ? `Edit ${entitlement.name}` : 'New entitlement'}
      submitLabel={entitlement ? 'Save changes' : 'Create entitlement'}
      busy={busy}
      errors={errors}
      onClose={onClose}
      onSubmit={submit}
      wide
    >
      <div className="form-grid">
        <NameSlugFields state={ns} errors={errors} hint="What services ask decisions for." />
        <fieldset className="span-2 fieldset" disabled={Boolean(entitlement)}>
          <legend className="field-label">Type{entitlement ? ' (cannot change after creation)' : ''}</legend>
          <div className="radio-cards">
            {TYPES.map((t) => (
              <label key={t.value} className={type === t.value ? 'radio-card selected' : 'radio-card'}>
                <input type="radio" name="entitlement-type" value={t.value} checked={type === t.value} onChange={() => setType(t.value)} />
                <span className="radio-card-title">{t.label}</span>
                <span className="radio-card-hint">{t.hint}</span>
              </label>
            ))}
          </div>
          {errors.fields.type ? (
            <p className="field-error" role="alert">
              {errors.fields.type}
            </p>
          ) : null}
        </fieldset>
        {type === 'NUMBER' ? (
          <>
            <Field
              label="Meter type"
              error={errors.fields.meterType}
              hint="Raw events: each report is one event. Calculated usage: each report is a current total."
            >
              {(p) => (
                <Select
                  {...p}
                  value={meterType}
                  onChange={(e) => {
                    const m = e.target.value as EntitlementMeterType;
                    setMeterType(m);
                    if (!aggTouched) setAggregation(m === 'CALCULATED_USAGE' ? 'LATEST' : 'SUM');
                  }}
                >
                  {METER_TYPES.map((m) => (
                    <option key={m} value={m}>
                      {humanize(m)}
                    </option>
                  ))}
                </Select>
              )}
            </Field>
            <Field label="Aggregation" error={errors.fields.aggregationMethod} hint="How reports in one period add up.">
              {(p) => (
                <Select
                  {...p}
                  value={aggregation}
                  onChange={(e) => {
                    setAggregation(e.target.value as EntitlementAggregationMethod);
                    setAggTouched(true);
                  }}
                >
                  {AGGREGATIONS.map((a) => (
                    <option key={a} value={a}>
                      {humanize(a)}
                    </option>
                  ))}
                </Select>
              )}
            </Field>
            <Field label="Reset period" error={errors.fields.resetPeriod} hint="Usage starts again at each UTC calendar boundary.">
              {(p) => (
                <Select {...p} value={reset} onChange={(e) => setReset(e.target.value as EntitlementResetPeriod)}>
                  {RESETS.map((r) => (
                    <option key={r} value={r}>
                      {r === 'NONE' ? 'Never' : humanize(r)}
                    </option>
                  ))}
                </Select>
              )}
            </Field>
          </>
        ) : null}
        <Field label="Description" optional error={errors.fields.description} className="span-2">
          {(p) => <TextArea {...p} rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />}
        </Field>
      </div>
    </FormDialog>
  );
}
