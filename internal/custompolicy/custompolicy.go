// Package custompolicy holds organizations' custom Rego modules: it
// stores them (with their earlier versions), validates them on save with
// the sandboxed compiler, runs their tests, and is the only holder of each
// organization's compiled decision query — the default policy plus that
// organization's active modules, and nobody else's.
package custompolicy

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/orgpolicy"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/events"
	"github.com/entitled/entitled/internal/platform/changefeed"
	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/validate"
	"github.com/entitled/entitled/policy"
)

// MaxCompiled bounds how many organizations' compiled policy sets are
// kept; the least recently used is dropped (and compiled again when next
// asked for).
const MaxCompiled = 256

// compileTimeout bounds one compile, whoever waits for it: callers share
// it, so it does not run under any one caller's context.
const compileTimeout = 30 * time.Second

// Service manages policies of the caller's organization.
type Service struct {
	db          *ent.Client
	feed        *changefeed.Feed
	events      *events.Log
	evalTimeout time.Duration
	metrics     *metrics.Registry

	// compiles shares one compile per (organization, version) among
	// concurrent callers; slots bounds concurrent compiles process-wide.
	compiles singleflight.Group
	slots    chan struct{}
	mu       sync.Mutex // orders replacements in compiled
	compiled *lru.Cache[string, *Set]
	// evals holds each organization's evaluation slots (orgID → chan).
	evals sync.Map
	// evalSlots is how many evaluations of one organization's custom
	// policies run at once.
	evalSlots int
}

// Set is an organization's decision query: the compiled policy set, and
// the slots its evaluations take. One organization's slow policy queues
// its own evaluations and leaves the other cores to everyone else.
type Set struct {
	*policy.Prepared
	slots chan struct{} // nil: the default policy, which needs none
}

// defaultSet decides for organizations without custom policies.
var defaultSet = sync.OnceValue(func() *Set { return &Set{Prepared: policy.Default()} })

// Decide is policy.Prepared.Decide within the organization's slots; the
// wait counts against ctx.
func (s *Set) Decide(ctx context.Context, f *policy.Facts) (policy.Decision, error) {
	if err := s.acquire(ctx); err != nil {
		return policy.Decision{}, err
	}
	defer s.release()
	return s.Prepared.Decide(ctx, f)
}

// DecideExplained is policy.Prepared.DecideExplained within the slots.
func (s *Set) DecideExplained(ctx context.Context, f *policy.Facts) (policy.Decision, error) {
	if err := s.acquire(ctx); err != nil {
		return policy.Decision{}, err
	}
	defer s.release()
	return s.Prepared.DecideExplained(ctx, f)
}

func (s *Set) acquire(ctx context.Context) error {
	if s.slots == nil {
		return nil
	}
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for an evaluation slot: %w", ctx.Err())
	}
}

func (s *Set) release() {
	if s.slots != nil {
		<-s.slots
	}
}

// orgSlots returns the evaluation slots of an organization.
func (s *Service) orgSlots(orgID string) chan struct{} {
	if c, ok := s.evals.Load(orgID); ok {
		return c.(chan struct{})
	}
	c, _ := s.evals.LoadOrStore(orgID, make(chan struct{}, s.evalSlots))
	return c.(chan struct{})
}

// New returns the service. evalTimeout bounds each evaluation of custom
// policies; feed tells every process that an organization's policies
// changed (in the transaction that changes them); log records each change
// in the organization's event log.
func New(db *store.DB, m *metrics.Registry, evalTimeout time.Duration, feed *changefeed.Feed, log *events.Log) *Service {
	compiled, err := lru.New[string, *Set](MaxCompiled)
	if err != nil {
		panic(err) // only for a size <= 0
	}
	return &Service{
		db: db.Client, metrics: m, evalTimeout: evalTimeout, feed: feed, events: log,
		slots:     make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		compiled:  compiled,
		evalSlots: max(1, runtime.GOMAXPROCS(0)/2),
	}
}

// For returns the decision query of an organization at a policy version
// (0: the default policy alone). Concurrent callers share one compile, and
// a caller never waits for a compile of another version: the set compiled
// for a version stays in use until the next one is ready.
func (s *Service) For(ctx context.Context, orgID string, version int) (*Set, error) {
	if version == 0 {
		return defaultSet(), nil
	}
	if p, ok := s.compiled.Get(orgID); ok && p.Version() >= version {
		return p, nil
	}
	ch := s.compiles.DoChan(orgID+"@"+strconv.Itoa(version), func() (any, error) {
		// A flight that ended between this caller's miss and its call
		// has kept its result: use it rather than compiling again.
		if p, ok := s.compiled.Get(orgID); ok && p.Version() >= version {
			return p, nil
		}
		return s.compile(orgID)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Set), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the policies of %s: %w", orgID, ctx.Err())
	}
}

