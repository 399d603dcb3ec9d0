import { compactJSON, fmtNumber, humanize } from '../format';
import type { DecisionFieldsFragment } from '../gql/generated';
import { DataTable, type Column } from './ListView';
import { Badge, Button } from './ui';

type Decision = DecisionFieldsFragment;

/** Live decisions, one row per entitlement, with the reason; onExplain adds a "Why?" button. */
export function DecisionsTable({ decisions, onExplain }: { decisions: Decision[]; onExplain?: (d: Decision) => void }) {
  const columns: Column<Decision & { id: string }>[] = [
    { header: 'Entitlement', className: 'mono', cell: (d) => d.entitlement },
    { header: 'Decision', cell: (d) => (d.allowed ? <Badge tone="green">Allowed</Badge> : <Badge tone="red">Denied</Badge>) },
    {
      header: 'Reason',
      cell: (d) => (
        <>
          <span className="mono small">{d.reason}</span>
          {d.reasons.length > 0 ? <span className="row-sub">{d.reasons.join('; ')}</span> : null}
        </>
      ),
    },
    { header: 'Detail', cell: (d) => detail(d) },
  ];
  if (onExplain) {
    columns.push({
      header: 'Explain',
      hideHeader: true,
      cell: (d) => (
        <Button size="sm" onClick={() => onExplain(d)} aria-label={`Why? ${d.entitlement}`}>
          Why?
        </Button>
      ),
    });
  }
  return (
    <div data-testid="decisions">
      <DataTable
        caption="Decisions"
        columns={columns}
        rows={decisions.map((d) => ({ ...d, id: d.entitlement }))}
        rowProps={(d) => ({ 'data-testid': `decision-${d.entitlement}` })}
      />
    </div>
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
