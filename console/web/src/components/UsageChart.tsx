// Usage over past periods for one NUMBER entitlement: a uPlot chart (small,
// maintained, canvas-based: a few kB where a chart framework is hundreds)
// of the value against the limit and the hard cap, and the same figures as
// a table, which is what screen readers read.
import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmtNumber } from '../format';
import { UsageHistoryDocument } from '../gql/generated';
import { useQuery } from '../hooks';
import { DataTable, type Column } from './ListView';
import { ErrorState, Loading } from './ui';
import { When } from './When';
import { LedgerExport } from './LedgerExport';

interface Period {
  id: string;
  value: number;
  count: number;
  periodStart: string;
  periodEnd: string | null;
  limit: number | null;
  hardCap: number | null;
}

const COLUMNS: Column<Period>[] = [
  { header: 'Period from', cell: (p) => <When iso={p.periodStart} /> },
  { header: 'Usage', numeric: true, cell: (p) => fmtNumber(p.value) },
  { header: 'Limit', numeric: true, cell: (p) => (p.limit === -1 ? 'Unlimited' : fmtNumber(p.limit)) },
  { header: 'Hard cap', numeric: true, cell: (p) => fmtNumber(p.hardCap) },
  { header: 'Reports', numeric: true, cell: (p) => fmtNumber(p.count) },
];

export function UsageHistory({ instance, entitlement, name }: { instance: string; entitlement: string; name: string }) {
  const q = useQuery(UsageHistoryDocument, { instance, entitlement, periods: 12 });
  // Oldest first, as a chart reads.
  const periods: Period[] = useMemo(() => [...(q.data?.usageHistory ?? [])].reverse().map((u) => ({ ...u, id: u.periodStart })), [q.data]);
  if (q.error && !q.data) return <ErrorState what={`the usage history of ${name}`} error={q.error} onRetry={q.refetch} />;
  if (!q.data) return <Loading label="Loading usage history…" />;
  return (
    <div className="usage-history" data-testid={`usage-history-${entitlement}`}>
      <Chart periods={periods} label={`${name}: usage per period against the limit and the hard cap`} />
      <DataTable caption={`${name}: usage per period (UTC)`} columns={COLUMNS} rows={[...periods].reverse()} />
      <LedgerExport instance={instance} entitlement={entitlement} />
    </div>
  );
}

function Chart({ periods, label }: { periods: Period[]; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const xs = periods.map((p) => Date.parse(p.periodStart) / 1000);
    const limited = periods.some((p) => p.limit != null && p.limit !== -1);
    const data: uPlot.AlignedData = [
      xs,
      periods.map((p) => p.value),
      periods.map((p) => (p.limit == null || p.limit === -1 ? null : p.limit)),
      periods.map((p) => (p.hardCap == null ? null : p.hardCap)),
    ];
    const opts: uPlot.Options = {
      width: Math.max(260, el.clientWidth),
      height: 200,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
      series: [
        {},
        { label: 'Usage', stroke: '#4f46e5', fill: 'rgba(79, 70, 229, 0.12)', width: 2, points: { show: true } },
        { label: 'Limit', stroke: '#b45309', dash: [6, 4], width: 1.5, show: limited },
        { label: 'Hard cap', stroke: '#b91c1c', dash: [2, 3], width: 1.5, show: limited },
      ],
      axes: [{}, { values: (_u, ticks) => ticks.map((t) => fmtNumber(t)) }],
    };
    const plot = new uPlot(opts, data, el);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(260, el.clientWidth), height: 200 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [periods]);
  // The table below carries the same figures for screen readers.
  return <div className="usage-chart" ref={box} aria-hidden="true" title={label} />;
}
