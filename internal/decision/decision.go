// Package decision answers "may this instance do this now?": it gathers
// the facts of a question from the organization's in-memory facts (package
// facts) and the usage counter (package metering), evaluates the
// organization's compiled policy set (package custompolicy), maps the
// result, counts it, and logs it when decision logging is on. It also
// explains decisions and previews drafts against the active policies. It
// reads no SQL for cached instances, the usage of NUMBER entitlements
// included (metering keeps it in memory; see metering.Service.Current).
package decision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/custompolicy"
	"github.com/entitled/entitled/internal/facts"
	"github.com/entitled/entitled/internal/metering"
	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/platform/tracing"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/policy"
)

// ReasonPolicyError is the reason when the policy could not decide; the
// decision fails closed.
const ReasonPolicyError = policy.ReasonPolicyError

// MaxDecisions bounds one decisions() call.
const MaxDecisions = 500

// Freshness says since when this process may be missing changes (zero:
// it misses none) and how long cached facts may be used past that.
type Freshness interface {
	StaleSince() time.Time
	StaleLimit() time.Duration
}

// Service answers decision questions for the caller's organization.
type Service struct {
	cache    *facts.Cache
	policies *custompolicy.Service
	usage    *metering.Service
	fresh    Freshness
	metrics  *metrics.Registry
	log      *slog.Logger
	dlog     *Log
	now      func() time.Time

	// staleLogged is when a stale decision was last logged (unix nanos):
	// at most one line per staleLogEvery, with the count since.
	staleLogged atomic.Int64
	staleCount  atomic.Int64
}

const staleLogEvery = 10 * time.Second

// New returns the service. dlog may be nil (no decision log).
func New(cache *facts.Cache, policies *custompolicy.Service, usage *metering.Service, fresh Freshness, m *metrics.Registry, now func() time.Time, log *slog.Logger, dlog *Log) *Service {
	return &Service{cache: cache, policies: policies, usage: usage, fresh: fresh, metrics: m, log: log, dlog: dlog, now: now}
}

// Allowed decides one question asked through GraphQL (allowed, and the
// decision consumeUsage asks first).
func (s *Service) Allowed(ctx context.Context, q policy.Question) (*policy.Decision, error) {
	return s.allowed(ctx, metrics.DoorGraphQL, q)
}

// Door is the decision service as one door asks it: its decisions are
// measured under that door (the door label of
// entitled_decision_duration_seconds).
type Door struct {
	s    *Service
	door metrics.Door
}

// Door returns the service as the given door asks it.
func (s *Service) Door(door metrics.Door) Door { return Door{s, door} }

// Allowed decides one question.
func (d Door) Allowed(ctx context.Context, q policy.Question) (*policy.Decision, error) {
	return d.s.allowed(ctx, d.door, q)
}

