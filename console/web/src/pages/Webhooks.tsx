import { useState } from 'react';
import { SecretDialog } from '../components/SecretDialog';
import { request, splitErrors } from '../api';
import { AUDIT_ACTIONS } from '../audit';
import { Badge, Button, Dialog, EmptyState, ErrorBanner, Field, PageHeader, Switch, TextArea, TextInput } from '../components/ui';
import { fmtNumber } from '../format';
import {
  CreateWebhookEndpointDocument,
  UpdateWebhookEndpointDocument,
  WebhookEndpointsDocument,
  type WebhookEndpointFieldsFragment,
} from '../gql/generated';
import { usePages } from '../hooks';
import { ListView, type Column } from '../components/ListView';
import { Link, navigate, useTitle } from '../router';
import { useSession } from '../session';
import { When } from '../components/When';

export type Endpoint = WebhookEndpointFieldsFragment;

export function WebhooksPage() {
  useTitle('Webhooks');
  const session = useSession();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ endpoint: Endpoint; secret: string } | null>(null);
  const pages = usePages(WebhookEndpointsDocument, { first: 100 }, (r) => r.webhookEndpoints);

  return (
    <>
      <PageHeader
        title="Webhooks"
        subtitle="Endpoints that receive this organization's events as signed HTTP POSTs (Standard Webhooks), retried until they answer."
        actions={
          session.canWrite ? (
            <Button variant="primary" onClick={() => setCreating(true)}>
              New endpoint
            </Button>
          ) : null
        }
      />
      <ListView
        what="webhook endpoints"
        noun={['endpoint', 'endpoints']}
        pages={pages}
        columns={COLUMNS}
        rowProps={() => ({ 'data-testid': 'webhook-endpoint' })}
        empty={
          <EmptyState
            title="No webhook endpoints yet."
            action={
              session.canWrite ? (
                <Button variant="primary" onClick={() => setCreating(true)}>
                  Add your first endpoint
                </Button>
              ) : null
            }
          >
            An endpoint is a URL of yours that gets a POST for every change it subscribes to: a license changed, a quota crossed 80 %, an
            instance about to expire.
          </EmptyState>
        }
      />
      {creating ? (
        <EndpointForm
          onClose={() => setCreating(false)}
          onCreated={(endpoint, secret) => {
            setCreating(false);
            setCreated({ endpoint, secret });
            void pages.refetch();
          }}
          onSaved={() => {}}
        />
      ) : null}
      {created ? (
        <SecretDialog
          secret={created.secret}
          title="Endpoint created: its signing secret"
          onClose={() => {
            const id = created.endpoint.id;
            setCreated(null);
            navigate(`/webhooks/${encodeURIComponent(id)}`);
          }}
        >
          Deliveries to <span className="mono">{created.endpoint.url}</span> are signed with this secret.
        </SecretDialog>
      ) : null}
    </>
  );
}

const COLUMNS: Column<Endpoint>[] = [
  {
    header: 'Endpoint',
    cell: (e) => (
      <>
        <Link to={`/webhooks/${encodeURIComponent(e.id)}`} className="row-title mono url">
          {e.url}
        </Link>
        {e.description ? <span className="row-sub">{e.description}</span> : null}
      </>
    ),
  },
  { header: 'Events', cell: (e) => <EventTypes types={e.eventTypes} /> },
  { header: 'Status', cell: (e) => <EnabledBadge endpoint={e} /> },
  { header: 'Health', cell: (e) => <Health endpoint={e} /> },
];

export function EventTypes({ types }: { types: string[] | null }) {
  if (!types || types.length === 0) return <span className="muted">All events</span>;
  return (
    <span className="badges">
      {types.map((t) => (
        <Badge key={t}>
          <span className="mono">{t}</span>
        </Badge>
      ))}
    </span>
  );
}

export function EnabledBadge({ endpoint: e }: { endpoint: Endpoint }) {
  if (e.enabled) return <Badge tone="green">Enabled</Badge>;
  return (
    <span>
      <Badge tone="red">Disabled</Badge>
      {e.disabledReason ? <span className="row-sub">{e.disabledReason}</span> : null}
    </span>
  );
}

/** Last success and failures in a row. */
export function Health({ endpoint: e }: { endpoint: Endpoint }) {
  return (
    <span className="small" data-testid="endpoint-health">
      {e.consecutiveFailures > 0 ? (
        <Badge tone={e.consecutiveFailures >= 3 ? 'red' : 'amber'}>
          {e.consecutiveFailures === 1 ? '1 failure in a row' : `${fmtNumber(e.consecutiveFailures)} failures in a row`}
        </Badge>
      ) : e.lastSuccessAt ? (
        <Badge tone="green">Healthy</Badge>
      ) : (
        <Badge>No deliveries yet</Badge>
      )}
      <span className="row-sub">
        Last success: <When iso={e.lastSuccessAt} empty="never" />
      </span>
      {e.lastFailureAt ? (
        <span className="row-sub">
          Last failure: <When iso={e.lastFailureAt} />
        </span>
      ) : null}
    </span>
  );
}

