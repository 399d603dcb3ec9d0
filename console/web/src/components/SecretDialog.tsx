// A secret the server shows once (a webhook signing secret, an API key):
// shown with a copy button and a warning that it will not be shown again.
import { useId, useState, type ReactNode } from 'react';
import { Banner, Button, Dialog } from './ui';

export function SecretDialog({
  secret,
  title,
  children,
  onClose,
  label = 'Signing secret',
  testId = 'webhook-secret',
  warning = 'The server keeps only what it needs to sign. If you lose the secret, rotate it to get a new one.',
  hint = 'Verify the webhook-signature header of each delivery with it (Standard Webhooks).',
}: {
  secret: string;
  title: string;
  children?: ReactNode;
  onClose: () => void;
  label?: string;
  testId?: string;
  warning?: ReactNode;
  hint?: ReactNode;
}) {
  const id = useId();
  const [copied, setCopied] = useState<null | 'ok' | 'failed'>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('ok');
    } catch {
      // No clipboard access (an insecure origin, a denied permission):
      // select the text so that the person can copy it by hand.
      const input = document.getElementById(id) as HTMLInputElement | null;
      input?.select();
      setCopied('failed');
    }
  };
  return (
    <Dialog
      title={title}
      onClose={onClose}
      wide
      footer={
        <Button variant="primary" onClick={onClose}>
          I have stored the secret
        </Button>
      }
    >
      <div className="stack">
        <Banner tone="amber" title="Copy this secret now: it will not be shown again.">
          {warning}
        </Banner>
        {children ? <p className="dialog-text">{children}</p> : null}
        <div className="field">
          <label htmlFor={id} className="field-label">
            {label}
          </label>
          <div className="secret-row">
            <input
              id={id}
              className="input mono"
              readOnly
              value={secret}
              spellCheck={false}
              data-testid={testId}
              onFocus={(e) => e.target.select()}
            />
            <Button onClick={copy}>Copy</Button>
          </div>
          <p className="field-hint" role="status">
            {copied === 'ok'
              ? 'Copied to the clipboard.'
              : copied === 'failed'
                ? 'The browser refused the clipboard: the secret is selected, copy it with Ctrl+C (⌘C).'
                : hint}
          </p>
        </div>
      </div>
    </Dialog>
  );
}
