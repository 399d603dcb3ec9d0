import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { ApiError, request, splitErrors } from '../api';
import { CodeEditor, ProblemList, type CodeEditorHandle, type Problem } from '../components/CodeEditor';
import { HistoryPanel } from '../components/Audit';
import {
  Badge,
  Banner,
  Button,
  ConfirmDialog,
  EmptyState,
  ErrorBanner,
  ErrorState,
  Field,
  Loading,
  PageHeader,
  Section,
  Switch,
  TextInput,
  errorText,
} from '../components/ui';
import { fmtDateTime, fmtNumber, plural } from '../format';
import {
  CreatePolicyDocument,
  DeletePolicyDocument,
  PoliciesDocument,
  type PoliciesQuery,
  PolicyDetailDocument,
  PreviewPolicyDocument,
  TestPolicyDocument,
  UpdatePolicyDocument,
  ValidatePolicyDocument,
  type PolicyDetailQuery,
  type PreviewPolicyQuery,
  type TestPolicyQuery,
} from '../gql/generated';
import { useDebounced, usePages, useQuery, type NodeOf } from '../hooks';
import { ListEmpty, ListView, NameCell, SearchField, Toolbar, type Column } from '../components/ListView';
import { When } from '../components/When';

type PolicyRow = NodeOf<PoliciesQuery['policies']>;
import { Link, navigate, useLocation, useTitle } from '../router';
import { useSession } from '../session';

interface TestSummary {
  passed?: number;
  failed?: number;
}

function TestsBadge({ result }: { result: Record<string, unknown> | null }) {
  const r = (result ?? {}) as TestSummary;
  const total = (r.passed ?? 0) + (r.failed ?? 0);
  if (!result || total === 0) return <span className="muted">No tests</span>;
  return r.failed ? <Badge tone="red">{`${r.failed} of ${total} failing`}</Badge> : <Badge tone="green">{`${total} passing`}</Badge>;
}

