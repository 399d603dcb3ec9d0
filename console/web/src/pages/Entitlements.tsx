import { useState } from 'react';
import { request, splitErrors } from '../api';
import {
  Badge,
  Button,
  ToolbarField,
  ConfirmDialog,
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
import { fmtValue, humanize, slugify } from '../format';
import {
  CreateEntitlementDocument,
  DeleteEntitlementDocument,
  EntitlementsDocument,
  UpdateEntitlementDocument,
  type EntitlementAggregationMethod,
  type EntitlementFieldsFragment,
  type EntitlementMeterType,
  type EntitlementResetPeriod,
  type EntitlementType,
  type EntitlementWhereInput,
} from '../gql/generated';
import { useQuery } from '../hooks';
import { Link, useTitle } from '../router';
import { useSession } from '../session';

const TYPES: { value: EntitlementType; label: string; hint: string }[] = [
  { value: 'BOOLEAN', label: 'Boolean', hint: 'A feature that is on or off (SSO, audit log).' },
  { value: 'NUMBER', label: 'Number', hint: 'A metered quota (API calls, seats, build minutes).' },
  { value: 'CONFIG', label: 'Config', hint: 'A JSON configuration returned with decisions (branding, regions).' },
];
const METER_TYPES: EntitlementMeterType[] = ['RAW_EVENT', 'CALCULATED_USAGE'];
const AGGREGATIONS: EntitlementAggregationMethod[] = ['SUM', 'COUNT', 'AVERAGE', 'MAX', 'MIN', 'LATEST'];
const RESETS: EntitlementResetPeriod[] = ['NONE', 'HOUR', 'DAY', 'WEEK', 'MONTH', 'YEAR'];

export function EntitlementsPage() {
  useTitle('Entitlements');
  const session = useSession();
  const [type, setType] = useState('');
  const [first, setFirst] = useState(100);
  const [editing, setEditing] = useState<EntitlementFieldsFragment | 'new' | null>(null);
  const [deleting, setDeleting] = useState<(EntitlementFieldsFragment & { grants: unknown[] }) | null>(null);
  const where: EntitlementWhereInput = type ? { type: type as EntitlementType } : {};
  const q = useQuery(EntitlementsDocument, { where, orderBy: [{ field: 'NAME', direction: 'ASC' }], first });
  const conn = q.data?.entitlements;
  const rows = conn?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];

  return (
    <>
      <PageHeader
        title="Entitlements"
        subtitle="The features, quotas and configuration that licenses can grant."
        actions={
          session.canWrite ? (
            <Button variant="primary" onClick={() => setEditing('new')}>
              New entitlement
            </Button>
          ) : null
        }
      />
      <div className="toolbar" role="group" aria-label="Filter entitlements">
        <ToolbarField label="Type">
          {(p) => (
            <Select {...p} value={type} onChange={(e) => setType(e.target.value)}>
              <option value="">All types</option>
              {TYPES.map((t) => (
                <option key={t.value} value={t.value}>
                  {t.label}
                </option>
              ))}
            </Select>
          )}
        </ToolbarField>
        {q.loading && q.data ? (
          <span className="toolbar-status" role="status">
            Updating…
          </span>
        ) : null}
      </div>
      {q.error && !q.data ? (
        <ErrorState what="entitlements" error={q.error} onRetry={q.refetch} />
      ) : !q.data ? (
        <Loading label="Loading entitlements…" />
      ) : rows.length === 0 ? (
        type ? (
          <EmptyState title="No entitlement of this type." action={<Button onClick={() => setType('')}>Show all types</Button>} />
        ) : (
          <EmptyState
            title="No entitlements yet."
            action={
              session.canWrite ? (
                <Button variant="primary" onClick={() => setEditing('new')}>
                  Create your first entitlement
                </Button>
              ) : null
            }
          >
            Start with what your product sells: a feature flag (Boolean), a quota (Number) or a configuration (Config).
          </EmptyState>
        )
      ) : (
        <div className="table-wrap">
          <table className="table table-cards">
            <caption className="sr-only">Entitlements, {conn?.totalCount} in all</caption>
            <thead>
              <tr>
                <th scope="col">Entitlement</th>
                <th scope="col">Type</th>
                <th scope="col">Metering</th>
                <th scope="col">Granted by</th>
                {session.canWrite ? (
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {rows.map((e) => (
                <tr key={e.id} data-testid={`entitlement-${e.slug}`}>
                  <td data-label="Entitlement">
                    <Link to={`/entitlements/${encodeURIComponent(e.slug)}`} className="row-title">
                      {e.name}
                    </Link>
                    <span className="row-sub mono">{e.slug}</span>
                    {e.description ? <span className="row-sub">{e.description}</span> : null}
                  </td>
                  <td data-label="Type">
                    <Badge tone={e.type === 'NUMBER' ? 'blue' : e.type === 'BOOLEAN' ? 'green' : 'purple'}>{humanize(e.type)}</Badge>
                  </td>
                  <td data-label="Metering">
                    {e.type === 'NUMBER' ? (
                      <span className="small">
                        {humanize(e.meterType)}, {humanize(e.aggregationMethod)}
                        <span className="row-sub">
                          {e.resetPeriod === 'NONE' ? 'Never resets' : `Resets every ${e.resetPeriod?.toLowerCase()}`}
                        </span>
                      </span>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td data-label="Granted by">
                    {e.grants.length === 0 ? (
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
                    )}
                  </td>
                  {session.canWrite ? (
                    <td className="actions">
                      <Button size="sm" onClick={() => setEditing(e)} aria-label={`Edit ${e.name}`}>
                        Edit
                      </Button>
                      <Button size="sm" variant="ghost" onClick={() => setDeleting(e)} aria-label={`Delete ${e.name}`}>
                        Delete
                      </Button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
          <div className="table-footer">
            <span>
              Showing {rows.length} of {conn?.totalCount}
            </span>
            {conn?.pageInfo.hasNextPage ? (
              <Button size="sm" onClick={() => setFirst((f) => f + 100)} busy={q.loading}>
                Show more
              </Button>
            ) : null}
          </div>
        </div>
      )}
      {editing ? (
        <EntitlementForm
          entitlement={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(null)}
          onSaved={async () => {
            setEditing(null);
            await q.refetch();
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
            await q.refetch();
          }}
        >
          {deleting.grants.length > 0
            ? `${deleting.grants.length} license(s) grant it, so the server will refuse. Remove it from those licenses first.`
            : 'This deletes the entitlement. It cannot be undone.'}
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
  const [name, setName] = useState(entitlement?.name ?? '');
  const [slug, setSlug] = useState(entitlement?.slug ?? '');
  const [slugTouched, setSlugTouched] = useState(Boolean(entitlement));
  const [type, setType] = useState<EntitlementType>(entitlement?.type ?? 'BOOLEAN');
  const [description, setDescription] = useState(entitlement?.description ?? '');
  const [meterType, setMeterType] = useState<EntitlementMeterType>(entitlement?.meterType ?? 'RAW_EVENT');
  const [aggregation, setAggregation] = useState<EntitlementAggregationMethod>(entitlement?.aggregationMethod ?? 'SUM');
  const [aggTouched, setAggTouched] = useState(Boolean(entitlement));
  const [reset, setReset] = useState<EntitlementResetPeriod>(entitlement?.resetPeriod ?? 'MONTH');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string[] }>({ fields: {}, other: [] });

  const submit = async () => {
    const local: Record<string, string> = {};
    if (!name.trim()) local.name = 'Give the entitlement a name.';
    if (!slug.trim()) local.slug = 'Give the entitlement a slug, like "api-calls".';
    if (Object.keys(local).length) {
      setErrors({ fields: local, other: [] });
      return;
    }
    setBusy(true);
    setErrors({ fields: {}, other: [] });
    const metering = type === 'NUMBER' ? { meterType, aggregationMethod: aggregation, resetPeriod: reset } : {};
    try {
      if (entitlement) {
        await request(UpdateEntitlementDocument, {
          id: entitlement.id,
          input: { name: name.trim(), slug: slug.trim(), description, ...metering },
        });
      } else {
        await request(CreateEntitlementDocument, { input: { name: name.trim(), slug: slug.trim(), type, description, ...metering } });
      }
      onSaved();
    } catch (err) {
      setErrors(splitErrors(err, FIELDS));
      setBusy(false);
    }
  };

  return (
    <Dialog
      title={entitlement ? `Edit ${entitlement.name}` : 'New entitlement'}
      onClose={onClose}
      onSubmit={submit}
      wide
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            {entitlement ? 'Save changes' : 'Create entitlement'}
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
          hint={entitlement ? 'Fixed once created: clients ask for it by this slug.' : 'What services ask decisions for.'}
        >
          {(p) => (
            <TextInput
              {...p}
              className="input mono"
              spellCheck={false}
              value={slug}
              readOnly={Boolean(entitlement)}
              onChange={(e) => {
                setSlug(e.target.value);
                setSlugTouched(true);
              }}
            />
          )}
        </Field>
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
    </Dialog>
  );
}
