import { useState, type FormEvent } from 'react';
import { Button, EmptyState, ErrorState, Field, Loading, PageHeader, Section, TextInput } from '../components/ui';
import { DecisionsTable } from '../components/Decisions';
import { InstanceDecisionsDocument } from '../gql/generated';
import { useQuery } from '../hooks';
import { navigate, useLocation, useTitle } from '../router';

/** Decisions for one instance by slug: all a CHECK key may look at. */
export function CheckPage() {
  useTitle('Check decisions');
  const { query } = useLocation();
  const asked = query.get('instance') ?? '';
  const [slug, setSlug] = useState(asked);
  const q = useQuery(InstanceDecisionsDocument, { instance: asked }, { skip: !asked });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const s = slug.trim();
    navigate(s ? `/check?instance=${encodeURIComponent(s)}` : '/check');
    if (s === asked) void q.refetch();
  };

  return (
    <>
      <PageHeader title="Check decisions" subtitle="Ask what an instance may do right now, as your services do." />
      <form className="toolbar" onSubmit={submit} role="search">
        <div className="toolbar-grow">
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
        </div>
        <Button type="submit" variant="primary" className="toolbar-submit">
          Check
        </Button>
      </form>
      {!asked ? (
        <EmptyState title="Enter an instance slug to see its decisions.">
          Each entitlement of the instance's license gets a decision and its reason.
        </EmptyState>
      ) : q.error && !q.data ? (
        <ErrorState what="decisions" error={q.error} onRetry={q.refetch} />
      ) : !q.data ? (
        <Loading label="Asking for decisions…" />
      ) : (
        <Section title={`Decisions for ${asked}`}>
          {q.data.decisions.length === 0 ? (
            <p className="muted">Nothing to decide: the instance's license grants no entitlement.</p>
          ) : (
            <DecisionsTable decisions={q.data.decisions} />
          )}
        </Section>
      )}
    </>
  );
}
