// The console's GraphQL client: POST /graphql with the session's API key.
// Documents come from src/gql/generated.ts, typed by the server's schema.
import type { TypedDocumentString } from './gql/generated';

export interface GqlErrorEntry {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; field?: string; [k: string]: unknown };
}

/** A request that failed: GraphQL errors, an HTTP failure, or no network. */
export class ApiError extends Error {
  readonly errors: GqlErrorEntry[];
  readonly status: number;
  constructor(errors: GqlErrorEntry[], status: number) {
    super(errors.map((e) => e.message).join('; ') || `request failed (HTTP ${status})`);
    this.name = 'ApiError';
    this.errors = errors;
    this.status = status;
  }
  get code(): string | undefined {
    return this.errors.find((e) => e.extensions?.code)?.extensions?.code;
  }
  get unauthenticated(): boolean {
    return this.status === 401 || this.code === 'UNAUTHENTICATED';
  }
}

let apiKey: string | null = null;
let onUnauthenticated: (() => void) | null = null;

export function setApiKey(key: string | null) {
  apiKey = key;
}

/** Called when the server no longer accepts the key (revoked, expired). */
export function setUnauthenticatedHandler(fn: (() => void) | null) {
  onUnauthenticated = fn;
}

export async function request<R, V>(doc: TypedDocumentString<R, V>, variables?: V, key: string | null = apiKey): Promise<R> {
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json',
        ...(key ? { Authorization: `Bearer ${key}` } : {}),
      },
      body: JSON.stringify({ query: doc, variables: variables ?? {} }),
    });
  } catch {
    throw new ApiError([{ message: 'Could not reach the entitled server. Check that it is running, then try again.' }], 0);
  }
  let body: { data?: R | null; errors?: GqlErrorEntry[] } | null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  const errors = body?.errors ?? [];
  if (!res.ok || errors.length > 0 || !body?.data) {
    const err = new ApiError(errors.length > 0 ? errors : [{ message: `The server answered HTTP ${res.status}.` }], res.status);
    if (err.unauthenticated && key === apiKey && onUnauthenticated) onUnauthenticated();
    throw err;
  }
  return body.data;
}

/** Splits an error into messages for named form fields and the rest. */
export function splitErrors(err: unknown, fields: readonly string[]): { fields: Record<string, string>; other: string[] } {
  const out: { fields: Record<string, string>; other: string[] } = { fields: {}, other: [] };
  if (!(err instanceof ApiError)) {
    out.other.push(err instanceof Error ? err.message : String(err));
    return out;
  }
  for (const e of err.errors) {
    const raw = e.extensions?.field;
    const field = raw ? matchField(raw, fields) : null;
    if (field && !out.fields[field]) {
      out.fields[field] = stripFieldPrefix(e.message, raw!);
    } else {
      out.other.push(e.message);
    }
  }
  return out;
}

function matchField(raw: string, fields: readonly string[]): string | null {
  let name = raw.replace(/^(variable\.)?input\./, '');
  if (fields.includes(name)) return name;
  // "value.value" → "value"; "metadata.region" → "metadata"
  while (name.includes('.')) {
    name = name.slice(0, name.lastIndexOf('.'));
    if (fields.includes(name)) return name;
  }
  const first = raw.split('.').pop()!;
  return fields.includes(first) ? first : null;
}

function stripFieldPrefix(message: string, field: string): string {
  const prefix = `${field}: `;
  const text = message.startsWith(prefix) ? message.slice(prefix.length) : message;
  return text.charAt(0).toUpperCase() + text.slice(1);
}
