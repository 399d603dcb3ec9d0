// The organization's API keys: who may call the API, with what scopes,
// until when, and when each key was last used; create (the secret shown
// once) and revoke.
import { useState } from 'react';
import { request } from '../api';
import { SecretDialog } from '../components/SecretDialog';
import { FormDialog, useFormSubmit } from '../components/Forms';
import { DataTable, type Column } from '../components/ListView';
import { When } from '../components/When';
import { Badge, ConfirmDialog, EmptyState, ErrorState, Field, Loading, PageHeader, TextInput, Button, Banner } from '../components/ui';
import { fmtDateTime, fromLocalInput, keyStatus, plural } from '../format';
import { ApiKeysDocument, CreateApiKeyDocument, RevokeApiKeyDocument, type ApiKeyFieldsFragment, type ApiKeyScope } from '../gql/generated';
import { useQuery } from '../hooks';
import { useTitle } from '../router';
import { useSession } from '../session';

type Key = ApiKeyFieldsFragment;

export const SCOPES: { value: ApiKeyScope; label: string; hint: string }[] = [
  { value: 'ADMIN', label: 'ADMIN', hint: 'Everything in the organization, API keys included.' },
  { value: 'READ', label: 'READ', hint: 'Queries only: browse, never change.' },
  { value: 'CHECK', label: 'CHECK', hint: 'Decisions and usage reporting, for your services.' },
];

export function APIKeysPage() {
  useTitle('API keys');
  const session = useSession();
  const q = useQuery(ApiKeysDocument, {});
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ key: Key; secret: string } | null>(null);
  const [revoking, setRevoking] = useState<Key | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const keys = [...(q.data?.apiKeys ?? [])].sort((a, b) => Number(a.revoked) - Number(b.revoked) || b.createdAt.localeCompare(a.createdAt));
  const own = session.viewer.apiKey?.id;
  const columns: Column<Key>[] = [
    {
      header: 'Name',
      cell: (k) => (
        <>
          <span className="row-title">{k.name}</span>
          <span className="row-sub mono">{k.prefix}…</span>
          {k.id === own ? <span className="row-sub">This console signed in with it.</span> : null}
        </>
      ),
    },
    {
      header: 'Scopes',
      cell: (k) => (
        <span className="badges">
          {k.scopes.map((s) => (
            <Badge key={s} tone={s === 'ADMIN' ? 'purple' : s === 'READ' ? 'blue' : 'neutral'}>
              {s}
            </Badge>
          ))}
        </span>
      ),
    },
    { header: 'Created', cell: (k) => <When iso={k.createdAt} /> },
    { header: 'Expires', cell: (k) => <When iso={k.expiresAt} empty="Never" /> },
    { header: 'Last used', cell: (k) => <span data-testid="last-used">{k.lastUsedAt ? <When iso={k.lastUsedAt} /> : 'Never'}</span> },
    {
      header: 'Status',
      cell: (k) => {
        const st = keyStatus(k);
        return (
          <>
            <Badge tone={st.tone}>{st.label}</Badge>
            {k.revokedAt ? (
              <span className="row-sub">
                <When iso={k.revokedAt} />
              </span>
            ) : null}
          </>
        );
      },
    },
    {
      header: 'Actions',
      hideHeader: true,
      cell: (k) =>
        k.revoked ? (
          <span className="muted">—</span>
        ) : (
          <Button size="sm" variant="danger" onClick={() => setRevoking(k)} aria-label={`Revoke ${k.name}`}>
            Revoke
          </Button>
        ),
    },
  ];

  return (
    <>
      <PageHeader
        title="API keys"
        subtitle="Bearer credentials of this organization. Give each service its own key with the least scope it needs, and revoke keys that leak."
        actions={
          <>
            <Button onClick={() => void q.refetch()}>Refresh</Button>
            <Button variant="primary" onClick={() => setCreating(true)}>
              New API key
            </Button>
          </>
        }
      />
      {notice ? <Banner tone="green" title={notice} onDismiss={() => setNotice(null)} /> : null}
      {q.error && !q.data ? (
        <ErrorState what="API keys" error={q.error} onRetry={q.refetch} />
      ) : !q.data ? (
        <Loading label="Loading API keys…" />
      ) : keys.length === 0 ? (
        <EmptyState title="No API keys." />
      ) : (
        <DataTable
          caption={`API keys, ${plural(keys.length, 'key')} in all`}
          columns={columns}
          rows={keys}
          rowProps={(k) => ({ 'data-testid': `api-key-${k.prefix}` })}
          footer={<span>{plural(keys.length, 'key')}; last use is recorded to the minute.</span>}
        />
      )}
      {creating ? (
        <APIKeyForm
          onClose={() => setCreating(false)}
          onCreated={(key, secret) => {
            setCreating(false);
            setCreated({ key, secret });
            void q.refetch();
          }}
        />
      ) : null}
      {created ? (
        <SecretDialog
          secret={created.secret}
          title={`API key ${created.key.name} created`}
          label="API key secret"
          testId="api-key-secret"
          warning="The server keeps only a hash of it. If you lose the secret, revoke the key and create another."
          hint="Send it as Authorization: Bearer <secret>, or paste it into the console's sign-in."
          onClose={() => setCreated(null)}
        >
          Scopes: {created.key.scopes.join(', ')}
          {created.key.expiresAt ? `; expires ${fmtDateTime(created.key.expiresAt)}` : '; never expires'}.
        </SecretDialog>
      ) : null}
      {revoking ? (
        <ConfirmDialog
          title={`Revoke ${revoking.name}?`}
          confirmLabel="Revoke key"
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            const k = revoking;
            await request(RevokeApiKeyDocument, { id: k.id });
            setRevoking(null);
            if (k.id === own) {
              session.signOut(`You revoked the key this console signed in with (${k.name}).`);
              return;
            }
            setNotice(`${k.name} is revoked: requests with it are refused from now on.`);
            await q.refetch();
          }}
        >
          Every request with <span className="mono">{revoking.prefix}…</span> is refused from now on, in every process of the server. This
          cannot be undone: services using it need a new key.
          {revoking.id === own ? ' This console signed in with this key: you will be signed out.' : ''}
        </ConfirmDialog>
      ) : null}
    </>
  );
}