// compile reads and compiles an organization's active modules, tagged
// with their policy version, and keeps the result unless a newer one is
// already kept.
func (s *Service) compile(orgID string) (*Set, error) {
	ctx, cancel := context.WithTimeout(tenant.OrgContext(context.Background(), orgID), compileTimeout)
	defer cancel()
	s.slots <- struct{}{}
	defer func() { <-s.slots }()
	version, mods, err := s.consistentModules(ctx, orgID)
	if err != nil {
		return nil, err
	}
	p, err := policy.Compile(mods, s.options(version)...)
	s.metrics.PolicyCompiled()
	if err != nil {
		return nil, fmt.Errorf("compile policies of %s: %w", orgID, err)
	}
	set := &Set{Prepared: p, slots: s.orgSlots(orgID)}
	s.mu.Lock()
	if cur, ok := s.compiled.Peek(orgID); !ok || cur.Version() <= p.Version() {
		s.compiled.Add(orgID, set)
	}
	s.mu.Unlock()
	return set, nil
}

// consistentModules reads an organization's active modules together with
// the policy version they are: every change to the modules raises the
// version in its own transaction, so modules read between two equal
// readings of the version are that version's.
func (s *Service) consistentModules(ctx context.Context, orgID string) (int, []policy.Module, error) {
	readVersion := func() (int, error) {
		org, err := s.db.Organization.Get(tenant.SystemContext(ctx), orgID)
		if err != nil {
			return 0, fmt.Errorf("read policy version of %s: %w", orgID, err)
		}
		return org.PolicyVersion, nil
	}
	before, err := readVersion()
	if err != nil {
		return 0, nil, err
	}
	for range 5 {
		mods, err := activeModules(ctx, s.db, "")
		if err != nil {
			return 0, nil, err
		}
		after, err := readVersion()
		if err != nil {
			return 0, nil, err
		}
		if after == before {
			return before, mods, nil
		}
		before = after
	}
	return 0, nil, fmt.Errorf("the policies of %s kept changing while they were read", orgID)
}

func (s *Service) options(version int) []policy.Option {
	return []policy.Option{policy.WithVersion(version), policy.WithEvalTimeout(s.evalTimeout)}
}

// activeModules returns the organization's active modules, leaving out the
// policy with the given ID.
func activeModules(ctx context.Context, db *ent.Client, except string) ([]policy.Module, error) {
	q := db.OrgPolicy.Query().Where(orgpolicy.Active(true))
	if except != "" {
		q = q.Where(orgpolicy.IDNEQ(except))
	}
	ps, err := q.Order(ent.Asc(orgpolicy.FieldName)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load active policies: %w", err)
	}
	mods := make([]policy.Module, len(ps))
	for i, p := range ps {
		mods[i] = module(p.Name, p.Module)
	}
	return mods, nil
}

func module(name, source string) policy.Module {
	return policy.Module{Name: name + ".rego", Source: source}
}

// CreateInput creates a policy.
type CreateInput struct {
	Name         string
	Module       string
	Tests        *string
	Active       *bool
	RequireTests *bool
}

// UpdateInput changes a policy; each change bumps its version.
type UpdateInput struct {
	Name         *string
	Module       *string
	Tests        *string
	Active       *bool
	RequireTests *bool
}

// Create validates and stores a policy.
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.OrgPolicy, error) {
	if err := validate.Name("name", in.Name); err != nil {
		return nil, err
	}
	tests := ""
	if in.Tests != nil {
		tests = *in.Tests
	}
	active := in.Active != nil && *in.Active
	var out *ent.OrgPolicy
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		others, err := activeModules(ctx, tx.Client(), "")
		if err != nil {
			return nil, err
		}
		result, err := s.check(ctx, in.Name, in.Module, tests, others, in.RequireTests != nil && *in.RequireTests)
		if err != nil {
			return nil, err
		}
		p, err := tx.OrgPolicy.Create().
			SetName(in.Name).SetModule(in.Module).SetTests(tests).SetActive(active).
			SetLastTestResult(result).
			Save(ctx)
		out = p
		c, err := saved(ctx, tx, p, err, in.Name)
		if err != nil {
			return nil, err
		}
		return c, s.record(ctx, tx, "policy.created", nil, p)
	})
	return done(out, err)
}

