// Organization settings: the signing keys of its license files.
import { useState } from 'react';
import { request } from '../api';
import { Badge, Banner, Button, ConfirmDialog, ErrorState, Loading, PageHeader, Section } from '../components/ui';
import { RotateSigningKeyDocument, SigningKeysDocument, type SigningKeyFieldsFragment } from '../gql/generated';
import { DataTable, type Column } from '../components/ListView';
import { When } from '../components/When';
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

const KEY_COLUMNS: Column<SigningKeyFieldsFragment>[] = [
  { header: 'Key id', className: 'mono url', cell: (k) => k.kid },
  {
    header: 'Status',
    cell: (k) => <Badge tone={k.status === 'CURRENT' ? 'green' : 'neutral'}>{k.status === 'CURRENT' ? 'Current' : 'Retired'}</Badge>,
  },
  { header: 'Algorithm', cell: (k) => k.algorithm },
  { header: 'Created', cell: (k) => <When iso={k.createdAt} /> },
  { header: 'Retired', cell: (k) => <When iso={k.retiredAt} /> },
];

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
        <div data-testid="signing-keys">
          <DataTable
            caption="Signing keys"
            columns={KEY_COLUMNS}
            rows={keys}
            rowProps={(k) => ({ 'data-testid': `signing-key-${k.status.toLowerCase()}` })}
          />
        </div>
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
