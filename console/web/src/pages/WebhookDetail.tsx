import { useState } from 'react';
import { request } from '../api';
import {
  Badge,
  Banner,
  Button,
  ConfirmDialog,
  Dialog,
  EmptyState,
  ErrorBanner,
  ErrorState,
  Field,
  Loading,
  PageHeader,
  Section,
  Select,
  TextInput,
  ToolbarField,
  errorText,
  type Tone,
} from '../components/ui';
import { fmtNumber, fromLocalInput, humanize, toLocalInput } from '../format';
import {
  DeleteWebhookEndpointDocument,
  ReplayWebhookEventsDocument,
  RetryWebhookDeliveryDocument,
  RotateWebhookSecretDocument,
  SendTestWebhookDocument,
  UpdateWebhookEndpointDocument,
  WebhookDeliveriesDocument,
  WebhookDeliveryDetailDocument,
  WebhookEndpointDocument,
  type WebhookDeliveryFieldsFragment,
  type WebhookDeliveryStatus,
} from '../gql/generated';
import { useInterval, useQuery } from '../hooks';
import { Link, navigate, useTitle } from '../router';
import { useSession } from '../session';
import { When } from '../components/When';
import { EnabledBadge, EndpointForm, EventTypes, Health, type Endpoint } from './Webhooks';
import { SecretDialog } from '../components/SecretDialog';

type Delivery = WebhookDeliveryFieldsFragment;

const STATUSES: WebhookDeliveryStatus[] = ['PENDING', 'SUCCEEDED', 'FAILED', 'GAVE_UP'];
const PAGE = 25;
/** How often the page reads the deliveries again while some are still on their way. */
const POLL_MS = 2000;

export function statusTone(s: WebhookDeliveryStatus): Tone {
  return s === 'SUCCEEDED' ? 'green' : s === 'PENDING' ? 'blue' : s === 'FAILED' ? 'amber' : 'red';
}

export function statusLabel(s: WebhookDeliveryStatus): string {
  return s === 'GAVE_UP' ? 'Gave up' : humanize(s);
}

export function WebhookDetailPage({ id }: { id: string }) {
  const q = useQuery(WebhookEndpointDocument, { id });
  const endpoint = q.data?.webhookEndpoints.edges?.[0]?.node ?? null;
  useTitle(endpoint ? endpoint.url : 'Webhook endpoint');
  if (q.error && !q.data) return <ErrorState what="this endpoint" error={q.error} onRetry={q.refetch} />;
  if (!q.data) return <Loading label="Loading endpoint…" />;
  if (!endpoint) {
    return (
      <EmptyState
        title="This webhook endpoint does not exist."
        action={
          <Link to="/webhooks" className="btn btn-secondary">
            Back to webhooks
          </Link>
        }
      >
        It may have been deleted.
      </EmptyState>
    );
  }
  return <EndpointView endpoint={endpoint} reload={q.refetch} />;
}