func (s *Service) allowed(ctx context.Context, door metrics.Door, q policy.Question) (*policy.Decision, error) {
	start := time.Now()
	if err := checkRequested(q.Requested); err != nil {
		return nil, err
	}
	v, err := s.lookup(ctx, q.Instance)
	if err != nil {
		return nil, err
	}
	d, err := s.decide(ctx, door, start, v, q)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// view is what a question is decided from: the organization's snapshot,
// the instance asked about (nil when the organization has none of that
// slug), and since when they may be out of date (zero: current).
type view struct {
	snap  *facts.Snapshot
	inst  *facts.InstanceFacts
	stale time.Time
}

// lookup finds the caller's facts and the instance asked about. While the
// database does not answer, cached facts are used (fail static) and
// marked stale; an organization this process never loaded is UNAVAILABLE.
func (s *Service) lookup(ctx context.Context, instanceSlug string) (view, error) {
	orgID := tenant.FromContext(ctx).OrgID
	if orgID == "" {
		return view{}, apperr.Forbiddenf("decisions need an organization's API key")
	}
	snap, stale, err := s.cache.Lookup(ctx, orgID)
	if err != nil {
		return view{}, err
	}
	inst, err := s.cache.Instance(ctx, snap, instanceSlug)
	if err != nil {
		return view{}, err
	}
	return view{snap: snap, inst: inst, stale: older(stale, s.fresh.StaleSince())}, nil
}

// older is the earlier of two stale-since moments (zero: not stale).
func older(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func (s *Service) snapshot(ctx context.Context) (*facts.Snapshot, error) {
	orgID := tenant.FromContext(ctx).OrgID
	if orgID == "" {
		return nil, apperr.Forbiddenf("decisions need an organization's API key")
	}
	return s.cache.Snapshot(ctx, orgID)
}

// Decisions decides every listed entitlement for one instance; with no
// list, every entitlement the instance's license grants.
func (s *Service) Decisions(ctx context.Context, instanceSlug string, entitlements []string, requested *float64, reqCtx map[string]any) ([]*policy.Decision, error) {
	if len(entitlements) > MaxDecisions {
		return nil, apperr.Invalid("entitlements", "at most %d per call", MaxDecisions)
	}
	if err := checkRequested(requested); err != nil {
		return nil, err
	}
	v, err := s.lookup(ctx, instanceSlug)
	if err != nil {
		return nil, err
	}
	if v.inst == nil && entitlements == nil {
		return nil, &apperr.Error{Code: apperr.NotFound, Field: "instance", Message: "instance not found; name the entitlements to get INSTANCE_NOT_FOUND decisions"}
	}
	if entitlements == nil && v.inst != nil {
		if lf := v.snap.Licenses[v.inst.LicenseID]; lf != nil {
			entitlements = lf.Granted
		}
	}
	out := make([]*policy.Decision, len(entitlements))
	ds := make([]policy.Decision, len(entitlements))
	for i, e := range entitlements {
		if ds[i], err = s.decide(ctx, metrics.DoorGraphQL, time.Now(), v, policy.Question{Instance: instanceSlug, Entitlement: e, Requested: requested, Context: reqCtx}); err != nil {
			return nil, err
		}
		out[i] = &ds[i]
	}
	return out, nil
}

// checkRequested applies the rule for client amounts to requested.
func checkRequested(requested *float64) error {
	if requested == nil {
		return nil
	}
	if err := policy.Quantity(*requested); err != nil {
		return apperr.Invalid("requested", "%s", err)
	}
	return nil
}

// Facts assembles the facts of a question from a snapshot, without usage.
func Facts(snap *facts.Snapshot, inst *facts.InstanceFacts, q policy.Question) *policy.Facts {
	f := &policy.Facts{
		InstanceSlug:    q.Instance,
		EntitlementSlug: q.Entitlement,
		Org:             snap.Org,
		Request:         &policy.Request{Requested: q.Requested, Context: q.Context},
	}
	e := snap.Entitlements[q.Entitlement]
	f.Entitlement = e
	lf, g := snap.Grant(inst, e)
	if inst != nil {
		f.Instance = inst.Instance
	}
	if lf != nil {
		f.License = lf.License
	}
	f.Grant = g
	return f
}

// decide decides one question asked at start through a door, and
// measures, traces and logs the answer. It fails (UNAVAILABLE) rather
// than decide when a fact could not be read and nothing is known in its
// place, or when the facts have been stale for longer than the stale
// limit.
func (s *Service) decide(ctx context.Context, door metrics.Door, start time.Time, v view, q policy.Question) (policy.Decision, error) {
	ctx, span := tracing.Start(ctx, "decision")
	defer span.End()
	d, f, evaluated, err := s.answer(ctx, v, q)
	if err != nil {
		tracing.Fail(span, err)
		return policy.Decision{}, err
	}
	s.metrics.Decision(door, d.Reason, d.Allowed, time.Since(start))
	if span.IsRecording() {
		// No tenant data but the organization's ID: no slugs, no context.
		span.SetAttributes(
			attribute.String("entitled.decision.reason", d.Reason),
			attribute.Bool("entitled.decision.allowed", d.Allowed),
			attribute.String("entitled.organization.id", v.snap.Org.ID),
		)
	}
	if evaluated && s.dlog != nil {
		s.dlog.Log(ctx, v.snap.Org, f, d)
	}
	return d, nil
}

// answer is the decision of a question and its facts; evaluated is false
// when it failed closed (POLICY_ERROR) before the policy ran.
func (s *Service) answer(ctx context.Context, v view, q policy.Question) (_ policy.Decision, _ *policy.Facts, evaluated bool, _ error) {
	f, stale, err := s.facts(ctx, v, q)
	if err != nil {
		if store.IsUnavailable(err) {
			return policy.Decision{}, nil, false, err
		}
		// Without the usage fact the policy cannot decide a quota.
		s.log.ErrorContext(ctx, "read usage for decision", "organization", v.snap.Org.Slug, "instance", q.Instance, "entitlement", q.Entitlement, "err", err)
		return failed(f, err), f, false, nil
	}
	if !stale.IsZero() {
		if err := s.checkStale(f.Now, stale); err != nil {
			return policy.Decision{}, nil, false, err
		}
	}
	p, err := s.policies.For(ctx, v.snap.Org.ID, v.snap.PolicyVersion)
	if err != nil {
		if store.IsUnavailable(err) {
			return policy.Decision{}, nil, false, err
		}
		s.log.ErrorContext(ctx, "load policies", "organization", v.snap.Org.Slug, "err", err)
		return failed(f, err), f, false, nil
	}
	d := s.evaluate(ctx, v.snap, f, p.Decide)
	if !stale.IsZero() {
		d.Stale = true
		s.staleDecision(ctx, v.snap.Org, stale)
	}
	return d, f, true, nil
}

// checkStale fails closed once facts have been stale for longer than the
// stale limit.
func (s *Service) checkStale(now, since time.Time) error {
	if limit := s.fresh.StaleLimit(); now.Sub(since) > limit {
		return &apperr.Error{Code: apperr.Unavailable, RetryAfter: store.RetryAfter,
			Message: fmt.Sprintf("the database has not answered for %s, longer than the stale limit (%s): decisions fail closed until it does", now.Sub(since).Round(time.Second), limit)}
	}
	return nil
}

// staleDecision counts a decision made from stale facts and says so in the
// log, at most once every staleLogEvery.
func (s *Service) staleDecision(ctx context.Context, org *policy.Org, since time.Time) {
	s.metrics.StaleDecision()
	n := s.staleCount.Add(1)
	now := s.now().UnixNano()
	last := s.staleLogged.Load()
	if now-last < int64(staleLogEvery) || !s.staleLogged.CompareAndSwap(last, now) {
		return
	}
	s.staleCount.Add(-n)
	s.log.WarnContext(ctx, "deciding from cached facts: the database does not answer", "organization", org.Slug,
		"stale_since", since.UTC().Format(time.RFC3339Nano), "stale_decisions", n)
}

// facts gathers a question's facts, the usage counter included, and since
// when they may be out of date (zero: current). On an error f still holds
// what was gathered, for the fail-closed decision.
func (s *Service) facts(ctx context.Context, v view, q policy.Question) (*policy.Facts, time.Time, error) {
	f := Facts(v.snap, v.inst, q)
	f.Now = s.now()
	stale := v.stale
	if f.Grant != nil && f.Entitlement.Type == policy.EntitlementNumber {
		u, usageStale, err := s.usage.Current(ctx, v.snap.Org.ID, f.Instance.ID, f.Entitlement, f.Now)
		if err != nil {
			return f, time.Time{}, err
		}
		f.Usage = u
		stale = older(stale, usageStale)
	}
	return f, stale, nil
}

// evaluate decides gathered facts, failing closed. Explanations, drafts
// and previews use it too, so it writes no decision log; decide does.
func (s *Service) evaluate(ctx context.Context, snap *facts.Snapshot, f *policy.Facts, decide func(context.Context, *policy.Facts) (policy.Decision, error)) policy.Decision {
	ctx, span := tracing.Start(ctx, "policy.evaluate")
	d, err := decide(ctx, f)
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("entitled.policy.version", d.PolicyVersion))
		tracing.Fail(span, err)
	}
	span.End()
	if err != nil {
		// Fail closed: a policy that cannot decide grants nothing.
		s.log.WarnContext(ctx, "policy evaluation failed", "organization", snap.Org.Slug, "instance", f.InstanceSlug, "entitlement", f.EntitlementSlug, "err", err)
		return failed(f, err)
	}
	return d
}

// failed is the fail-closed decision of a question whose policy could not
// decide.
func failed(f *policy.Facts, err error) policy.Decision {
	msg := "the policy failed; the server log has the details"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "the policy did not decide within its time limit"
	}
	return policy.Map(f, f.Now, policy.Result{Allowed: false, Reason: ReasonPolicyError, Reasons: []string{msg}})
}