// Update changes a policy, keeping its previous source as a revision.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*ent.OrgPolicy, error) {
	if in.Name != nil {
		if err := validate.Name("name", *in.Name); err != nil {
			return nil, err
		}
	}
	var out *ent.OrgPolicy
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		p, err := tx.OrgPolicy.Get(ctx, id)
		if err != nil {
			return nil, store.Translate(err, "policy")
		}
		before := p
		name, src, tests, active := p.Name, p.Module, p.Tests, p.Active
		if in.Name != nil {
			name = *in.Name
		}
		if in.Module != nil {
			src = *in.Module
		}
		if in.Tests != nil {
			tests = *in.Tests
		}
		if in.Active != nil {
			active = *in.Active
		}
		others, err := activeModules(ctx, tx.Client(), p.ID)
		if err != nil {
			return nil, err
		}
		result, err := s.check(ctx, name, src, tests, others, in.RequireTests != nil && *in.RequireTests)
		if err != nil {
			return nil, err
		}
		p, err = tx.OrgPolicy.UpdateOne(p).
			SetName(name).SetModule(src).SetTests(tests).SetActive(active).
			SetLastTestResult(result).AddVersion(1).
			Save(ctx)
		out = p
		c, err := saved(ctx, tx, p, err, name)
		if err != nil {
			return nil, err
		}
		return c, s.record(ctx, tx, "policy.updated", before, p)
	})
	return done(out, err)
}