/** "license.*, usage.threshold_crossed" or one per line → the list. */
export function parseEventTypes(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,]+/)
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}

const FIELDS = ['url', 'description', 'eventTypes', 'enabled'] as const;

/** Create or edit an endpoint. A new endpoint's secret goes to onCreated, once. */
export function EndpointForm({
  endpoint,
  onClose,
  onCreated,
  onSaved,
}: {
  endpoint?: Endpoint;
  onClose: () => void;
  onCreated: (e: Endpoint, secret: string) => void;
  onSaved: (e: Endpoint) => void;
}) {
  const [url, setURL] = useState(endpoint?.url ?? '');
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [types, setTypes] = useState((endpoint?.eventTypes ?? []).join(', '));
  const [enabled, setEnabled] = useState(endpoint?.enabled ?? true);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string[] }>({ fields: {}, other: [] });

  const addType = (t: string) => {
    const list = parseEventTypes(types);
    if (!list.includes(t)) setTypes([...list, t].join(', '));
  };

  const submit = async () => {
    const u = url.trim();
    if (!/^https?:\/\/\S+$/i.test(u)) {
      setErrors({ fields: { url: 'Enter the full URL, starting with https:// (or http://).' }, other: [] });
      return;
    }
    setBusy(true);
    setErrors({ fields: {}, other: [] });
    const eventTypes = parseEventTypes(types);
    try {
      if (endpoint) {
        const input = {
          url: u,
          enabled,
          ...(description.trim() ? { description: description.trim() } : endpoint.description ? { clearDescription: true } : {}),
          ...(eventTypes.length ? { eventTypes } : { clearEventTypes: true }),
        };
        const r = await request(UpdateWebhookEndpointDocument, { id: endpoint.id, input });
        onSaved(r.updateWebhookEndpoint);
      } else {
        const input = {
          url: u,
          enabled,
          ...(description.trim() ? { description: description.trim() } : {}),
          ...(eventTypes.length ? { eventTypes } : {}),
        };
        const r = await request(CreateWebhookEndpointDocument, { input });
        onCreated(r.createWebhookEndpoint.endpoint, r.createWebhookEndpoint.secret);
      }
    } catch (err) {
      setErrors(splitErrors(err, FIELDS));
      setBusy(false);
    }
  };

  return (
    <Dialog
      title={endpoint ? 'Edit endpoint' : 'New webhook endpoint'}
      onClose={onClose}
      onSubmit={submit}
      wide
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            {endpoint ? 'Save changes' : 'Create endpoint'}
          </Button>
        </>
      }
    >
      <ErrorBanner messages={errors.other} />
      <div className="stack">
        <Field
          label="URL"
          error={errors.fields.url}
          hint="Where the events are POSTed. Addresses on private networks are refused unless the server allows them."
        >
          {(p) => (
            <TextInput
              {...p}
              className="input mono"
              type="url"
              inputMode="url"
              spellCheck={false}
              autoFocus
              placeholder="https://example.com/webhooks/entitled"
              value={url}
              onChange={(e) => setURL(e.target.value)}
            />
          )}
        </Field>
        <Field label="Description" optional error={errors.fields.description}>
          {(p) => <TextInput {...p} value={description} onChange={(e) => setDescription(e.target.value)} />}
        </Field>
        <Field
          label="Event types"
          optional
          error={errors.fields.eventTypes}
          hint="Actions like license.updated, or every action of a resource like license.*, separated by commas. Empty: every event."
        >
          {(p) => (
            <TextArea
              {...p}
              className="input textarea mono"
              rows={2}
              spellCheck={false}
              placeholder="All events"
              value={types}
              onChange={(e) => setTypes(e.target.value)}
            />
          )}
        </Field>
        <div className="chips" role="group" aria-label="Add event types">
          {AUDIT_ACTIONS.map((g) => (
            <button key={g.resource} type="button" className="chip" onClick={() => addType(`${g.resource}.*`)}>
              + {g.resource}.*
            </button>
          ))}
        </div>
        <Switch
          label="Enabled"
          checked={enabled}
          onChange={setEnabled}
          hint="A disabled endpoint gets nothing; events meanwhile can be replayed later."
        />
      </div>
    </Dialog>
  );
}
