// Organization settings: the signing keys of its license files.
import { useState } from 'react';
import { request } from '../api';
import { Badge, Banner, Button, ConfirmDialog, ErrorState, Loading, PageHeader, Section } from '../components/ui';
import { fmtDateTime } from '../format';
import { RotateSigningKeyDocument, SigningKeysDocument } from '../gql/generated';
import { useQuery } from '../hooks';
import { useTitle } from '../router';
import { useSession } from '../session';

export function SettingsPage() {
  useTitle('Settings');
  return (
    <>
      <PageHeader title="Settings" subtitle="How your organization signs the license files of its instances." />
      <SigningKeysSection />
    </>
  );
}

function SigningKeysSection() {
  const session = useSession();
  const q = useQuery(SigningKeysDocument, {});
  const [rotating, setRotating] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const keys = q.data?.signingKeys ?? [];
  const base = typeof window === 'undefined' ? '' : window.location.origin;
  const jwks = `${base}/v1/orgs/${encodeURIComponent(session.viewer.organization?.slug ?? '')}/jwks.json`;
  return (
    <Section
      title="Signing keys"
      description={
        <>
          Ed25519 keys that sign license files. The current key signs new files; retired keys keep verifying the files they signed.
          Verifiers trust the public keys at <a href={jwks}>{jwks}</a>.
        </>
      }
      actions={
        session.canWrite ? (
          <Button onClick={() => setRotating(true)} disabled={!q.data}>
            Rotate signing key
          </Button>
        ) : null
      }
    >
      {notice ? <Banner tone="green" title={notice} onDismiss={() => setNotice(null)} /> : null}
      {q.error && !q.data ? (
        <ErrorState what="signing keys" error={q.error} onRetry={q.refetch} />
      ) : !q.data ? (
        <Loading label="Loading signing keys…" />
      ) : keys.length === 0 ? (
        <p className="muted">No signing key yet: the first one is made when the first license file is issued, or when you rotate.</p>
      ) : (
        <table className="table table-cards" data-testid="signing-keys">
          <caption className="sr-only">Signing keys</caption>
          <thead>
            <tr>
              <th scope="col">Key id</th>
              <th scope="col">Status</th>
              <th scope="col">Algorithm</th>
              <th scope="col">Created</th>
              <th scope="col">Retired</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id} data-testid={`signing-key-${k.status.toLowerCase()}`}>
                <td data-label="Key id" className="mono url">
                  {k.kid}
                </td>
                <td data-label="Status">
                  <Badge tone={k.status === 'CURRENT' ? 'green' : 'neutral'}>{k.status === 'CURRENT' ? 'Current' : 'Retired'}</Badge>
                </td>
                <td data-label="Algorithm">{k.algorithm}</td>
                <td data-label="Created">{fmtDateTime(k.createdAt)}</td>
                <td data-label="Retired">{k.retiredAt ? fmtDateTime(k.retiredAt) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {rotating ? (
        <ConfirmDialog
          title="Rotate the signing key?"
          confirmLabel="Rotate signing key"
          tone="primary"
          onClose={() => setRotating(false)}
          onConfirm={async () => {
            const k = await request(RotateSigningKeyDocument, {});
            setRotating(false);
            setNotice(`New current key ${k.rotateSigningKey.kid}.`);
            await q.refetch();
          }}
        >
          A new key signs the files issued from now on. The current key is retired: it stays in the JWKS, so files it signed keep verifying
          until they expire. Verifiers that copied the JWKS need the new key before they see a file it signed.
        </ConfirmDialog>
      ) : null}
    </Section>
  );
}