export function PoliciesPage() {
  useTitle('Policies');
  const session = useSession();
  const { query } = useLocation();
  const [search, setSearch] = useState(query.get('q') ?? '');
  const q = useDebounced(search.trim(), 250);
  const pages = usePages(PoliciesDocument, { where: q ? { nameContainsFold: q } : {}, first: 50 }, (r) => r.policies);
  const [toggling, setToggling] = useState<{ id: string; name: string; active: boolean } | null>(null);
  const [deleting, setDeleting] = useState<{ id: string; name: string } | null>(null);
  const setQuery = (v: string) => {
    setSearch(v);
    navigate(v ? `/policies?q=${encodeURIComponent(v)}` : '/policies', { replace: true });
  };
  const newPolicy = session.canWrite ? (
    <Link to="/policies/new" className="btn btn-primary">
      New policy
    </Link>
  ) : null;

  const columns: Column<PolicyRow>[] = [
    {
      header: 'Policy',
      cell: (p) => (
        <NameCell to={`/policies/${encodeURIComponent(p.id)}`} name={p.name}>
          <span className="row-sub">Version {p.version}</span>
        </NameCell>
      ),
    },
    { header: 'Status', cell: (p) => (p.active ? <Badge tone="green">Active</Badge> : <Badge>Inactive</Badge>) },
    { header: 'Tests', cell: (p) => <TestsBadge result={p.lastTestResult} /> },
    { header: 'Updated', cell: (p) => <When iso={p.updatedAt} /> },
  ];
  if (session.canWrite) {
    columns.push({
      header: 'Actions',
      hideHeader: true,
      className: 'actions',
      cell: (p) => (
        <>
          <Button size="sm" onClick={() => setToggling(p)} aria-label={`${p.active ? 'Deactivate' : 'Activate'} ${p.name}`}>
            {p.active ? 'Deactivate' : 'Activate'}
          </Button>
          <Button size="sm" variant="ghost" onClick={() => setDeleting(p)} aria-label={`Delete ${p.name}`}>
            Delete
          </Button>
        </>
      ),
    });
  }

  return (
    <>
      <PageHeader
        title="Policies"
        subtitle="Custom Rego rules that deny or grant on top of the default decision rules."
        actions={newPolicy}
      />
      <Toolbar label="Search policies" search busy={pages.loading && !pages.initial}>
        <SearchField placeholder="Name" value={search} onChange={setQuery} />
      </Toolbar>
      <ListView
        what="policies"
        noun={['policy', 'policies']}
        pages={pages}
        columns={columns}
        rowProps={(p) => ({ 'data-testid': `policy-${p.name}` })}
        empty={
          <ListEmpty
            filtered={Boolean(q)}
            noMatch={`No policy matches "${q}".`}
            onClear={() => setQuery('')}
            clearLabel="Clear search"
            title="No custom policies yet."
            action={
              session.canWrite ? (
                <Link to="/policies/new" className="btn btn-primary">
                  Write your first policy
                </Link>
              ) : null
            }
          >
            Every decision follows the default rules. A policy can deny (for example outside a region) or grant (for example a grace period
            after expiry). You can test and preview it before it goes live.
          </ListEmpty>
        }
      />
      {toggling ? (
        <ActivateDialog
          policy={toggling}
          onClose={() => setToggling(null)}
          onDone={async () => {
            setToggling(null);
            await pages.refetch();
          }}
        />
      ) : null}
      {deleting ? (
        <ConfirmDialog
          title={`Delete ${deleting.name}?`}
          confirmLabel="Delete policy"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await request(DeletePolicyDocument, { id: deleting.id });
            setDeleting(null);
            await pages.refetch();
          }}
        >
          The policy and its earlier versions are deleted. If it is active, decisions stop using its rules at once.
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function ActivateDialog({
  policy,
  onClose,
  onDone,
}: {
  policy: { id: string; name: string; active: boolean };
  onClose: () => void;
  onDone: () => Promise<void> | void;
}) {
  const activating = !policy.active;
  return (
    <ConfirmDialog
      title={`${activating ? 'Activate' : 'Deactivate'} ${policy.name}?`}
      confirmLabel={activating ? 'Activate' : 'Deactivate'}
      tone={activating ? 'primary' : 'danger'}
      onClose={onClose}
      onConfirm={async () => {
        await request(UpdatePolicyDocument, { id: policy.id, input: { active: activating } });
        await onDone();
      }}
    >
      {activating
        ? 'Its rules take part in every decision of your organization from the next request on. Use Preview first to see what would change.'
        : 'Decisions stop using its rules from the next request on.'}
    </ConfirmDialog>
  );
}

const STARTER = `package entitled.custom

# deny contains msg if { ... } refuses; grant contains msg if { ... }
# allows what the default rules refused. Read the facts from input.
deny contains msg if {
	input.instance.metadata.region == "cn"
	msg := "not available in this region"
}
`;

type PolicyNode = NonNullable<NonNullable<NonNullable<PolicyDetailQuery['policies']['edges']>[number]>['node']>;

export function PolicyEditorPage({ id }: { id: string | null }) {
  const q = useQuery(PolicyDetailDocument, { id: id ?? '' }, { skip: !id });
  const policy = q.data?.policies.edges?.[0]?.node ?? null;
  useTitle(id ? (policy?.name ?? 'Policy') : 'New policy');
  let body: ReactNode;
  if (!id) body = <PolicyEditor key="new" policy={null} reload={async () => {}} />;
  else if (q.error && !q.data) body = <ErrorState what="this policy" error={q.error} onRetry={q.refetch} />;
  else if (!q.data) body = <Loading label="Loading policy…" />;
  else if (!policy)
    body = (
      <EmptyState
        title="This policy does not exist."
        action={
          <Link to="/policies" className="btn btn-secondary">
            Back to policies
          </Link>
        }
      >
        It may have been deleted.
      </EmptyState>
    );
  else body = <PolicyEditor key={policy.id} policy={policy} reload={q.refetch} />;
  return body;
}

/** Problems carried by a GraphQL error's extensions.errors (compile errors with row and column). */
function problemsOf(err: unknown): Problem[] {
  if (!(err instanceof ApiError)) return [];
  const out: Problem[] = [];
  for (const e of err.errors) {
    const list = e.extensions?.errors;
    if (Array.isArray(list)) out.push(...(list as Problem[]));
  }
  return out;
}

const isTestFile = (p: Problem) => Boolean(p.file && /_test\.rego$/.test(p.file));

function PolicyEditor({ policy, reload }: { policy: PolicyNode | null; reload: () => Promise<void> }) {
  const session = useSession();
  const [name, setName] = useState(policy?.name ?? '');
  const [module, setModule] = useState(policy?.module ?? STARTER);
  const [tests, setTests] = useState(policy?.tests ?? '');
  const [activeOnCreate, setActiveOnCreate] = useState(false);
  const [requireTests, setRequireTests] = useState(false);
  const [saveProblems, setSaveProblems] = useState<Problem[] | null>(null);
  const [errors, setErrors] = useState<{ fields: Record<string, string>; other: string[] }>({ fields: {}, other: [] });
  const [saving, setSaving] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [testRun, setTestRun] = useState<{ busy: boolean; results?: TestPolicyQuery['testPolicy']; error?: string; problems?: Problem[] }>({
    busy: false,
  });
  const [preview, setPreview] = useState<{
    busy: boolean;
    pages?: PreviewPolicyQuery['previewPolicy'][];
    error?: string;
    problems?: Problem[];
  }>({ busy: false });
  const [showAllChanges, setShowAllChanges] = useState(false);
  const [toggling, setToggling] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const moduleEditor = useRef<CodeEditorHandle>(null);
  const testsEditor = useRef<CodeEditorHandle>(null);

  // Live validation while typing (debounced), with row and column.
  const draft = useDebounced({ module, name }, 400);
  // The answer for one draft (its key); the draft shown is being checked
  // until the answer is for it.
  const draftKey = JSON.stringify([draft.module, draft.name.trim()]);
  const [checked, setChecked] = useState<{ key: string; problems: Problem[]; error?: string } | null>(null);
  useEffect(() => {
    if (!draft.module.trim()) return;
    let current = true;
    request(ValidatePolicyDocument, { module: draft.module, name: draft.name.trim() || null })
      .then((r) => current && setChecked({ key: draftKey, problems: r.validatePolicy }))
      .catch((err) => current && setChecked({ key: draftKey, problems: [], error: errorText(err) }));
    return () => {
      current = false;
    };
  }, [draft.module, draft.name, draftKey]);
  const live: { problems: Problem[]; checking: boolean; error?: string } = !draft.module.trim()
    ? { problems: [], checking: false }
    : checked?.key === draftKey
      ? { problems: checked.problems, checking: false, error: checked.error }
      : { problems: checked?.problems ?? [], checking: true };

  const dirty = !policy || module !== policy.module || tests !== (policy.tests ?? '') || name !== policy.name;
  const moduleProblems = (saveProblems ?? live.problems).filter((p) => !isTestFile(p));
  const testProblems = [...(saveProblems ?? []), ...(testRun.problems ?? [])].filter(isTestFile);

  const save = async () => {
    setErrors({ fields: {}, other: [] });
    setSaveProblems(null);
    if (!name.trim()) {
      setErrors({ fields: { name: 'Give the policy a name, like "region".' }, other: [] });
      return;
    }
    setSaving(true);
    try {
      if (policy) {
        const input = {
          ...(name.trim() !== policy.name ? { name: name.trim() } : {}),
          module,
          tests: tests.trim() ? tests : '',
          requireTests,
        };
        await request(UpdatePolicyDocument, { id: policy.id, input });
        setNotice(`Saved. ${policy.active ? 'The new version is live.' : 'The policy is inactive: activate it to use it in decisions.'}`);
        await reload();
      } else {
        const res = await request(CreatePolicyDocument, {
          input: { name: name.trim(), module, tests: tests.trim() ? tests : null, active: activeOnCreate, requireTests },
        });
        navigate(`/policies/${encodeURIComponent(res.createPolicy.id)}`, { replace: true });
        return;
      }
    } catch (err) {
      const problems = problemsOf(err);
      if (problems.length) setSaveProblems(problems);
      const split = splitErrors(err, ['name', 'module', 'tests']);
      if (problems.length) {
        delete split.fields.module;
        if (problems.some(isTestFile)) delete split.fields.tests;
      }
      setErrors(split);
    }
    setSaving(false);
  };

  const runTests = async () => {
    setTestRun({ busy: true });
    try {
      const r = await request(TestPolicyDocument, { module, tests: tests.trim() ? tests : null });
      setTestRun({ busy: false, results: r.testPolicy });
    } catch (err) {
      setTestRun({ busy: false, error: errorText(err), problems: problemsOf(err) });
    }
  };

  const runPreview = async (more = false) => {
    const after = more ? preview.pages?.[preview.pages.length - 1]?.endCursor : null;
    setPreview((p) => ({ ...p, busy: true, error: undefined }));
    try {
      const r = await request(PreviewPolicyDocument, { module, name: name.trim() || null, first: 50, after });
      setPreview((p) => ({ busy: false, pages: more ? [...(p.pages ?? []), r.previewPolicy] : [r.previewPolicy] }));
    } catch (err) {
      setPreview({ busy: false, error: errorText(err), problems: problemsOf(err) });
    }
  };

  const readOnly = !session.canWrite;
  const changes = preview.pages?.flatMap((p) => p.changes) ?? [];
  const evaluated = preview.pages?.reduce((n, p) => n + p.evaluated, 0) ?? 0;
  const lastPage = preview.pages?.[preview.pages.length - 1];
  const flips = changes.filter((c) => c.before.allowed !== c.after.allowed);
  const shownChanges = showAllChanges ? changes : flips;

  return (
    <>
      <PageHeader
        breadcrumb={
          <>
            <Link to="/policies">Policies</Link> <span aria-hidden="true">/</span> <span>{policy ? policy.name : 'New policy'}</span>
          </>
        }
        title={policy ? policy.name : 'New policy'}
        badges={
          policy ? (
            <>
              {policy.active ? <Badge tone="green">Active</Badge> : <Badge>Inactive</Badge>}
              <Badge tone="blue">{`Version ${policy.version}`}</Badge>
            </>
          ) : null
        }
        subtitle={
          policy ? `Updated ${fmtDateTime(policy.updatedAt)}` : 'Write the module, run its tests and preview what it changes before saving.'
        }
        actions={
          <>
            <Button onClick={runTests} busy={testRun.busy}>
              Run tests
            </Button>
            <Button onClick={() => runPreview(false)} busy={preview.busy}>
              Preview
            </Button>
            {!readOnly && policy ? (
              <>
                <Button onClick={() => setToggling(true)}>{policy.active ? 'Deactivate' : 'Activate'}</Button>
                <Button variant="danger" onClick={() => setDeleting(true)}>
                  Delete
                </Button>
              </>
            ) : null}
            {!readOnly ? (
              <Button variant="primary" onClick={save} busy={saving} disabled={!dirty && Boolean(policy)}>
                {policy ? 'Save' : 'Create policy'}
              </Button>
            ) : null}
          </>
        }
      />
      {notice ? <Banner tone="green" title={notice} onDismiss={() => setNotice(null)} /> : null}
      <ErrorBanner messages={errors.other} onDismiss={() => setErrors((e) => ({ ...e, other: [] }))} />
      {policy && policy.active && dirty ? (
        <Banner tone="amber" title="Unsaved changes to an active policy.">
          Decisions use the saved version until you save.
        </Banner>
      ) : null}

      <div className="detail-grid">
        <div className="detail-main">
          <Section title="Module" description="Rego v1 under package entitled.custom. Checked as you type.">
            <div className="stack">
              <Field label="Name" error={errors.fields.name} hint="Unique in your organization; the module's file is name.rego.">
                {(p) => (
                  <TextInput
                    {...p}
                    className="input mono"
                    value={name}
                    readOnly={readOnly}
                    spellCheck={false}
                    onChange={(e) => setName(e.target.value)}
                  />
                )}
              </Field>
              <Field
                label="Rego module"
                error={errors.fields.module}
                hint={
                  <span role="status">
                    {live.checking
                      ? 'Checking…'
                      : live.error
                        ? `Could not check: ${live.error}`
                        : moduleProblems.length
                          ? `${moduleProblems.length} problem${moduleProblems.length > 1 ? 's' : ''}`
                          : 'No problems found.'}
                  </span>
                }
              >
                {(p) => (
                  <CodeEditor
                    {...p}
                    aria-invalid={moduleProblems.length > 0 || undefined}
                    ref={moduleEditor}
                    value={module}
                    readOnly={readOnly}
                    onChange={(v) => {
                      setModule(v);
                      setSaveProblems(null);
                    }}
                    problems={moduleProblems}
                    rows={18}
                  />
                )}
              </Field>
              <ProblemList problems={moduleProblems} onPick={(pr) => pr.row && moduleEditor.current?.goTo(pr.row, pr.col ?? 1)} />
              <Field
                label="Tests"
                optional
                error={errors.fields.tests}
                hint="A companion module with test_ rules, e.g. package entitled.custom_test. Run tests runs them with the module's own test_ rules."
              >
                {(p) => (
                  <CodeEditor
                    {...p}
                    ref={testsEditor}
                    value={tests}
                    readOnly={readOnly}
                    onChange={(v) => {
                      setTests(v);
                      setSaveProblems(null);
                    }}
                    problems={testProblems}
                    rows={10}
                    placeholder={
                      'package entitled.custom_test\n\nimport data.entitled.custom\n\ntest_denied_in_cn if {\n\tcustom.deny with input as {"instance": {"metadata": {"region": "cn"}}}\n}'
                    }
                  />
                )}
              </Field>
              <ProblemList problems={testProblems} onPick={(pr) => pr.row && testsEditor.current?.goTo(pr.row, pr.col ?? 1)} />
              {!readOnly ? (
                <div className="stack">
                  {!policy ? (
                    <Switch
                      label="Active once created"
                      checked={activeOnCreate}
                      onChange={setActiveOnCreate}
                      hint="Off: the policy is saved but decisions ignore it until you activate it."
                    />
                  ) : null}
                  <Switch
                    label="Require passing tests"
                    checked={requireTests}
                    onChange={setRequireTests}
                    hint="Refuse to save when a test fails or there are none."
                  />
                </div>
              ) : null}
            </div>
          </Section>
          {policy ? <PolicyHistory policy={policy} /> : null}
        </div>
        <div className="detail-side">
          <Section title="Tests" description="Results of the last run of Run tests.">
            {testRun.busy ? (
              <Loading label="Running tests…" />
            ) : testRun.error ? (
              <p className="field-error" role="alert">
                {testRun.error}
              </p>
            ) : testRun.results ? (
              testRun.results.length === 0 ? (
                <p className="muted">No test_ rules found. Add some to the module or the Tests box.</p>
              ) : (
                <>
                  <p className="test-summary" role="status">
                    {testRun.results.filter((t) => t.passed).length} passed, {testRun.results.filter((t) => !t.passed).length} failed
                  </p>
                  <ul className="test-results" aria-label="Test results">
                    {testRun.results.map((t) => (
                      <li key={`${t.file}:${t.row}:${t.name}`} data-testid={`test-${t.name.split('.').pop()}`}>
                        {t.passed ? <Badge tone="green">Pass</Badge> : <Badge tone="red">Fail</Badge>}
                        <span className="mono test-name">{t.name.split('.').pop()}</span>
                        <span className="muted small">
                          {t.file}:{t.row} · {fmtNumber(t.durationMs)} ms
                        </span>
                        {t.error ? <span className="field-error">{t.error}</span> : null}
                        {t.output ? <pre className="code-block">{t.output}</pre> : null}
                      </li>
                    ))}
                  </ul>
                </>
              )
            ) : policy?.lastTestResult ? (
              <p className="muted">
                When saved: <TestsBadge result={policy.lastTestResult} />. Press Run tests to run them again.
              </p>
            ) : (
              <p className="muted">Press Run tests to run the test_ rules of the module and the Tests box.</p>
            )}
          </Section>
          <Section title="Preview" description="Decisions this draft would change, over every instance and entitlement.">
            {preview.busy && !preview.pages ? (
              <Loading label="Evaluating…" />
            ) : preview.error ? (
              <p className="field-error" role="alert">
                {preview.error}
              </p>
            ) : preview.pages ? (
              <>
                <p className="test-summary" role="status">
                  {changes.length === 0
                    ? `No decision would change (${fmtNumber(evaluated)} evaluated).`
                    : `${plural(changes.length, 'decision')} would change (${fmtNumber(evaluated)} evaluated): ${plural(flips.length, 'flip')} between allowed and denied.`}
                </p>
                {changes.length > 0 ? (
                  <Switch
                    label="Show all changes"
                    hint="Off: only decisions that flip between allowed and denied. On: also those whose reason alone changes."
                    checked={showAllChanges}
                    onChange={setShowAllChanges}
                  />
                ) : null}
                {shownChanges.length > 0 ? (
                  <ul className="changes" aria-label="Decisions that would change">
                    {shownChanges.map((c) => (
                      <li key={`${c.instance}/${c.entitlement}`} data-testid={`change-${c.instance}-${c.entitlement}`}>
                        <span className="mono change-what">
                          {c.instance} · {c.entitlement}
                        </span>
                        <span className="change-flip">
                          <ChangeSide side="before" decision={c.before} />
                          <span aria-hidden="true">→</span>
                          <span className="sr-only">becomes</span>
                          <ChangeSide side="after" decision={c.after} />
                        </span>
                      </li>
                    ))}
                  </ul>
                ) : changes.length > 0 ? (
                  <p className="muted">
                    No decision flips between allowed and denied; {plural(changes.length, 'reason-only change')} hidden.
                  </p>
                ) : null}
                {lastPage?.hasNextPage ? (
                  <Button size="sm" onClick={() => runPreview(true)} busy={preview.busy}>
                    Preview more instances
                  </Button>
                ) : null}
              </>
            ) : (
              <p className="muted">Press Preview to compare this draft with the live policies.</p>
            )}
          </Section>
          {policy?.revisions?.length ? (
            <Section title="Versions">
              <ol className="revisions">
                {[...policy.revisions]
                  .sort((a, b) => b.version - a.version)
                  .map((r) => (
                    <li key={r.id}>
                      <span className="mono">v{r.version}</span> {r.active ? <Badge tone="green">Active</Badge> : <Badge>Inactive</Badge>}{' '}
                      <span className="muted small">{fmtDateTime(r.createdAt)}</span>
                    </li>
                  ))}
              </ol>
            </Section>
          ) : null}
        </div>
      </div>
      {toggling && policy ? (
        <ActivateDialog
          policy={policy}
          onClose={() => setToggling(false)}
          onDone={async () => {
            setToggling(false);
            setNotice(policy.active ? 'Deactivated.' : 'Activated: decisions use this policy now.');
            await reload();
          }}
        />
      ) : null}
      {deleting && policy ? (
        <ConfirmDialog
          title={`Delete ${policy.name}?`}
          confirmLabel="Delete policy"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await request(DeletePolicyDocument, { id: policy.id });
            navigate('/policies');
          }}
        >
          The policy and its earlier versions are deleted. If it is active, decisions stop using its rules at once.
        </ConfirmDialog>
      ) : null}
    </>
  );
}

function PolicyHistory({ policy }: { policy: PolicyNode }) {
  const where = useMemo(() => ({ resourceID: policy.id }), [policy.id]);
  return (
    <HistoryPanel
      where={where}
      auditLink={`/audit?resource=${encodeURIComponent(policy.id)}`}
      refreshKey={`${policy.version}:${policy.active}:${policy.updatedAt}`}
    />
  );
}

type PreviewDecision = PreviewPolicyQuery['previewPolicy']['changes'][number]['before'];

/** One side of a previewed change: the decision, its reason code and its human-readable reasons. */
function ChangeSide({ side, decision }: { side: 'before' | 'after'; decision: PreviewDecision }) {
  return (
    <span className="change-side" data-testid={`change-${side}`}>
      <span className="sr-only">{side === 'before' ? 'Now: ' : 'With this draft: '}</span>
      {decision.allowed ? <Badge tone="green">Allowed</Badge> : <Badge tone="red">Denied</Badge>}
      <span className="mono small">{decision.reason}</span>
      {decision.reasons.length ? <span className="row-sub">{decision.reasons.join('; ')}</span> : null}
    </span>
  );
}
