// A fake of the event log's and the webhooks' GraphQL fields, for tests of
// the console's pages that must not depend on the server's implementation
// of them: the page's requests that ask for one of those fields are
// answered by graphql-js executing them against the repository's own
// schema (graph/*.graphqls) with the fake's resolvers, so a query the
// schema does not allow, or an answer it does not, fails the test as the
// real server would; every other request goes to the real server.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, graphql, parse } from 'graphql';
import { repoRoot } from './harness.mjs';

const schemaDir = join(repoRoot, 'graph');
export const schema = buildSchema(
  readdirSync(schemaDir)
    .filter((f) => f.endsWith('.graphqls'))
    .sort()
    .map((f) => readFileSync(join(schemaDir, f), 'utf8'))
    .join('\n'),
);

export const FAKED = new Set([
  'auditEvents',
  'verifyAuditChain',
  'webhookEndpoints',
  'webhookDeliveries',
  'createWebhookEndpoint',
  'updateWebhookEndpoint',
  'deleteWebhookEndpoint',
  'rotateWebhookSecret',
  'sendTestWebhook',
  'retryWebhookDelivery',
  'replayWebhookEvents',
]);

/** Ent's where-input predicates (field, fieldIn, fieldHasPrefix, …, and/or/not) on plain objects. */
export function matches(obj, where) {
  if (!where) return true;
  for (const [key, want] of Object.entries(where)) {
    if (want === undefined || want === null) continue;
    if (key === 'or') {
      if (!want.some((w) => matches(obj, w))) return false;
      continue;
    }
    if (key === 'and') {
      if (!want.every((w) => matches(obj, w))) return false;
      continue;
    }
    if (key === 'not') {
      if (matches(obj, want)) return false;
      continue;
    }
    const m = /^(.*?)(NEQ|NotIn|In|GTE|GT|LTE|LT|HasPrefix|HasSuffix|ContainsFold|Contains|EqualFold|IsNil|NotNil)?$/.exec(key);
    const field = m[1];
    const op = m[2] ?? 'EQ';
    const v = obj[field];
    const cmp = (a, b) => (typeof a === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0);
    const ok = {
      EQ: () => v === want,
      NEQ: () => v !== want,
      In: () => want.includes(v),
      NotIn: () => !want.includes(v),
      GT: () => v != null && cmp(v, want) > 0,
      GTE: () => v != null && cmp(v, want) >= 0,
      LT: () => v != null && cmp(v, want) < 0,
      LTE: () => v != null && cmp(v, want) <= 0,
      HasPrefix: () => typeof v === 'string' && v.startsWith(want),
      HasSuffix: () => typeof v === 'string' && v.endsWith(want),
      Contains: () => typeof v === 'string' && v.includes(want),
      ContainsFold: () => typeof v === 'string' && v.toLowerCase().includes(String(want).toLowerCase()),
      EqualFold: () => typeof v === 'string' && v.toLowerCase() === String(want).toLowerCase(),
      IsNil: () => (v == null) === want,
      NotNil: () => (v != null) === want,
    }[op]();
    if (!ok) return false;
  }
  return true;
}

/** A Relay connection over a list, with first/after (the cursor is the index). */
export function connection(list, { first, after } = {}) {
  const start = after != null ? Number(after) + 1 : 0;
  const n = first ?? 50;
  const page = list.slice(start, start + n);
  return {
    totalCount: list.length,
    pageInfo: {
      hasNextPage: start + n < list.length,
      hasPreviousPage: start > 0,
      startCursor: page.length ? String(start) : null,
      endCursor: page.length ? String(start + page.length - 1) : null,
    },
    edges: page.map((node, i) => ({ node, cursor: String(start + i) })),
  };
}

let counter = 0;
const id = (prefix) => `${prefix}_fake${String(++counter).padStart(6, '0')}`;
const iso = (t) => new Date(t).toISOString();

/**
 * The fake's state and resolvers. `events` is the organization's log
 * (oldest first; each a full AuditEvent); webhooks start empty and move
 * as a real dispatcher would, one attempt per due delivery before each
 * request that reads: a delivery to an endpoint whose URL contains "fail"
 * fails twice (HTTP 500, retried a second later) and then succeeds, any
 * other succeeds on its first attempt.
 */
