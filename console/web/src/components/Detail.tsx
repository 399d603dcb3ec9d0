// What a detail page shows before it has its node: loading, the error with
// a retry, or "no such slug" with the way back to the list.
import type { ReactNode } from 'react';
import type { QueryState } from '../hooks';
import { Link } from '../router';
import { EmptyState, ErrorState, Loading } from './ui';

/**
 * The page for the node the query found by slug, or the state to show
 * instead. `what` is singular ("license"); the list lives at `/${what}s`.
 */
export function BySlug<N>({
  q,
  node,
  what,
  slug,
  gone = 'It may have been renamed or deleted.',
  children,
}: {
  q: QueryState<unknown>;
  node: N | null;
  what: string;
  slug: string;
  gone?: string;
  children: (n: N) => ReactNode;
}) {
  if (q.error && !q.data) return <ErrorState what={`this ${what}`} error={q.error} onRetry={q.refetch} />;
  if (!q.data) return <Loading label={`Loading ${what}…`} />;
  if (!node) {
    return (
      <EmptyState
        title={`No ${what} with slug "${slug}".`}
        action={
          <Link to={`/${what}s`} className="btn btn-secondary">
            Back to {what}s
          </Link>
        }
      >
        {gone}
      </EmptyState>
    );
  }
  return <>{children(node)}</>;
}