const FIELDS = ['name', 'scopes', 'expiresAt'] as const;

function APIKeyForm({ onClose, onCreated }: { onClose: () => void; onCreated: (k: Key, secret: string) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<ApiKeyScope[]>(['READ']);
  const [expires, setExpires] = useState('');
  const { busy, errors, run, check } = useFormSubmit(FIELDS);
  const toggle = (s: ApiKeyScope, on: boolean) =>
    setScopes((cur) => (on ? [...cur.filter((x) => x !== s), s] : cur.filter((x) => x !== s)));

  const submit = async () => {
    const fields: Record<string, string> = {};
    if (!name.trim()) fields.name = 'Name the key after the service or person that uses it.';
    if (scopes.length === 0) fields.scopes = 'Choose at least one scope.';
    const expiresAt = fromLocalInput(expires);
    if (expires && !expiresAt) fields.expiresAt = 'Enter a date and time, or leave it empty for a key that never expires.';
    if (!check(fields)) return;
    await run(async () => {
      const order = SCOPES.map((s) => s.value).filter((s) => scopes.includes(s));
      const r = await request(CreateApiKeyDocument, { input: { name: name.trim(), scopes: order, ...(expiresAt ? { expiresAt } : {}) } });
      onCreated(r.createAPIKey.apiKey, r.createAPIKey.secret);
    });
  };

  return (
    <FormDialog title="New API key" submitLabel="Create key" busy={busy} errors={errors} onClose={onClose} onSubmit={submit} wide>
      <div className="stack">
        <Field label="Name" error={errors.fields.name} hint="Who uses it, e.g. billing-service or Jane's laptop.">
          {(p) => <TextInput {...p} autoFocus value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <fieldset className="fieldset" aria-describedby={errors.fields.scopes ? 'scopes-error' : undefined}>
          <legend className="field-label">Scopes</legend>
          <div className="radio-cards">
            {SCOPES.map((s) => (
              <label key={s.value} className={scopes.includes(s.value) ? 'radio-card selected' : 'radio-card'}>
                <input type="checkbox" checked={scopes.includes(s.value)} onChange={(e) => toggle(s.value, e.target.checked)} />
                <span className="radio-card-title">{s.label}</span>
                <span className="radio-card-hint">{s.hint}</span>
              </label>
            ))}
          </div>
          {errors.fields.scopes ? (
            <p className="field-error" id="scopes-error" role="alert">
              {errors.fields.scopes}
            </p>
          ) : null}
        </fieldset>
        <Field label="Expires" optional error={errors.fields.expiresAt} hint="Your local time. Empty: the key never expires.">
          {(p) => <TextInput {...p} type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />}
        </Field>
      </div>
    </FormDialog>
  );
}
