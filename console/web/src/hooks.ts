import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { request } from './api';
import type { PageInfoFieldsFragment, TypedDocumentString } from './gql/generated';

/** A ref that always holds the latest value, for callbacks that must not re-run effects. */
export function useLatest<T>(value: T) {
  const ref = useRef(value);
  useLayoutEffect(() => {
    ref.current = value;
  });
  return ref;
}

/** The time when the component mounted, for dates shown relative to now. */
export function useNow(): number {
  const [now] = useState(() => Date.now());
  return now;
}

export interface QueryState<R> {
  data: R | undefined;
  error: unknown;
  loading: boolean;
  /** Runs the query again, keeping the current data on screen meanwhile. */
  refetch: () => Promise<void>;
}

/**
 * Runs a query when its variables change. The previous data stays while a
 * new answer is on its way, so filters and reloads do not flash empty.
 */
export function useQuery<R, V>(doc: TypedDocumentString<R, V>, variables: V, opts: { skip?: boolean } = {}): QueryState<R> {
  const key = JSON.stringify(variables ?? {});
  const [state, setState] = useState<{ data: R | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: !opts.skip,
  });
  const seq = useRef(0);
  const vars = useLatest(variables);

  const run = useCallback(async () => {
    const id = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await request(doc, vars.current);
      if (id === seq.current) setState({ data, error: undefined, loading: false });
    } catch (error) {
      if (id === seq.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [doc, key]);

  useEffect(() => {
    if (opts.skip) return;
    void run();
  }, [run, opts.skip]);

  return { ...state, refetch: run };
}

/** A value that follows `value` after `ms` without changes. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = window.setTimeout(() => setV(value), ms);
    return () => window.clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** The shape of a Relay connection, as the console's documents select it (pageInfo through `...PageInfoFields`). */
export interface Connection<N> {
  totalCount: number;
  pageInfo: PageInfoFieldsFragment;
  edges: ({ node: N | null } | null)[] | null;
}

/** The node type of a connection type. */
export type NodeOf<C> = C extends Connection<infer N> ? N : never;

export function nodesOf<N>(conn: Connection<N> | null | undefined): N[] {
  return (conn?.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []));
}

export interface PagesState<N> {
  /** Every node read so far: the first page, then the pages loadMore appended. */
  nodes: N[];
  totalCount: number | undefined;
  hasNextPage: boolean;
  /** True until the first page arrives. */
  initial: boolean;
  loading: boolean;
  loadingMore: boolean;
  error: unknown;
  loadMore: () => Promise<void>;
  /** Reads the first page again and forgets the pages appended after it. */
  refetch: () => Promise<void>;
}

/**
 * A connection read a page at a time with cursors (for lists longer than
 * one page can hold, like the event log). The first page follows
 * `variables`; loadMore appends the page after the last one read.
 */
export function usePages<R, V extends { after?: string | null }, N>(
  doc: TypedDocumentString<R, V>,
  variables: V,
  select: (r: R) => Connection<N>,
  opts: { skip?: boolean } = {},
): PagesState<N> {
  const first = useQuery(doc, variables, opts);
  const key = JSON.stringify(variables ?? {});
  type Extra = { key: string; base: R | undefined; nodes: N[]; pageInfo: Connection<N>['pageInfo'] | null };
  const [extra, setExtra] = useState<Extra>({ key, base: undefined, nodes: [], pageInfo: null });
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<unknown>(undefined);
  const selectRef = useLatest(select);

  // Appended pages belong to one first page: new variables or a new first
  // page (a refetch) start over.
  const current = extra.key === key && extra.base === first.data ? extra : null;
  const conn = first.data ? select(first.data) : undefined;
  const pageInfo = current?.pageInfo ?? conn?.pageInfo;
  // The same array while nothing new arrived, so views can memoize on it.
  const nodes = useMemo(() => {
    const seen = new Set<unknown>();
    return [...nodesOf(conn), ...(current?.nodes ?? [])].filter((n) => {
      const id = (n as { id?: unknown }).id;
      if (id === undefined) return true;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [first.data, current]);

  const loadMore = async () => {
    if (!pageInfo?.hasNextPage || loadingMore) return;
    const base = first.data;
    setLoadingMore(true);
    setMoreError(undefined);
    try {
      const r = await request(doc, { ...variables, after: pageInfo.endCursor });
      const c = selectRef.current(r);
      setExtra((x) => {
        const prev = x.key === key && x.base === base ? x.nodes : [];
        return { key, base, nodes: [...prev, ...nodesOf(c)], pageInfo: c.pageInfo };
      });
    } catch (err) {
      setMoreError(err);
    } finally {
      setLoadingMore(false);
    }
  };

  return {
    nodes,
    totalCount: conn?.totalCount,
    hasNextPage: Boolean(pageInfo?.hasNextPage),
    initial: !first.data,
    loading: first.loading,
    loadingMore,
    error: first.error ?? moreError,
    loadMore,
    refetch: first.refetch,
  };
}

/** Runs fn every `ms` while `on` (and the tab is visible). */
export function useInterval(fn: () => void, ms: number, on: boolean) {
  const ref = useLatest(fn);
  useEffect(() => {
    if (!on) return;
    const t = window.setInterval(() => {
      if (document.visibilityState !== 'hidden') ref.current();
    }, ms);
    return () => window.clearInterval(t);
  }, [ms, on, ref]);
}
