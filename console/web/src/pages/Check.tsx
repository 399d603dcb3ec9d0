// Ask for decisions as a service would: an instance, optionally one
// entitlement, how much is requested and the request's context; then why
// (the rules that fired, with file and row).
import { useState, type FormEvent } from 'react';
import { ApiError, request } from '../api';
import { DecisionsTable } from '../components/Decisions';
import { DataTable, type Column } from '../components/ListView';
import {
  Badge,
  Banner,
  Button,
  EmptyState,
  ErrorState,
  Field,
  Loading,
  PageHeader,
  Section,
  TextArea,
  TextInput,
  errorText,
} from '../components/ui';
import { parseJSONObject } from '../format';
import { CheckDecisionsDocument, ExplainDecisionDocument, type ExplainDecisionQuery } from '../gql/generated';
import { useQuery } from '../hooks';
import { navigate, useLocation, useTitle } from '../router';

type Step = NonNullable<ExplainDecisionQuery['explainDecision']['explanation']>[number];

/** What the address asks: the form's values, as they were submitted. */
function askedOf(query: URLSearchParams) {
  const ctx = query.get('context') ?? '';
  const parsed = parseJSONObject(ctx);
  const req = query.get('requested') ?? '';
  return {
    instance: query.get('instance') ?? '',
    entitlement: query.get('entitlement') ?? '',
    requested: req,
    context: ctx,
    vars: {
      instance: query.get('instance') ?? '',
      ...(query.get('entitlement') ? { entitlements: [query.get('entitlement')!] } : {}),
      ...(req !== '' && Number.isFinite(Number(req)) ? { requested: Number(req) } : {}),
      ...(parsed.ok && ctx.trim() ? { context: parsed.value } : {}),
    },
  };
}

