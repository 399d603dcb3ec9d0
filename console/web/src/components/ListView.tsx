// The scaffolding every list page shares: a toolbar of filters, the
// loading, error and empty states, a table that turns into cards on
// narrow screens, and a footer that pages on with the cursor.
import type { HTMLAttributes, ReactNode } from 'react';
import { fmtNumber, plural } from '../format';
import type { PagesState } from '../hooks';
import { Link } from '../router';
import { Button, EmptyState, ErrorState, Loading, Select, TextInput, ToolbarField } from './ui';

export interface Column<N> {
  /** The header; also the card label on narrow screens unless `label` says otherwise. */
  header: string;
  /** Visually hidden header (an actions column). */
  hideHeader?: boolean;
  numeric?: boolean;
  className?: string;
  cell: (n: N) => ReactNode;
}

type RowAttrs = HTMLAttributes<HTMLTableRowElement> & { 'data-testid'?: string };

/** The rows of a list as a table (cards below 640 px). */
export function DataTable<N extends { id: string }>({
  caption,
  columns,
  rows,
  rowProps,
  footer,
}: {
  caption: string;
  columns: Column<N>[];
  rows: N[];
  rowProps?: (n: N) => RowAttrs;
  footer?: ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className="table table-cards">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c.header} scope="col" className={c.numeric ? 'num' : undefined}>
                {c.hideHeader ? <span className="sr-only">{c.header}</span> : c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((n) => (
            <tr key={n.id} {...rowProps?.(n)}>
              {columns.map((c) => (
                <td
                  key={c.header}
                  data-label={c.header}
                  className={[c.numeric ? 'num' : '', c.className ?? ''].join(' ').trim() || undefined}
                >
                  {c.cell(n)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {footer ? <div className="table-footer">{footer}</div> : null}
    </div>
  );
}

/**
 * A connection read page by page (usePages): its states, then the table
 * with "Showing n of total" and a button for the next page.
 */
export function ListView<N extends { id: string }>({
  what,
  noun,
  pages,
  empty,
  caption,
  columns,
  rowProps,
}: {
  /** Plural, for the states: "licenses". */
  what: string;
  /** Singular and plural for counts: ['license', 'licenses']. */
  noun: [string, string];
  pages: PagesState<N>;
  /** Shown when there is no row. */
  empty: ReactNode;
  caption?: string;
  columns: Column<N>[];
  rowProps?: (n: N) => RowAttrs;
}) {
  if (pages.error && pages.initial) return <ErrorState what={what} error={pages.error} onRetry={pages.refetch} />;
  if (pages.initial) return <Loading label={`Loading ${what}…`} />;
  if (pages.nodes.length === 0) return <>{empty}</>;
  const total = pages.totalCount ?? pages.nodes.length;
  return (
    <DataTable
      caption={caption ?? `${what.charAt(0).toUpperCase()}${what.slice(1)}, ${plural(total, ...noun)} in all`}
      columns={columns}
      rows={pages.nodes}
      rowProps={rowProps}
      footer={
        <>
          <span>
            Showing {fmtNumber(pages.nodes.length)} of {plural(total, ...noun)}
          </span>
          {pages.hasNextPage ? (
            <Button size="sm" onClick={() => void pages.loadMore()} busy={pages.loadingMore}>
              Show more
            </Button>
          ) : null}
        </>
      }
    />
  );
}

/** The filter bar above a list; says when a new answer is on its way. */
export function Toolbar({ label, busy, search, children }: { label: string; busy?: boolean; search?: boolean; children: ReactNode }) {
  return (
    <div className="toolbar" role={search ? 'search' : 'group'} aria-label={label}>
      {children}
      {busy ? (
        <span className="toolbar-status" role="status">
          Updating…
        </span>
      ) : null}
    </div>
  );
}

/** The search box of a list. */
export function SearchField({ value, onChange, placeholder }: { value: string; onChange: (v: string) => void; placeholder: string }) {
  return (
    <ToolbarField label="Search" grow>
      {(p) => <TextInput {...p} type="search" placeholder={placeholder} value={value} onChange={(e) => onChange(e.target.value)} />}
    </ToolbarField>
  );
}

/** The empty state of a list: nothing matches the filters, or nothing exists yet. */
export function ListEmpty({
  filtered,
  noMatch,
  onClear,
  clearLabel = 'Clear filters',
  title,
  action,
  children,
}: {
  filtered: boolean;
  noMatch: string;
  onClear: () => void;
  clearLabel?: string;
  title: string;
  action?: ReactNode;
  children?: ReactNode;
}) {
  if (filtered) return <EmptyState title={noMatch} action={<Button onClick={onClear}>{clearLabel}</Button>} />;
  return (
    <EmptyState title={title} action={action}>
      {children}
    </EmptyState>
  );
}

/** The first cell of a row: the name, linking to its page, with the slug below. */
export function NameCell({ to, name, sub, children }: { to: string; name: string; sub?: string; children?: ReactNode }) {
  return (
    <>
      <Link to={to} className="row-title">
        {name}
      </Link>
      {sub ? <span className="row-sub mono">{sub}</span> : null}
      {children}
    </>
  );
}

/** A select of the filter bar. */
export function FilterSelect({
  label,
  value,
  onChange,
  options,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: readonly { value: string; label: string }[];
}) {
  return (
    <ToolbarField label={label}>
      {(p) => (
        <Select {...p} value={value} onChange={(e) => onChange(e.target.value)}>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </Select>
      )}
    </ToolbarField>
  );
}