function EndpointView({ endpoint: ep, reload }: { endpoint: Endpoint; reload: () => Promise<void> }) {
  const session = useSession();
  const [status, setStatus] = useState('');
  const [first, setFirst] = useState(PAGE);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [dialog, setDialog] = useState<null | 'delete' | 'rotate' | 'replay' | 'toggle'>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [detail, setDetail] = useState<Delivery | null>(null);
  const [testing, setTesting] = useState(false);
  const [retrying, setRetrying] = useState<string | null>(null);

  const deliveries = useQuery(WebhookDeliveriesDocument, {
    endpointID: ep.id,
    where: status ? { status: status as WebhookDeliveryStatus } : undefined,
    first,
  });
  const conn = deliveries.data?.webhookDeliveries;
  const rows = conn?.edges?.flatMap((e) => (e?.node ? [e.node] : [])) ?? [];
  // Deliveries on their way (queued, or failed with a retry planned) change
  // by themselves: read them again until they settle.
  const moving = rows.some((d) => d.status === 'PENDING' || (d.status === 'FAILED' && d.nextAttemptAt));
  const refresh = async () => {
    await Promise.all([deliveries.refetch(), reload()]);
  };
  useInterval(() => void refresh(), POLL_MS, moving && !deliveries.loading);

  const act = async (fn: () => Promise<void>) => {
    setActionError(null);
    try {
      await fn();
    } catch (err) {
      setActionError(errorText(err));
    }
  };

  const setEnabled = async (enabled: boolean) => {
    await request(UpdateWebhookEndpointDocument, { id: ep.id, input: { enabled } });
    setNotice(enabled ? 'Endpoint enabled.' : 'Endpoint disabled.');
    await reload();
  };

  const sendTest = () =>
    act(async () => {
      setTesting(true);
      try {
        await request(SendTestWebhookDocument, { endpointID: ep.id });
        setNotice('A webhook.test event is on its way. Its delivery appears below.');
        await refresh();
      } finally {
        setTesting(false);
      }
    });

  const retry = (d: Delivery) =>
    act(async () => {
      setRetrying(d.id);
      try {
        await request(RetryWebhookDeliveryDocument, { id: d.id });
        setNotice(`Sending ${d.eventType} again, with the same webhook-id.`);
        await refresh();
      } finally {
        setRetrying(null);
      }
    });

  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            <Link to="/webhooks">Webhooks</Link> <span aria-hidden="true">/</span> <span className="mono">{ep.url}</span>
          </>
        }
        title={<span className="mono url">{ep.url}</span>}
        badges={<EnabledBadge endpoint={ep} />}
        subtitle={ep.description ?? undefined}
        actions={
          session.canWrite ? (
            <>
              <Button onClick={sendTest} busy={testing} disabled={!ep.enabled} title={ep.enabled ? undefined : 'Enable the endpoint first'}>
                Send test
              </Button>
              <Button onClick={() => setEditing(true)}>Edit</Button>
              <Button onClick={() => setDialog('rotate')}>Rotate secret</Button>
              <Button onClick={() => (ep.enabled ? setDialog('toggle') : void act(() => setEnabled(true)))}>
                {ep.enabled ? 'Disable' : 'Enable'}
              </Button>
              <Button variant="danger" onClick={() => setDialog('delete')}>
                Delete
              </Button>
            </>
          ) : null
        }
      />
      {notice ? <Banner tone="green" title={notice} onDismiss={() => setNotice(null)} /> : null}
      {actionError ? <ErrorBanner messages={[actionError]} onDismiss={() => setActionError(null)} /> : null}
      {!ep.enabled ? (
        <Banner tone="amber" title="This endpoint is disabled: it receives nothing.">
          {ep.disabledReason ? <>Reason: {ep.disabledReason}. </> : null}
          {session.canWrite ? 'Enable it to resume; replay a time range to send what it missed.' : null}
        </Banner>
      ) : null}

      <div className="detail-grid">
        <div className="detail-main">
          <Section
            title="Deliveries"
            description="Each event sent to this endpoint, newest first, with its attempts and the last answer."
            actions={
              <>
                <Button size="sm" onClick={() => void refresh()} busy={deliveries.loading && Boolean(deliveries.data)}>
                  Refresh
                </Button>
                {session.canWrite ? (
                  <Button size="sm" onClick={() => setDialog('replay')}>
                    Replay…
                  </Button>
                ) : null}
              </>
            }
          >
            <div className="toolbar toolbar-inline" role="group" aria-label="Filter deliveries">
              <ToolbarField label="Status">
                {(p) => (
                  <Select {...p} value={status} onChange={(e) => setStatus(e.target.value)}>
                    <option value="">Every status</option>
                    {STATUSES.map((s) => (
                      <option key={s} value={s}>
                        {statusLabel(s)}
                      </option>
                    ))}
                  </Select>
                )}
              </ToolbarField>
              {moving ? (
                <span className="toolbar-status" role="status">
                  Deliveries in progress; updating…
                </span>
              ) : null}
            </div>
            {deliveries.error && !deliveries.data ? (
              <ErrorState what="deliveries" error={deliveries.error} onRetry={deliveries.refetch} />
            ) : !deliveries.data ? (
              <Loading label="Loading deliveries…" />
            ) : rows.length === 0 ? (
              <p className="muted">
                {status
                  ? `No delivery is ${statusLabel(status as WebhookDeliveryStatus).toLowerCase()}.`
                  : 'Nothing delivered yet. Send a test event to check that the endpoint answers.'}
              </p>
            ) : (
              <>
                <div className="table-scroll">
                  <table className="table table-cards">
                    <caption className="sr-only">Deliveries, {conn?.totalCount} in all</caption>
                    <thead>
                      <tr>
                        <th scope="col">Event</th>
                        <th scope="col">Status</th>
                        <th scope="col" className="num">
                          Attempts
                        </th>
                        <th scope="col">Answer</th>
                        <th scope="col">
                          <span className="sr-only">Actions</span>
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {rows.map((d) => (
                        <tr key={d.id} data-testid="webhook-delivery" data-status={d.status} data-event-type={d.eventType}>
                          <td data-label="Event">
                            <span className="mono">{d.eventType}</span>
                            <span className="row-sub">
                              <When iso={d.createdAt} />
                            </span>
                          </td>
                          <td data-label="Status">
                            <Badge tone={statusTone(d.status)}>{statusLabel(d.status)}</Badge>
                            {d.status === 'SUCCEEDED' ? (
                              <span className="row-sub">
                                Delivered <When iso={d.deliveredAt} />
                              </span>
                            ) : d.nextAttemptAt ? (
                              <span className="row-sub">
                                Next attempt <When iso={d.nextAttemptAt} />
                              </span>
                            ) : null}
                          </td>
                          <td data-label="Attempts" className="num" data-testid="delivery-attempts">
                            {fmtNumber(d.attempts)}
                          </td>
                          <td data-label="Answer">
                            <Answer d={d} />
                          </td>
                          <td className="actions">
                            <Button size="sm" onClick={() => setDetail(d)} aria-label={`Details of ${d.eventType} delivery ${d.id}`}>
                              Details
                            </Button>
                            {session.canWrite ? (
                              <Button
                                size="sm"
                                variant="ghost"
                                busy={retrying === d.id}
                                onClick={() => void retry(d)}
                                aria-label={`Retry ${d.eventType} delivery ${d.id}`}
                              >
                                Retry
                              </Button>
                            ) : null}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                {conn?.pageInfo.hasNextPage ? (
                  <div className="audit-more">
                    <Button size="sm" onClick={() => setFirst((f) => f + PAGE)} busy={deliveries.loading}>
                      Show more
                    </Button>
                  </div>
                ) : null}
              </>
            )}
          </Section>
        </div>
        <div className="detail-side">
          <Section title="Health">
            <Health endpoint={ep} />
          </Section>
          <Section title="Details">
            <dl className="props">
              <dt>URL</dt>
              <dd className="mono">{ep.url}</dd>
              <dt>Events</dt>
              <dd>
                <EventTypes types={ep.eventTypes} />
              </dd>
              <dt>Created</dt>
              <dd>
                <When iso={ep.createdAt} />
              </dd>
              <dt>Updated</dt>
              <dd>
                <When iso={ep.updatedAt} />
              </dd>
              <dt>Id</dt>
              <dd className="mono">{ep.id}</dd>
            </dl>
          </Section>
        </div>
      </div>

      {editing ? (
        <EndpointForm
          endpoint={ep}
          onClose={() => setEditing(false)}
          onCreated={() => {}}
          onSaved={async () => {
            setEditing(false);
            setNotice('Endpoint saved.');
            await reload();
          }}
        />
      ) : null}
      {detail ? (
        <DeliveryDialog
          endpointID={ep.id}
          delivery={detail}
          canRetry={session.canWrite}
          onClose={() => setDetail(null)}
          onRetried={async () => {
            setDetail(null);
            setNotice(`Sending ${detail.eventType} again, with the same webhook-id.`);
            await refresh();
          }}
        />
      ) : null}
      {dialog === 'replay' ? (
        <ReplayDialog
          endpointID={ep.id}
          onClose={() => setDialog(null)}
          onDone={async (n) => {
            setDialog(null);
            setNotice(n === 0 ? 'No event in that range to replay.' : `Queued ${fmtNumber(n)} event(s) again, with their original ids.`);
            await refresh();
          }}
        />
      ) : null}
      {dialog === 'rotate' ? (
        <ConfirmDialog
          title="Rotate the signing secret?"
          confirmLabel="Rotate secret"
          tone="primary"
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            const r = await request(RotateWebhookSecretDocument, { id: ep.id });
            setDialog(null);
            setSecret(r.rotateWebhookSecret.secret);
            await reload();
          }}
        >
          A new secret starts signing now. The current one keeps signing beside it for 24 hours (the webhook-signature header carries both),
          so you can update your receiver without missing a delivery.
        </ConfirmDialog>
      ) : null}
      {secret ? (
        <SecretDialog secret={secret} title="The new signing secret" onClose={() => setSecret(null)}>
          The previous secret stays valid for 24 hours.
        </SecretDialog>
      ) : null}
      {dialog === 'toggle' ? (
        <ConfirmDialog
          title="Disable this endpoint?"
          confirmLabel="Disable"
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            await setEnabled(false);
            setDialog(null);
          }}
        >
          It receives nothing while disabled. Events of that time can be replayed once it is enabled again.
        </ConfirmDialog>
      ) : null}
      {dialog === 'delete' ? (
        <ConfirmDialog
          title="Delete this endpoint?"
          confirmLabel="Delete endpoint"
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            await request(DeleteWebhookEndpointDocument, { id: ep.id });
            navigate('/webhooks');
          }}
        >
          <span className="mono">{ep.url}</span> receives nothing more, and its delivery log goes with it. This cannot be undone.
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function Answer({ d }: { d: Delivery }) {
  return (
    <span className="small">
      {d.responseStatus != null ? (
        <span className="mono">HTTP {d.responseStatus}</span>
      ) : d.attempts === 0 ? (
        <span className="muted">Not sent yet</span>
      ) : (
        <span className="muted">No answer</span>
      )}
      {d.durationMs != null ? <span className="muted"> · {fmtNumber(d.durationMs)} ms</span> : null}
      {d.errorKind || d.lastError ? (
        <span className="row-sub delivery-error">
          {d.errorKind ? <span className="mono">{d.errorKind}</span> : null}
          {d.errorKind && d.lastError ? ': ' : null}
          {d.lastError}
        </span>
      ) : null}
    </span>
  );
}