export function CheckPage() {
  useTitle('Check decisions');
  const { query } = useLocation();
  const asked = askedOf(query);
  const [slug, setSlug] = useState(asked.instance);
  const [entitlement, setEntitlement] = useState(asked.entitlement);
  const [requested, setRequested] = useState(asked.requested);
  const [context, setContext] = useState(asked.context);
  const [errors, setErrors] = useState<{ requested?: string; context?: string }>({});
  const [why, setWhy] = useState<{ entitlement: string; steps: Step[] | null; error?: string; reason?: string; reasons?: string[] } | null>(
    null,
  );
  const q = useQuery(CheckDecisionsDocument, asked.vars, { skip: !asked.instance });
  // Entitlements to pick from: those the instance's license grants.
  const options = useQuery(CheckDecisionsDocument, { instance: asked.instance }, { skip: !asked.instance });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const errs: typeof errors = {};
    if (requested.trim() !== '' && !Number.isFinite(Number(requested)))
      errs.requested = 'Enter a number, like 5, or leave it empty (1 for Number entitlements).';
    const parsed = parseJSONObject(context);
    if (!parsed.ok) errs.context = parsed.error;
    setErrors(errs);
    if (Object.keys(errs).length) return;
    setWhy(null);
    const params = new URLSearchParams();
    if (slug.trim()) params.set('instance', slug.trim());
    if (entitlement.trim()) params.set('entitlement', entitlement.trim());
    if (requested.trim()) params.set('requested', requested.trim());
    if (context.trim()) params.set('context', context.trim());
    const to = params.toString() ? `/check?${params}` : '/check';
    if (to === `/check?${query}` || (to === '/check' && !query.toString())) void q.refetch();
    navigate(to);
  };

  const explain = async (entitlementSlug: string) => {
    setWhy({ entitlement: entitlementSlug, steps: null });
    try {
      const v = asked.vars;
      const r = await request(ExplainDecisionDocument, {
        instance: v.instance,
        entitlement: entitlementSlug,
        ...('requested' in v ? { requested: v.requested } : {}),
        ...('context' in v ? { context: v.context } : {}),
      });
      const d = r.explainDecision;
      setWhy({ entitlement: entitlementSlug, steps: d.explanation ?? [], reason: d.reason, reasons: d.reasons });
    } catch (err) {
      setWhy({ entitlement: entitlementSlug, steps: [], error: errorText(err) });
    }
  };

  const notFound =
    (q.error instanceof ApiError && q.error.code === 'NOT_FOUND') ||
    (q.data ? q.data.decisions.length > 0 && q.data.decisions.every((d) => d.reason === 'INSTANCE_NOT_FOUND') : false);
  const listId = 'check-entitlements';

  return (
    <>
      <PageHeader title="Check decisions" subtitle="Ask what an instance may do right now, as your services do, and see why." />
      <form className="card check-form" onSubmit={submit} role="search" aria-label="Ask for decisions" noValidate>
        <div className="form-grid card-body">
          <Field label="Instance slug">
            {(p) => (
              <TextInput
                {...p}
                className="input mono"
                value={slug}
                placeholder="eu-prod-1"
                spellCheck={false}
                onChange={(e) => setSlug(e.target.value)}
              />
            )}
          </Field>
          <Field label="Entitlement slug" optional hint="Empty: every entitlement the instance's license grants.">
            {(p) => (
              <TextInput
                {...p}
                className="input mono"
                list={listId}
                value={entitlement}
                placeholder="api-calls"
                spellCheck={false}
                onChange={(e) => setEntitlement(e.target.value)}
              />
            )}
          </Field>
          <datalist id={listId}>
            {(options.data?.decisions ?? []).map((d) => (
              <option key={d.entitlement} value={d.entitlement} />
            ))}
          </datalist>
          <Field
            label="Requested"
            optional
            error={errors.requested}
            hint="For Number entitlements: how much the request would use (default 1)."
          >
            {(p) => (
              <TextInput {...p} inputMode="decimal" value={requested} placeholder="1" onChange={(e) => setRequested(e.target.value)} />
            )}
          </Field>
          <Field
            label="Context (JSON)"
            optional
            error={errors.context}
            hint={
              <>
                Visible to policies as <code className="code">input.request.context</code>, e.g. {'{"region": "eu"}'}.
              </>
            }
          >
            {(p) => (
              <TextArea
                {...p}
                className="input textarea mono"
                rows={3}
                spellCheck={false}
                value={context}
                placeholder="{}"
                onChange={(e) => setContext(e.target.value)}
              />
            )}
          </Field>
          <div className="span-2">
            <Button type="submit" variant="primary">
              Check
            </Button>
          </div>
        </div>
      </form>
      {!asked.instance ? (
        <EmptyState title="Enter an instance slug to see its decisions.">
          Each entitlement of the instance&apos;s license gets a decision and its reason.
        </EmptyState>
      ) : notFound ? (
        <EmptyState title={`No instance with slug "${asked.instance}".`}>
          Services asking about it are told INSTANCE_NOT_FOUND. Check the slug on the Instances page.
        </EmptyState>
      ) : q.error && !q.data ? (
        <ErrorState what="decisions" error={q.error} onRetry={q.refetch} />
      ) : !q.data ? (
        <Loading label="Asking for decisions…" />
      ) : (
        <Section
          title={`Decisions for ${asked.instance}`}
          description={
            [
              asked.vars.requested !== undefined ? `requested ${asked.vars.requested}` : null,
              asked.vars.context ? `context ${asked.context}` : null,
            ]
              .filter(Boolean)
              .join(' · ') || undefined
          }
        >
          {q.data.decisions.length === 0 ? (
            <p className="muted">Nothing to decide: the instance&apos;s license grants no entitlement.</p>
          ) : (
            <DecisionsTable decisions={q.data.decisions} onExplain={(d) => void explain(d.entitlement)} />
          )}
        </Section>
      )}
      {why ? <WhySection why={why} /> : null}
    </>
  );
}

const STEP_COLUMNS: Column<Step & { id: string }>[] = [
  { header: 'Rule', className: 'mono url', cell: (s) => s.rule },
  { header: 'Kind', cell: (s) => <Badge tone={s.kind === 'deny' ? 'red' : s.kind === 'grant' ? 'green' : 'neutral'}>{s.kind}</Badge> },
  { header: 'Where', className: 'mono', cell: (s) => `${s.file}:${s.row}:${s.col}` },
  { header: 'Message', cell: (s) => s.message || '—' },
];

function WhySection({ why }: { why: { entitlement: string; steps: Step[] | null; error?: string; reason?: string; reasons?: string[] } }) {
  return (
    <Section
      title={`Why: ${why.entitlement}`}
      description="The rules that fired while deciding, in order, with the file and row they are in."
    >
      <div data-testid="explanation" aria-live="polite">
        {why.steps === null ? (
          <Loading label="Explaining…" />
        ) : why.error ? (
          <Banner tone="red" title={why.error} />
        ) : (
          <>
            <p>
              <span className="mono">{why.reason}</span>
              {why.reasons && why.reasons.length ? ` — ${why.reasons.join('; ')}` : ''}
            </p>
            {why.steps.length === 0 ? (
              <p className="muted">No rule fired: the default rules decided.</p>
            ) : (
              <DataTable caption="Rules that fired" columns={STEP_COLUMNS} rows={why.steps.map((s, i) => ({ ...s, id: String(i) }))} />
            )}
          </>
        )}
      </div>
    </Section>
  );
}
