// The value editor of a license ↔ entitlement link, by entitlement type:
// NUMBER: a limit with an "unlimited" switch and an overage percentage;
// BOOLEAN: a switch; CONFIG: JSON, checked as you type.
import { useState } from 'react';
import { request, splitErrors } from '../api';
import { asLinkValue, humanize, parseJSONObject } from '../format';
import { SetLicenseEntitlementDocument } from '../gql/generated';
import { Badge, Button, Dialog, ErrorBanner, Field, Switch, TextArea, TextInput } from './ui';

export interface LinkTarget {
  entitlement: { id: string; name: string; slug: string; type: string; resetPeriod?: string | null };
  link: { value: unknown; overagePercent?: number | null } | null;
}

export function LinkEditor({
  licenseID,
  target,
  onClose,
  onSaved,
}: {
  licenseID: string;
  target: LinkTarget;
  onClose: () => void;
  onSaved: (message: string) => void;
}) {
  const { entitlement, link } = target;
  const current = asLinkValue(link?.value);
  const [limit, setLimit] = useState(() => (current.type === 'number' && Number(current.value) !== -1 ? String(current.value) : ''));
  const [unlimited, setUnlimited] = useState(current.type === 'number' && Number(current.value) === -1);
  const [overage, setOverage] = useState(link?.overagePercent != null ? String(link.overagePercent) : '');
  const [enabled, setEnabled] = useState(current.type === 'boolean' ? Boolean(current.value) : true);
  const [json, setJson] = useState(() => (current.type === 'object' ? JSON.stringify(current.value, null, 2) : '{\n  \n}'));
  const [jsonTouched, setJsonTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string[] }>({ fields: {}, other: [] });

  const parsed = entitlement.type === 'CONFIG' ? parseJSONObject(json) : null;
  const liveJsonError = parsed && !parsed.ok && jsonTouched ? parsed.error : null;

  const submit = async () => {
    let value: { type: string; value: unknown };
    let overagePercent: number | null = null;
    const local: Record<string, string> = {};
    switch (entitlement.type) {
      case 'NUMBER': {
        if (unlimited) value = { type: 'number', value: -1 };
        else {
          const n = Number(limit);
          if (limit.trim() === '' || !Number.isFinite(n)) local.value = 'Enter a limit, or switch on "Unlimited".';
          else if (n < 0) local.value = 'The limit must be 0 or more (use "Unlimited" for no limit).';
          value = { type: 'number', value: n };
        }
        // An unlimited grant has no hard cap, so no overage either.
        if (!unlimited && overage.trim() !== '') {
          const o = Number(overage);
          if (!Number.isFinite(o) || o < 0 || o > 1000) local.overagePercent = 'Overage must be a percentage from 0 to 1000.';
          else overagePercent = o;
        }
        break;
      }
      case 'BOOLEAN':
        value = { type: 'boolean', value: enabled };
        break;
      default: {
        const p = parseJSONObject(json);
        if (!p.ok) {
          setJsonTouched(true);
          local.value = p.error;
          value = { type: 'object', value: null };
        } else value = { type: 'object', value: p.value };
      }
    }
    if (Object.keys(local).length) {
      setErrors({ fields: local, other: [] });
      return;
    }
    setBusy(true);
    setErrors({ fields: {}, other: [] });
    try {
      const res = await request(SetLicenseEntitlementDocument, {
        input: { licenseID, entitlementID: entitlement.id, value: value!, ...(overagePercent !== null ? { overagePercent } : {}) },
      });
      onSaved(`${link ? 'Changed' : 'Added'} ${entitlement.name}. The license is at version ${res.setLicenseEntitlement.license.version}.`);
    } catch (err) {
      setErrors(splitErrors(err, ['value', 'overagePercent']));
      setBusy(false);
    }
  };

  const valueError = errors.fields.value ?? null;
  return (
    <Dialog
      title={`${link ? 'Change' : 'Add'} ${entitlement.name}`}
      description={
        <>
          <span className="mono">{entitlement.slug}</span> <Badge>{humanize(entitlement.type)}</Badge>
        </>
      }
      onClose={onClose}
      onSubmit={submit}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" busy={busy}>
            {link ? 'Save value' : 'Add to license'}
          </Button>
        </>
      }
    >
      <ErrorBanner messages={errors.other} />
      {entitlement.type === 'NUMBER' ? (
        <div className="stack">
          <Field
            label="Limit"
            error={valueError}
            hint={
              entitlement.resetPeriod && entitlement.resetPeriod !== 'NONE'
                ? `Per ${entitlement.resetPeriod.toLowerCase()}, reset on UTC calendar boundaries.`
                : 'For the whole life of the instance (never resets).'
            }
          >
            {(p) => (
              <TextInput
                {...p}
                type="number"
                inputMode="decimal"
                min={0}
                step="any"
                value={unlimited ? '' : limit}
                placeholder={unlimited ? 'Unlimited' : 'e.g. 10000'}
                disabled={unlimited}
                autoFocus
                onChange={(e) => setLimit(e.target.value)}
              />
            )}
          </Field>
          <Switch label="Unlimited" checked={unlimited} onChange={setUnlimited} hint="No limit: every request is allowed (stored as -1)." />
          <Field
            label="Overage %"
            optional
            error={errors.fields.overagePercent}
            hint="A soft limit: usage may exceed the limit by this much before requests are refused. The hard cap is limit × (1 + overage/100)."
          >
            {(p) => (
              <TextInput
                {...p}
                type="number"
                inputMode="decimal"
                min={0}
                step="any"
                value={unlimited ? '' : overage}
                disabled={unlimited}
                placeholder="0"
                onChange={(e) => setOverage(e.target.value)}
              />
            )}
          </Field>
        </div>
      ) : entitlement.type === 'BOOLEAN' ? (
        <>
          <Switch
            label="Enabled"
            checked={enabled}
            onChange={setEnabled}
            hint="Instances on this license may use the feature when it is on."
          />
          {valueError ? (
            <p className="field-error" role="alert">
              {valueError}
            </p>
          ) : null}
        </>
      ) : (
        <Field
          label="Configuration (JSON)"
          error={valueError ?? liveJsonError}
          hint='A JSON object returned with every decision, like {"theme": "custom", "maxProjects": 5}.'
        >
          {(p) => (
            <TextArea
              {...p}
              className="input textarea mono"
              rows={8}
              spellCheck={false}
              value={json}
              autoFocus
              onChange={(e) => {
                setJson(e.target.value);
                setJsonTouched(true);
                if (errors.fields.value) setErrors((s) => ({ ...s, fields: {} }));
              }}
            />
          )}
        </Field>
      )}
    </Dialog>
  );
}
