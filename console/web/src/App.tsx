import { useRef, useState, type FormEvent } from 'react';
import { ApiError, splitErrors } from './api';
import { Badge, Banner, Button, EmptyState, Field, Loading, TextInput } from './components/ui';
import { Link, Redirect, match, useLocation, useTitle } from './router';
import { SessionProvider, useSession, useSessionState, type Session } from './session';
import { LicensesPage } from './pages/Licenses';
import { LicenseDetailPage } from './pages/LicenseDetail';
import { EntitlementsPage } from './pages/Entitlements';
import { InstancesPage } from './pages/Instances';
import { InstanceDetailPage } from './pages/InstanceDetail';
import { PoliciesPage, PolicyEditorPage } from './pages/Policies';
import { CheckPage } from './pages/Check';
import { AuditPage } from './pages/Audit';
import { EntitlementDetailPage } from './pages/EntitlementDetail';
import { WebhooksPage } from './pages/Webhooks';
import { WebhookDetailPage } from './pages/WebhookDetail';
import { SettingsPage } from './pages/Settings';
import { APIKeysPage } from './pages/APIKeys';

export function App() {
  return (
    <SessionProvider>
      <Root />
    </SessionProvider>
  );
}

function Root() {
  const { session, restoring } = useSessionState();
  if (restoring) {
    return (
      <div className="splash">
        <Loading label="Restoring your session…" />
      </div>
    );
  }
  if (!session) return <SignIn />;
  return <Shell />;
}

function SignIn() {
  const { signIn, notice } = useSessionState();
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [other, setOther] = useState<string[]>([]);
  useTitle('Sign in');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setFieldError(null);
    setOther([]);
    if (!key.trim()) {
      setFieldError('Paste an API key first. It starts with etk_.');
      return;
    }
    setBusy(true);
    try {
      await signIn(key);
    } catch (err) {
      if (err instanceof ApiError && (err.unauthenticated || err.code === 'FORBIDDEN')) {
        setFieldError(`The server does not accept this key (${err.message}). Check that you copied all of it.`);
      } else {
        const split = splitErrors(err, ['key']);
        if (split.fields.key) setFieldError(split.fields.key);
        setOther(split.other);
      }
      setBusy(false);
    }
  };

  return (
    <div className="signin">
      <main className="signin-card">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            e
          </span>
          <span>entitled</span>
        </div>
        <h1>Sign in to the console</h1>
        <p className="muted">
          Paste an API key of your organization. A new server prints its first admin key (<code className="code">etk_…</code>) when it
          starts with an empty database. The key is kept only for this browser tab.
        </p>
        {notice ? <Banner tone="amber" title={notice} /> : null}
        {other.length ? <Banner tone="red" title={other.join(' ')} /> : null}
        <form onSubmit={submit} noValidate>
          <Field
            label="API key"
            error={fieldError}
            hint="Keys with scope READ can browse; ADMIN can also change things; CHECK can only ask for decisions."
          >
            {(p) => (
              <TextInput
                {...p}
                type="password"
                autoComplete="off"
                spellCheck={false}
                placeholder="etk_…"
                value={key}
                autoFocus
                onChange={(e) => setKey(e.target.value)}
              />
            )}
          </Field>
          <Button type="submit" variant="primary" busy={busy} className="btn-block">
            Sign in
          </Button>
        </form>
      </main>
    </div>
  );
}

interface NavItem {
  to: string;
  label: string;
  show: (s: Session) => boolean;
}

const NAV: NavItem[] = [
  { to: '/licenses', label: 'Licenses', show: (s) => s.canRead },
  { to: '/entitlements', label: 'Entitlements', show: (s) => s.canRead },
  { to: '/instances', label: 'Instances', show: (s) => s.canRead },
  { to: '/policies', label: 'Policies', show: (s) => s.canRead },
  { to: '/audit', label: 'Audit log', show: (s) => s.canRead },
  { to: '/webhooks', label: 'Webhooks', show: (s) => s.canRead },
  { to: '/check', label: 'Check decisions', show: (s) => s.canCheck },
  { to: '/api-keys', label: 'API keys', show: (s) => s.canWrite },
  { to: '/settings', label: 'Settings', show: (s) => s.canRead },
];

