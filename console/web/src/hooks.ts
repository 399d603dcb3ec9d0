import { useCallback, useEffect, useRef, useState } from 'react';
import { request } from './api';
import type { TypedDocumentString } from './gql/generated';

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
  const vars = useRef(variables);
  vars.current = variables;

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