/** The JSON of a body, indented, or the text as it is. */
function pretty(body: string | null | undefined): string {
  if (body == null || body === '') return '';
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

function DeliveryDialog({
  endpointID,
  delivery,
  canRetry,
  onClose,
  onRetried,
}: {
  endpointID: string;
  delivery: Delivery;
  canRetry: boolean;
  onClose: () => void;
  onRetried: () => Promise<void>;
}) {
  const q = useQuery(WebhookDeliveryDetailDocument, { endpointID, id: delivery.id });
  const d = q.data?.webhookDeliveries.edges?.[0]?.node ?? null;
  const shown = d ?? delivery;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Dialog
      title={`Delivery of ${delivery.eventType}`}
      description={<Badge tone={statusTone(shown.status)}>{statusLabel(shown.status)}</Badge>}
      onClose={onClose}
      wide
      footer={
        <>
          <Button onClick={onClose}>Close</Button>
          {canRetry ? (
            <Button
              variant="primary"
              busy={busy}
              onClick={async () => {
                setBusy(true);
                setError(null);
                try {
                  await request(RetryWebhookDeliveryDocument, { id: delivery.id });
                  await onRetried();
                } catch (err) {
                  setError(errorText(err));
                  setBusy(false);
                }
              }}
            >
              Retry now
            </Button>
          ) : null}
        </>
      }
    >
      {error ? <ErrorBanner messages={[error]} /> : null}
      <dl className="props">
        <dt>webhook-id</dt>
        <dd className="mono">{shown.eventID}</dd>
        <dt>Attempts</dt>
        <dd>{fmtNumber(shown.attempts)}</dd>
        <dt>Answer</dt>
        <dd>
          <Answer d={shown} />
        </dd>
        <dt>Queued</dt>
        <dd>
          <When iso={shown.createdAt} />
        </dd>
        <dt>Delivered</dt>
        <dd>
          <When iso={shown.deliveredAt} />
        </dd>
        <dt>Next attempt</dt>
        <dd>
          <When iso={shown.nextAttemptAt} />
        </dd>
      </dl>
      {q.error && !q.data ? (
        <ErrorState what="the request and response" error={q.error} onRetry={q.refetch} />
      ) : !d ? (
        <Loading label="Loading the request and response…" />
      ) : (
        <>
          <h3 className="subhead">Request body</h3>
          <pre className="code-block" data-testid="delivery-request" tabIndex={0} aria-label="Request body">
            {pretty(d.payload)}
          </pre>
          <h3 className="subhead">Response (excerpt)</h3>
          {d.responseBody ? (
            <pre className="code-block" data-testid="delivery-response" tabIndex={0} aria-label="Response excerpt">
              {d.responseBody}
            </pre>
          ) : (
            <p className="muted">{d.responseStatus != null ? 'The answer had no body.' : 'No answer received.'}</p>
          )}
        </>
      )}
    </Dialog>
  );
}

