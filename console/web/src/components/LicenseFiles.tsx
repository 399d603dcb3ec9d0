// An instance's signed license files: issuing one (downloaded as a .lic
// file for software that decides offline) and the list of those issued.
import { useState } from 'react';
import { request, splitErrors } from '../api';
import { useNow } from '../hooks';
import { DataTable, type Column } from './ListView';
import { When } from './When';
import { downloadText } from '../download';
import { shortKid } from '../format';
import { IssueLicenseFileDocument } from '../gql/generated';
import { Badge, Button, Dialog, ErrorBanner, Field, Select, Switch } from './ui';

export interface IssuedFile {
  id: string;
  kid: string;
  issuedAt: string;
  expiresAt: string;
  issuedByName: string | null;
  includePolicies: boolean;
  sha256: string;
}

/** The validity periods offered; the server takes any Go duration of at least 1h. */
export const TTL_CHOICES = [
  { value: '24h', label: '1 day' },
  { value: '168h', label: '7 days' },
  { value: '720h', label: '30 days' },
  { value: '2160h', label: '90 days' },
  { value: '8760h', label: '1 year' },
] as const;

export function LicenseFilesTable({ files }: { files: IssuedFile[] }) {
  const now = useNow();
  const sorted = [...files].sort((a, b) => b.issuedAt.localeCompare(a.issuedAt));
  if (sorted.length === 0) return <p className="muted">No license file has been issued for this instance yet.</p>;
  const columns: Column<IssuedFile>[] = [
    { header: 'Issued', cell: (f) => <When iso={f.issuedAt} /> },
    { header: 'By', cell: (f) => f.issuedByName ?? '—' },
    {
      header: 'Signing key',
      cell: (f) => (
        <>
          <span className="mono" title={f.kid}>
            {shortKid(f.kid)}
          </span>
          {f.includePolicies ? (
            <>
              {' '}
              <Badge tone="blue">with policies</Badge>
            </>
          ) : null}
        </>
      ),
    },
    {
      header: 'Expires',
      cell: (f) => (
        <>
          <When iso={f.expiresAt} /> {new Date(f.expiresAt).getTime() <= now ? <Badge tone="red">Expired</Badge> : null}
        </>
      ),
    },
  ];
  return (
    <div data-testid="license-files">
      <DataTable
        caption="License files issued"
        columns={columns}
        rows={sorted}
        rowProps={(f) => ({ 'data-testid': `license-file-${f.id}` })}
      />
    </div>
  );
}

export function IssueLicenseFileDialog({
  instance,
  onClose,
  onIssued,
}: {
  instance: { id: string; slug: string };
  onClose: () => void;
  onIssued: (f: { expiresAt: string; filename: string }) => Promise<void>;
}) {
  const [ttl, setTtl] = useState('720h');
  const [includePolicies, setIncludePolicies] = useState(false);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string[] }>({ fields: {}, other: [] });
  const submit = async () => {
    setBusy(true);
    setErrors({ fields: {}, other: [] });
    try {
      const r = await request(IssueLicenseFileDocument, { input: { instanceID: instance.id, ttl, includePolicies } });
      const filename = `${instance.slug}.lic`;
      downloadText(filename, r.issueLicenseFile.certificate);
      await onIssued({ expiresAt: r.issueLicenseFile.expiresAt, filename });
    } catch (err) {
      setErrors(splitErrors(err, ['ttl', 'includePolicies']));
      setBusy(false);
    }
  };
  return (
    <Dialog
      title="Download license file"
      description="A signed file with everything this instance is granted, for software that must decide without reaching the server. It cannot see changes or revocations until it gets a new file."
      onClose={onClose}
      onSubmit={submit}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" busy={busy}>
            Issue and download
          </Button>
        </>
      }
    >
      <ErrorBanner messages={errors.other} />
      <Field label="Valid for" error={errors.fields.ttl} hint="Past its expiry, the file's decisions say LICENSE_FILE_EXPIRED.">
        {(p) => (
          <Select {...p} value={ttl} onChange={(e) => setTtl(e.target.value)}>
            {TTL_CHOICES.map((c) => (
              <option key={c.value} value={c.value}>
                {c.label}
              </option>
            ))}
          </Select>
        )}
      </Field>
      <Switch
        label="Include policies"
        checked={includePolicies}
        onChange={setIncludePolicies}
        hint="Carry the organization's active custom policies, so offline decisions apply them too."
      />
    </Dialog>
  );
}