export function createFake() {
  const state = {
    events: [],
    endpoints: [],
    deliveries: [],
    /** Every faked request: { fields, variables }. */
    calls: [],
    chain: { valid: true, firstBrokenSeq: null },
    secrets: [],
  };

  const newSecret = () => {
    const s = `whsec_${Buffer.from(`fake-secret-${++counter}-${Date.now()}`).toString('base64')}`;
    state.secrets.push(s);
    return s;
  };

  // One attempt of each delivery that is due, as a dispatcher would make
  // between two requests of the page.
  const advance = (d) => {
    const due = d.status === 'PENDING' || (d.status === 'FAILED' && d.nextAttemptAt && d.nextAttemptAt <= iso(Date.now()));
    if (!due) return;
    const ep = state.endpoints.find((e) => e.id === d.endpointID);
    const failing = ep && ep.url.includes('fail') && d.attempts < 2;
    d.attempts += 1;
    d.updatedAt = iso(Date.now());
    d.durationMs = 12;
    if (failing) {
      d.status = 'FAILED';
      d.responseStatus = 500;
      d.responseBody = 'upstream exploded';
      d.errorKind = 'HTTP_STATUS';
      d.lastError = 'HTTP 500';
      d.nextAttemptAt = iso(Date.now() + 1000);
      ep.consecutiveFailures += 1;
      ep.lastFailureAt = d.updatedAt;
    } else {
      d.status = 'SUCCEEDED';
      d.responseStatus = 200;
      d.responseBody = '{"ok":true}';
      d.errorKind = null;
      d.lastError = null;
      d.nextAttemptAt = null;
      d.deliveredAt = d.updatedAt;
      if (ep) {
        ep.consecutiveFailures = 0;
        ep.lastSuccessAt = d.updatedAt;
      }
    }
  };

  const endpoint = (eid) => {
    const ep = state.endpoints.find((e) => e.id === eid);
    if (!ep) throw Object.assign(new Error('webhook endpoint not found'), { extensions: { code: 'NOT_FOUND' } });
    return ep;
  };

  const queue = (ep, type, eventID = id('evt')) => {
    const now = iso(Date.now());
    const d = {
      id: id('whd'),
      endpointID: ep.id,
      endpoint: ep,
      eventID,
      eventType: type,
      payload: JSON.stringify({ type, timestamp: now, data: { id: eventID, action: type } }),
      status: 'PENDING',
      attempts: 0,
      responseStatus: null,
      responseBody: null,
      lastError: null,
      errorKind: null,
      durationMs: null,
      nextAttemptAt: now,
      deliveredAt: null,
      createdAt: now,
      updatedAt: now,
    };
    state.deliveries.unshift(d);
    return d;
  };

  const root = {
    auditEvents: ({ where, first, after }) => {
      const list = state.events.filter((e) => matches(e, where)).sort((a, b) => b.seq - a.seq);
      return connection(list, { first, after });
    },
    verifyAuditChain: () => {
      const head = state.events.at(-1);
      return {
        valid: state.chain.valid,
        checked: state.events.length,
        headSeq: head?.seq ?? 0,
        headHash: head?.hash ?? '0'.repeat(64),
        firstBrokenSeq: state.chain.valid ? null : state.chain.firstBrokenSeq,
      };
    },
    webhookEndpoints: ({ where, first, after }) =>
      connection(
        state.endpoints.filter((e) => matches(e, where)),
        { first, after },
      ),
    webhookDeliveries: ({ endpointID, where, first, after }) => {
      endpoint(endpointID);
      const mine = state.deliveries.filter((d) => d.endpointID === endpointID);
      return connection(
        mine.filter((d) => matches(d, where)),
        { first, after },
      );
    },
    createWebhookEndpoint: ({ input }) => {
      if (!/^https?:\/\//.test(input.url)) {
        throw Object.assign(new Error('url: must be http(s)'), { extensions: { code: 'BAD_USER_INPUT', field: 'input.url' } });
      }
      const now = iso(Date.now());
      const ep = {
        id: id('whe'),
        url: input.url,
        description: input.description ?? null,
        eventTypes: input.eventTypes ?? null,
        enabled: input.enabled ?? true,
        disabledReason: null,
        lastSuccessAt: null,
        lastFailureAt: null,
        consecutiveFailures: 0,
        createdAt: now,
        updatedAt: now,
      };
      state.endpoints.push(ep);
      return { endpoint: ep, secret: newSecret() };
    },
    updateWebhookEndpoint: ({ id: eid, input }) => {
      const ep = endpoint(eid);
      if (input.url !== undefined) ep.url = input.url;
      if (input.description !== undefined) ep.description = input.description;
      if (input.clearDescription) ep.description = null;
      if (input.eventTypes !== undefined) ep.eventTypes = input.eventTypes;
      if (input.clearEventTypes) ep.eventTypes = null;
      if (input.enabled !== undefined) {
        ep.enabled = input.enabled;
        if (input.enabled) ep.disabledReason = null;
      }
      ep.updatedAt = iso(Date.now());
      return ep;
    },
    deleteWebhookEndpoint: ({ id: eid }) => {
      endpoint(eid);
      state.endpoints = state.endpoints.filter((e) => e.id !== eid);
      state.deliveries = state.deliveries.filter((d) => d.endpointID !== eid);
      return eid;
    },
    rotateWebhookSecret: ({ id: eid }) => ({ endpoint: endpoint(eid), secret: newSecret() }),
    sendTestWebhook: ({ endpointID }) => queue(endpoint(endpointID), 'webhook.test'),
    retryWebhookDelivery: ({ id: did }) => {
      const d = state.deliveries.find((x) => x.id === did);
      if (!d) throw Object.assign(new Error('delivery not found'), { extensions: { code: 'NOT_FOUND' } });
      d.status = 'PENDING';
      d.nextAttemptAt = iso(Date.now());
      return d;
    },
    replayWebhookEvents: ({ endpointID, since, until }) => {
      const ep = endpoint(endpointID);
      const picked = state.events.filter((e) => e.occurredAt >= since && (!until || e.occurredAt < until));
      for (const e of picked) queue(ep, e.action, e.id);
      return picked.length;
    },
  };

  /** Appends an event to the log (seq and hashes follow), with defaults for what the test leaves out. */
  const addEvent = (e) => {
    const seq = state.events.length + 1;
    const prevHash = state.events.at(-1)?.hash ?? '0'.repeat(64);
    const ev = {
      id: id('evt'),
      seq,
      resourceSlug: null,
      actorType: 'API_KEY',
      actorID: null,
      actorName: null,
      before: null,
      after: null,
      licenseVersion: null,
      requestID: `req-${seq}`,
      occurredAt: iso(Date.now() - (1000 - seq) * 60_000),
      prevHash,
      hash: seq.toString(16).padStart(64, 'a'),
      ...e,
    };
    state.events.push(ev);
    return ev;
  };

  /**
   * Answers a request body when it asks for a faked field; null otherwise.
   * An operation mixing faked and real fields is a mistake of the test.
   */
  async function answer(body) {
    let doc;
    try {
      doc = parse(body.query);
    } catch {
      return null;
    }
    const fields = [];
    for (const def of doc.definitions) {
      if (def.kind !== 'OperationDefinition') continue;
      for (const sel of def.selectionSet.selections) if (sel.kind === 'Field') fields.push(sel.name.value);
    }
    const faked = fields.filter((f) => FAKED.has(f));
    if (faked.length === 0) return null;
    if (faked.length !== fields.length) throw new Error(`an operation mixes faked and real fields: ${fields.join(', ')}`);
    state.calls.push({ fields, variables: body.variables ?? {} });
    // Deliveries move between requests, not within one: every read of a
    // request sees the same state (an endpoint's health and its deliveries).
    if (!fields.some((f) => f === 'sendTestWebhook' || f === 'retryWebhookDelivery' || f === 'replayWebhookEvents')) {
      state.deliveries.forEach(advance);
    }
    const result = await graphql({ schema, source: body.query, variableValues: body.variables ?? {}, rootValue: root });
    if (result.errors) {
      result.errors = result.errors.map((e) => ({ message: e.message, path: e.path, extensions: e.originalError?.extensions ?? e.extensions }));
      result.data = result.data ?? null;
    }
    return result;
  }

  /** Routes the page's GraphQL requests: faked fields here, the rest to the real server. */
  async function install(page) {
    await page.route('**/graphql', async (route) => {
      const req = route.request();
      if (req.method() !== 'POST') return route.continue();
      let body;
      try {
        body = JSON.parse(req.postData() ?? '');
      } catch {
        return route.continue();
      }
      const result = await answer(body);
      if (!result) return route.continue();
      const unexpected = result.errors?.find((e) => !e.extensions?.code);
      if (unexpected) state.calls.push({ schemaError: unexpected.message });
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(result) });
    });
  }

  return { state, addEvent, install, answer };
}