function ReplayDialog({ endpointID, onClose, onDone }: { endpointID: string; onClose: () => void; onDone: (n: number) => Promise<void> }) {
  const [since, setSince] = useState(() => toLocalInput(new Date(Date.now() - 3600_000).toISOString()));
  const [until, setUntil] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<{ since?: string; until?: string; other: string[] }>({ other: [] });
  const submit = async () => {
    const s = fromLocalInput(since);
    const u = fromLocalInput(until);
    if (!s) {
      setErrors({ since: 'Pick when the range starts.', other: [] });
      return;
    }
    if (u && u <= s) {
      setErrors({ until: 'The end must come after the start.', other: [] });
      return;
    }
    setBusy(true);
    setErrors({ other: [] });
    try {
      const r = await request(ReplayWebhookEventsDocument, { endpointID, since: s, until: u });
      await onDone(r.replayWebhookEvents);
    } catch (err) {
      setErrors({ other: [errorText(err)] });
      setBusy(false);
    }
  };
  return (
    <Dialog
      title="Replay events"
      description="Sends this endpoint every event of a time range again, with their original webhook-ids, so receivers can tell repeats."
      onClose={onClose}
      onSubmit={submit}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            Replay
          </Button>
        </>
      }
    >
      <ErrorBanner messages={errors.other} />
      <div className="form-grid">
        <Field label="From" error={errors.since}>
          {(p) => <TextInput {...p} type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />}
        </Field>
        <Field label="Until" optional error={errors.until} hint="Empty: until now.">
          {(p) => <TextInput {...p} type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />}
        </Field>
      </div>
    </Dialog>
  );
}
