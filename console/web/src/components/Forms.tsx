// What the create/edit dialogs share: the submit cycle (busy, field errors
// from the server), the dialog with Cancel and submit, and the name and
// slug pair (the slug follows the name until edited, and is fixed once
// created: clients ask for things by slug).
import { useState, type ReactNode } from 'react';
import { splitErrors } from '../api';
import { slugify } from '../format';
import { Button, Dialog, ErrorBanner, Field, TextInput } from './ui';

export interface FormErrors {
  fields: Record<string, string>;
  other: string[];
}

const NO_ERRORS: FormErrors = { fields: {}, other: [] };

/** The submit cycle of a form whose server errors name `fields`. */
export function useFormSubmit(fields: readonly string[]) {
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  /** Runs the request; field errors go beside their fields, the rest in a banner. */
  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      await fn();
    } catch (err) {
      setErrors(splitErrors(err, fields));
      setBusy(false);
    }
  };
  /** Shows errors found before asking the server; true when there were none. */
  const check = (local: Record<string, string>) => {
    if (Object.keys(local).length === 0) return true;
    setErrors({ fields: local, other: [] });
    return false;
  };
  return { busy, errors, run, check };
}

export function FormDialog({
  title,
  submitLabel,
  busy,
  errors,
  onClose,
  onSubmit,
  wide,
  description,
  children,
}: {
  title: string;
  submitLabel: string;
  busy: boolean;
  errors: FormErrors;
  onClose: () => void;
  onSubmit: () => void;
  wide?: boolean;
  description?: ReactNode;
  children: ReactNode;
}) {
  return (
    <Dialog
      title={title}
      description={description}
      onClose={onClose}
      onSubmit={onSubmit}
      wide={wide}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" busy={busy}>
            {submitLabel}
          </Button>
        </>
      }
    >
      <ErrorBanner messages={errors.other} />
      {children}
    </Dialog>
  );
}

/** A name and its slug; `existing` when editing (the slug is then fixed). */
export function useNameSlug(existing?: { name: string; slug: string }) {
  const [name, setNameRaw] = useState(existing?.name ?? '');
  const [slug, setSlugRaw] = useState(existing?.slug ?? '');
  const [slugTouched, setSlugTouched] = useState(Boolean(existing));
  return {
    name,
    slug,
    existing: Boolean(existing),
    setName: (v: string) => {
      setNameRaw(v);
      if (!slugTouched) setSlugRaw(slugify(v));
    },
    setSlug: (v: string) => {
      setSlugRaw(v);
      setSlugTouched(true);
    },
    /** Errors for empty values, in the form's words. */
    missing: (what: string, example: string): Record<string, string> => ({
      ...(name.trim() ? {} : { name: `Give the ${what} a name.` }),
      ...(slug.trim() ? {} : { slug: `Give the ${what} a slug, like "${example}".` }),
    }),
  };
}

export type NameSlug = ReturnType<typeof useNameSlug>;

export function NameSlugFields({ state, errors, hint }: { state: NameSlug; errors: FormErrors; hint: string }) {
  return (
    <>
      <Field label="Name" error={errors.fields.name}>
        {(p) => <TextInput {...p} value={state.name} autoFocus onChange={(e) => state.setName(e.target.value)} />}
      </Field>
      <Field label="Slug" error={errors.fields.slug} hint={state.existing ? 'Fixed once created: clients ask for it by this slug.' : hint}>
        {(p) => (
          <TextInput
            {...p}
            className="input mono"
            spellCheck={false}
            value={state.slug}
            readOnly={state.existing}
            aria-readonly={state.existing || undefined}
            onChange={(e) => state.setSlug(e.target.value)}
          />
        )}
      </Field>
    </>
  );
}
