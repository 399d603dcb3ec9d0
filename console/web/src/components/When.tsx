// A moment shown in UTC (usage periods are UTC), with the reader's local
// time on hover.
import { fmtDateTime, fmtDateUTC, fmtUTC } from '../format';

export function When({ iso, date, empty = '—' }: { iso: string | null | undefined; date?: boolean; empty?: string }) {
  if (!iso) return <>{empty}</>;
  return (
    <time dateTime={iso} title={`Your time: ${fmtDateTime(iso)}`}>
      {date ? fmtDateUTC(iso) : fmtUTC(iso)}
    </time>
  );
}
