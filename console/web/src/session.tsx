// The signed-in session: the API key (kept in sessionStorage, so it lives
// as long as the browser tab), the viewer it belongs to, and what its scopes
// allow the console to show.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError, request, setApiKey, setUnauthenticatedHandler } from './api';
import { ViewerDocument, type ViewerQuery } from './gql/generated';

const STORAGE_KEY = 'entitled.apiKey';

export type Viewer = ViewerQuery['viewer'];

export interface Session {
  viewer: Viewer;
  /** ADMIN: may change things. */
  canWrite: boolean;
  /** ADMIN or READ: may list licenses, entitlements, instances. */
  canRead: boolean;
  /** ADMIN or CHECK: may ask for decisions. */
  canCheck: boolean;
  signOut: (reason?: string) => void;
}

interface SessionState {
  session: Session | null;
  /** True while a stored key is being checked on load. */
  restoring: boolean;
  notice: string | null;
  signIn: (key: string) => Promise<void>;
}

const Ctx = createContext<SessionState | null>(null);

function readStored(): string | null {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function writeStored(key: string | null) {
  try {
    if (key) window.sessionStorage.setItem(STORAGE_KEY, key);
    else window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    /* storage disabled: the session lasts until reload */
  }
}

/** The viewer of a key, refusing the operator token (it has no console). */
async function verify(key: string): Promise<Viewer> {
  const data = await request(ViewerDocument, {}, key);
  if (data.viewer.operator) {
    throw new ApiError(
      [
        {
          message: 'This is the operator token, which can only create organizations. Sign in with an organization API key.',
          extensions: { field: 'key' },
        },
      ],
      403,
    );
  }
  return data.viewer;
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [viewer, setViewer] = useState<Viewer | null>(null);
  const [restoring, setRestoring] = useState(() => readStored() !== null);
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback((reason?: string) => {
    writeStored(null);
    setApiKey(null);
    setViewer(null);
    setNotice(reason ?? null);
  }, []);

  const apply = useCallback((key: string, v: Viewer) => {
    writeStored(key);
    setApiKey(key);
    setNotice(null);
    setViewer(v);
  }, []);

  const signIn = useCallback(
    async (key: string) => {
      const trimmed = key.trim();
      apply(trimmed, await verify(trimmed));
    },
    [apply],
  );

  useEffect(() => {
    setUnauthenticatedHandler(() =>
      signOut('The server no longer accepts this API key (it may have been revoked or expired). Sign in with another key.'),
    );
    const stored = readStored();
    if (!stored) return;
    verify(stored)
      .then((v) => apply(stored, v))
      .catch((err) => {
        writeStored(null);
        setNotice(
          err instanceof ApiError && err.unauthenticated
            ? 'Your saved API key is no longer valid. Sign in again.'
            : `Could not restore your session: ${(err as Error).message}`,
        );
      })
      .finally(() => setRestoring(false));
    return () => setUnauthenticatedHandler(null);
  }, [apply, signOut]);

  const session = useMemo<Session | null>(() => {
    if (!viewer) return null;
    const has = (s: string) => viewer.scopes.includes(s as Viewer['scopes'][number]);
    return {
      viewer,
      canWrite: has('ADMIN'),
      canRead: has('ADMIN') || has('READ'),
      canCheck: has('ADMIN') || has('CHECK'),
      signOut,
    };
  }, [viewer, signOut]);

  const value = useMemo(() => ({ session, restoring, notice, signIn }), [session, restoring, notice, signIn]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSessionState(): SessionState {
  const v = useContext(Ctx);
  if (!v) throw new Error('useSessionState outside SessionProvider');
  return v;
}

/** The signed-in session; only for components rendered after sign-in. */
export function useSession(): Session {
  const s = useSessionState().session;
  if (!s) throw new Error('useSession without a session');
  return s;
}
