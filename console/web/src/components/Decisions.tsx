import { compactJSON, fmtNumber, humanize } from '../format';
import type { InstanceDecisionsQuery } from '../gql/generated';
import { Badge } from './ui';

type Decision = InstanceDecisionsQuery['decisions'][number];

/** Live decisions, one row per entitlement, with the reason. */
export function DecisionsTable({ decisions }: { decisions: Decision[] }) {
  return (
    <table className="table table-cards" data-testid="decisions">
      <caption className="sr-only">Decisions</caption>
      <thead>
        <tr>
          <th scope="col">Entitlement</th>
          <th scope="col">Decision</th>
          <th scope="col">Reason</th>
          <th scope="col">Detail</th>
        </tr>
      </thead>
      <tbody>
        {decisions.map((d) => (
          <tr key={d.entitlement} data-testid={`decision-${d.entitlement}`}>
            <td data-label="Entitlement" className="mono">
              {d.entitlement}
            </td>
            <td data-label="Decision">{d.allowed ? <Badge tone="green">Allowed</Badge> : <Badge tone="red">Denied</Badge>}</td>
            <td data-label="Reason">
              <span className="mono small">{d.reason}</span>
              {d.reasons.length > 0 ? <span className="row-sub">{d.reasons.join('; ')}</span> : null}
            </td>
            <td data-label="Detail">{detail(d)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function detail(d: Decision): string {
  const v = d.value as { type?: string; value?: unknown } | null;
  if (d.limit != null) {
    if (d.limit === -1) return `Unlimited · used ${fmtNumber(d.usage ?? 0)}`;
    return `Used ${fmtNumber(d.usage ?? 0)} of ${fmtNumber(d.limit)} · ${fmtNumber(d.remaining)} left`;
  }
  if (v?.type === 'boolean') return v.value ? 'Enabled' : 'Disabled';
  if (v?.type === 'object') return compactJSON(v.value, 60);
  return humanize(d.reason) === 'Allowed' ? '' : '—';
}