// Delete removes a policy and its revisions.
func (s *Service) Delete(ctx context.Context, id string) (string, error) {
	err := s.tx(ctx, func(tx *ent.Tx) (*changefeed.Change, error) {
		p, err := tx.OrgPolicy.Get(ctx, id)
		if err != nil {
			return nil, store.Translate(err, "policy")
		}
		if err := tx.OrgPolicy.DeleteOne(p).Exec(ctx); err != nil {
			return nil, store.Translate(err, "policy")
		}
		if err := bumpOrg(ctx, tx); err != nil {
			return nil, err
		}
		return changed(id), s.record(ctx, tx, "policy.deleted", p, nil)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// tx runs fn in a transaction of the caller's organization and publishes
// the change fn returns inside it, so every process drops the
// organization's facts (their policy version) when it commits.
func (s *Service) tx(ctx context.Context, fn func(tx *ent.Tx) (*changefeed.Change, error)) error {
	return changefeed.InTx(ctx, s.feed, tenant.FromContext(ctx).OrgID, func(ctx context.Context, fn func(*ent.Tx) error) error {
		return store.WithTx(ctx, s.db, fn)
	}, fn)
}

func changed(id string) *changefeed.Change {
	return &changefeed.Change{Kind: changefeed.KindPolicy, IDs: []string{id}}
}

// saved finishes a create or update inside its transaction: it reports a
// taken name, keeps the source as a revision, and bumps the organization's
// policy version.
func saved(ctx context.Context, tx *ent.Tx, p *ent.OrgPolicy, err error, name string) (*changefeed.Change, error) {
	if err != nil {
		if store.IsUniqueViolation(err) {
			return nil, &apperr.Error{Code: apperr.Conflict, Field: "name", Message: fmt.Sprintf("a policy named %q already exists", name), Err: err}
		}
		return nil, store.Translate(err, "policy")
	}
	if err := revise(ctx, tx, p); err != nil {
		return nil, err
	}
	return changed(p.ID), bumpOrg(ctx, tx)
}

// record appends the event of a policy created (before nil), updated or
// deleted (after nil), as the last write of the transaction.
func (s *Service) record(ctx context.Context, tx *ent.Tx, action string, before, after *ent.OrgPolicy) error {
	c := events.EntityChange(action, "POLICY", before, after, func(p *ent.OrgPolicy) (string, string) { return p.ID, p.Name })
	_, err := s.events.Append(ctx, tx, c)
	return err
}

// done returns a committed policy, detached from its transaction.
func done(p *ent.OrgPolicy, err error) (*ent.OrgPolicy, error) {
	if err != nil {
		return nil, err
	}
	return p.Unwrap(), nil
}

// check validates a module against the organization's other active
// modules and runs its tests; it returns the test result to store.
func (s *Service) check(ctx context.Context, name, src, tests string, others []policy.Module, requireTests bool) (map[string]any, error) {
	if err := validate.Clean("module", src); err != nil {
		return nil, err
	}
	if err := validate.Clean("tests", tests); err != nil {
		return nil, err
	}
	if errs := policy.Validate(module(name, src), others); len(errs) > 0 {
		return nil, compileError("module", errs)
	}
	results, err := policy.RunTests(ctx, src, tests, policy.WithEvalTimeout(time.Second))
	if err != nil {
		var ce policy.CompileErrors
		if errors.As(err, &ce) {
			return nil, compileError("tests", ce)
		}
		return nil, &apperr.Error{Code: apperr.BadUserInput, Field: "tests", Message: "the tests could not run: " + err.Error(), Err: err}
	}
	passed := 0
	for _, r := range results {
		if r.Passed {
			passed++
		}
	}
	summary := map[string]any{"passed": passed, "failed": len(results) - passed, "results": results}
	if requireTests && (len(results) == 0 || passed < len(results)) {
		msg := fmt.Sprintf("%d of %d tests failed", len(results)-passed, len(results))
		if len(results) == 0 {
			msg = "requireTests is set but the module has no test_ rules"
		}
		return nil, &apperr.Error{Code: apperr.BadUserInput, Field: "tests", Message: msg, Details: map[string]any{"tests": results}}
	}
	return jsonMap(summary)
}

func compileError(field string, errs policy.CompileErrors) error {
	msg := errs[0].Error()
	if len(errs) > 1 {
		msg = fmt.Sprintf("%s (and %d more)", msg, len(errs)-1)
	}
	return &apperr.Error{Code: apperr.BadUserInput, Field: field, Message: msg, Details: map[string]any{"errors": []policy.CompileError(errs)}}
}

func revise(ctx context.Context, tx *ent.Tx, p *ent.OrgPolicy) error {
	return tx.PolicyRevision.Create().
		SetOrganizationID(p.OrganizationID).
		SetPolicyID(p.ID).SetVersion(p.Version).SetModule(p.Module).SetActive(p.Active).
		Exec(ctx)
}

// bumpOrg raises the organization's policy version, inside the caller's
// transaction (organizations are written with a system context).
func bumpOrg(ctx context.Context, tx *ent.Tx) error {
	orgID := tenant.FromContext(ctx).OrgID
	return tx.Organization.UpdateOneID(orgID).AddPolicyVersion(1).Exec(tenant.SystemContext(ctx))
}

// Draft compiles the organization's active modules with a draft module
// (replacing the active policy of the same name) into a throwaway
// evaluator: nothing is saved or activated.
func (s *Service) Draft(ctx context.Context, name *string, src string) (*Set, error) {
	n := draftName(name)
	others, err := activeModules(ctx, s.db, "")
	if err != nil {
		return nil, err
	}
	if errs := policy.Validate(module(n, src), others); len(errs) > 0 {
		return nil, compileError("module", errs)
	}
	p, err := policy.Draft(others, module(n, src), policy.WithEvalTimeout(s.evalTimeout))
	if err != nil {
		var ce policy.CompileErrors
		if errors.As(err, &ce) {
			return nil, compileError("module", ce)
		}
		return nil, err
	}
	return &Set{Prepared: p, slots: s.orgSlots(tenant.FromContext(ctx).OrgID)}, nil
}

// Problems validates a module without saving it.
func (s *Service) Problems(ctx context.Context, name *string, src string) ([]*policy.CompileError, error) {
	others, err := activeModules(ctx, s.db, "")
	if err != nil {
		return nil, err
	}
	errs := policy.Validate(module(draftName(name), src), others)
	out := make([]*policy.CompileError, len(errs))
	for i := range errs {
		out[i] = &errs[i]
	}
	return out, nil
}

// Test runs a module's tests in place.
func (s *Service) Test(ctx context.Context, src string, tests *string) ([]*policy.TestResult, error) {
	t := ""
	if tests != nil {
		t = *tests
	}
	rs, err := policy.RunTests(ctx, src, t, policy.WithEvalTimeout(time.Second))
	if err != nil {
		var ce policy.CompileErrors
		if errors.As(err, &ce) {
			return nil, compileError("module", ce)
		}
		return nil, &apperr.Error{Code: apperr.BadUserInput, Field: "tests", Message: "the tests could not run: " + err.Error(), Err: err}
	}
	out := make([]*policy.TestResult, len(rs))
	for i := range rs {
		out[i] = &rs[i]
	}
	return out, nil
}

func draftName(name *string) string {
	if name == nil || *name == "" {
		return "draft"
	}
	return *name
}

// Active returns the organization's active custom modules (file name →
// source) with the policy version they make, read consistently; version 0
// and no modules when it has none. License files carry them.
func (s *Service) Active(ctx context.Context, orgID string) (int, map[string]string, error) {
	version, mods, err := s.consistentModules(ctx, orgID)
	if err != nil {
		return 0, nil, err
	}
	out := make(map[string]string, len(mods))
	for _, m := range mods {
		out[m.Name] = m.Source
	}
	return version, out, nil
}
