// Exports an instance's usage ledger of one entitlement for a range of UTC
// days as CSV, reading every page of the connection.
import { useState } from 'react';
import { request } from '../api';
import { toCSV } from '../csv';
import { downloadText } from '../download';
import { plural } from '../format';
import { UsageLedgerDocument, type UsageLedgerQuery } from '../gql/generated';
import { nodesOf, type NodeOf } from '../hooks';
import { Button, Field, TextInput, errorText } from './ui';

type Entry = NodeOf<NonNullable<NonNullable<NonNullable<UsageLedgerQuery['instances']['edges']>[number]>['node']>['usageEvents']>;

const COLUMNS = ['timestamp', 'recordedAt', 'kind', 'value', 'aggregate', 'periodStart', 'idempotencyKey'] as const;

/** "YYYY-MM-DD" of a date in UTC. */
function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function LedgerExport({ instance, entitlement }: { instance: string; entitlement: string }) {
  const today = new Date();
  const [from, setFrom] = useState(day(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 11, 1))));
  const [to, setTo] = useState(day(today));
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<{ error?: string; text?: string } | null>(null);

  const run = async () => {
    if (!from || !to || to < from) {
      setStatus({ error: 'Choose a start day on or before the end day.' });
      return;
    }
    setBusy(true);
    setStatus(null);
    try {
      const end = new Date(`${to}T00:00:00Z`);
      end.setUTCDate(end.getUTCDate() + 1);
      const where = { timestampGTE: `${from}T00:00:00Z`, timestampLT: end.toISOString(), hasEntitlementWith: [{ slug: entitlement }] };
      const rows: Entry[] = [];
      let after: string | null = null;
      for (;;) {
        const r: UsageLedgerQuery = await request(UsageLedgerDocument, { instance, where, first: 500, after });
        const conn = r.instances.edges?.[0]?.node?.usageEvents;
        if (!conn) break;
        rows.push(...nodesOf(conn));
        if (!conn.pageInfo.hasNextPage) break;
        after = conn.pageInfo.endCursor;
      }
      const name = `${instance}-${entitlement}-${from}-${to}.csv`;
      downloadText(name, toCSV(COLUMNS, rows), 'text/csv');
      setStatus({ text: `Exported ${plural(rows.length, 'ledger entry', 'ledger entries')} as ${name}.` });
    } catch (err) {
      setStatus({ error: errorText(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="ledger-export" role="group" aria-label={`Export the ledger of ${entitlement}`}>
      <Field label="From (UTC)">{(p) => <TextInput {...p} type="date" value={from} onChange={(e) => setFrom(e.target.value)} />}</Field>
      <Field label="To (UTC)">{(p) => <TextInput {...p} type="date" value={to} onChange={(e) => setTo(e.target.value)} />}</Field>
      <Button onClick={() => void run()} busy={busy}>
        Export CSV
      </Button>
      <p className={status?.error ? 'field-error' : 'field-hint'} role="status">
        {status?.error ?? status?.text ?? 'Every report, reset and consumption in the range, oldest first.'}
      </p>
    </div>
  );
}