function Shell() {
  const session = useSession();
  const { path } = useLocation();
  // The menu is open for the page it was opened on: following a link closes it.
  const [menuFor, setMenuFor] = useState<string | null>(null);
  const menuOpen = menuFor === path;
  const setMenuOpen = (f: (open: boolean) => boolean) => setMenuFor(f(menuOpen) ? path : null);
  const mainRef = useRef<HTMLElement>(null);

  const items = NAV.filter((n) => n.show(session));
  const { viewer } = session;
  return (
    <div className="shell">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <aside className={menuOpen ? 'sidebar sidebar-open' : 'sidebar'}>
        <div className="sidebar-top">
          <Link to="/" className="brand">
            <span className="brand-mark" aria-hidden="true">
              e
            </span>
            <span>entitled</span>
          </Link>
          <button
            type="button"
            className="menu-toggle"
            aria-expanded={menuOpen}
            aria-controls="primary-nav"
            onClick={() => setMenuOpen((o) => !o)}
          >
            {menuOpen ? 'Close' : 'Menu'}
          </button>
        </div>
        <div className="org">
          <span className="org-label">Organization</span>
          <span className="org-name" data-testid="org-name">
            {viewer.organization?.name ?? '—'}
          </span>
          <span className="org-slug">{viewer.organization?.slug}</span>
        </div>
        <nav id="primary-nav" aria-label="Primary" className="nav">
          <ul>
            {items.map((n) => {
              const active = path === n.to || path.startsWith(n.to + '/');
              return (
                <li key={n.to}>
                  <Link to={n.to} className={active ? 'nav-link active' : 'nav-link'} aria-current={active ? 'page' : undefined}>
                    {n.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div className="keyinfo">
          <span className="org-label">Signed in with</span>
          <span className="key-name">{viewer.apiKey?.name ?? 'API key'}</span>
          {viewer.apiKey?.prefix ? <span className="org-slug">{viewer.apiKey.prefix}…</span> : null}
          <span className="scopes" aria-label="Scopes">
            {viewer.scopes.map((s) => (
              <Badge key={s} tone={s === 'ADMIN' ? 'purple' : s === 'READ' ? 'blue' : 'neutral'}>
                {s}
              </Badge>
            ))}
          </span>
          {!session.canWrite ? (
            <p className="keyinfo-note">{session.canRead ? 'Read-only: changes are hidden.' : 'This key can only ask for decisions.'}</p>
          ) : null}
          <Button size="sm" onClick={() => session.signOut()}>
            Sign out
          </Button>
        </div>
      </aside>
      <main id="main" className="main" ref={mainRef} tabIndex={-1}>
        <Routes />
      </main>
    </div>
  );
}

function Routes() {
  const session = useSession();
  const { path } = useLocation();
  const home = session.canRead ? '/licenses' : '/check';
  if (path === '/') return <Redirect to={home} />;
  let m: Record<string, string> | null;
  if (session.canRead) {
    if (path === '/licenses') return <LicensesPage />;
    if ((m = match('/licenses/:slug', path))) return <LicenseDetailPage key={m.slug} slug={m.slug} />;
    if (path === '/entitlements') return <EntitlementsPage />;
    if ((m = match('/entitlements/:slug', path))) return <EntitlementDetailPage key={m.slug} slug={m.slug} />;
    if (path === '/instances') return <InstancesPage />;
    if ((m = match('/instances/:slug', path))) return <InstanceDetailPage key={m.slug} slug={m.slug} />;
    if (path === '/policies') return <PoliciesPage />;
    if (path === '/policies/new') return <PolicyEditorPage key="new" id={null} />;
    if ((m = match('/policies/:id', path))) return <PolicyEditorPage key={m.id} id={m.id} />;
    if (path === '/audit') return <AuditPage />;
    if (path === '/webhooks') return <WebhooksPage />;
    if ((m = match('/webhooks/:id', path))) return <WebhookDetailPage key={m.id} id={m.id} />;
    if (path === '/settings') return <SettingsPage />;
    if (session.canWrite && path === '/api-keys') return <APIKeysPage />;
  }
  if (session.canCheck && path === '/check') return <CheckPage />;
  return <NotFound home={home} />;
}

function NotFound({ home }: { home: string }) {
  useTitle('Not found');
  return (
    <EmptyState
      title="This page does not exist, or your API key's scopes do not allow it."
      action={
        <Link to={home} className="btn btn-secondary">
          Go to the start page
        </Link>
      }
    >
      Check the address, or sign in with a key that has the READ or ADMIN scope.
    </EmptyState>
  );
}
