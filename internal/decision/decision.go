// Package decision answers "may this instance do this now?": it gathers
// the facts of a question from the organization's in-memory facts (package
// facts) and the usage counter (package metering), evaluates the
// organization's compiled policy set (package custompolicy), maps the
// result, counts it, and logs it when decision logging is on. It also
// explains decisions and previews drafts against the active policies. It
// reads no SQL for cached instances but the usage counter of NUMBER
// entitlements.
package decision

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/custompolicy"
	"github.com/entitled/entitled/internal/facts"
	"github.com/entitled/entitled/internal/metering"
	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/policy"
)

// ReasonPolicyError is the reason when the policy could not decide; the
// decision fails closed.
const ReasonPolicyError = "POLICY_ERROR"

// MaxDecisions bounds one decisions() call.
const MaxDecisions = 500

// Service answers decision questions for the caller's organization.
type Service struct {
	cache    *facts.Cache
	policies *custompolicy.Service
	usage    *metering.Service
	metrics  *metrics.Registry
	log      *slog.Logger
	dlog     *Log
	now      func() time.Time
}

// New returns the service. dlog may be nil (no decision log).
func New(cache *facts.Cache, policies *custompolicy.Service, usage *metering.Service, m *metrics.Registry, now func() time.Time, log *slog.Logger, dlog *Log) *Service {
	return &Service{cache: cache, policies: policies, usage: usage, metrics: m, log: log, dlog: dlog, now: now}
}

// Allowed decides one question.
func (s *Service) Allowed(ctx context.Context, q policy.Question) (*policy.Decision, error) {
	if err := checkRequested(q.Requested); err != nil {
		return nil, err
	}
	snap, inst, err := s.lookup(ctx, q.Instance)
	if err != nil {
		return nil, err
	}
	d := s.decide(ctx, snap, inst, q)
	return &d, nil
}

// lookup finds the caller's snapshot and the instance asked about (nil
// when the organization has none of that slug).
func (s *Service) lookup(ctx context.Context, instanceSlug string) (*facts.Snapshot, *facts.InstanceFacts, error) {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	inst, err := s.cache.Instance(ctx, snap, instanceSlug)
	if err != nil {
		return nil, nil, err
	}
	return snap, inst, nil
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
	snap, inst, err := s.lookup(ctx, instanceSlug)
	if err != nil {
		return nil, err
	}
	if inst == nil && entitlements == nil {
		return nil, &apperr.Error{Code: apperr.NotFound, Field: "instance", Message: "instance not found; name the entitlements to get INSTANCE_NOT_FOUND decisions"}
	}
	if entitlements == nil && inst != nil {
		if lf := snap.Licenses[inst.LicenseID]; lf != nil {
			entitlements = lf.Granted
		}
	}
	out := make([]*policy.Decision, len(entitlements))
	ds := make([]policy.Decision, len(entitlements))
	for i, e := range entitlements {
		ds[i] = s.decide(ctx, snap, inst, policy.Question{Instance: instanceSlug, Entitlement: e, Requested: requested, Context: reqCtx})
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

func (s *Service) decide(ctx context.Context, snap *facts.Snapshot, inst *facts.InstanceFacts, q policy.Question) policy.Decision {
	f, d, ok := s.facts(ctx, snap, inst, q)
	if !ok {
		return d
	}
	p, err := s.policies.For(ctx, snap.Org.ID, snap.PolicyVersion)
	if err != nil {
		s.log.ErrorContext(ctx, "load policies", "organization", snap.Org.Slug, "err", err)
		return failed(f, err)
	}
	d = s.evaluate(ctx, snap, f, p.Decide)
	s.metrics.Decision(d.Reason, d.Allowed)
	if s.dlog != nil {
		s.dlog.Log(ctx, snap.Org, f, d)
	}
	return d
}

// facts gathers a question's facts, the usage counter included. When a
// fact cannot be read it returns the fail-closed decision and ok false.
func (s *Service) facts(ctx context.Context, snap *facts.Snapshot, inst *facts.InstanceFacts, q policy.Question) (*policy.Facts, policy.Decision, bool) {
	f := Facts(snap, inst, q)
	f.Now = s.now()
	if f.Grant != nil && f.Entitlement.Type == policy.EntitlementNumber {
		u, err := s.usage.Current(ctx, snap.Org.ID, f.Instance.ID, f.Entitlement, f.Now)
		if err != nil {
			// Without the usage fact the policy cannot decide a quota.
			s.log.ErrorContext(ctx, "read usage for decision", "organization", snap.Org.Slug, "instance", q.Instance, "entitlement", q.Entitlement, "err", err)
			return nil, failed(f, err), false
		}
		f.Usage = u
	}
	return f, policy.Decision{}, true
}

// evaluate decides gathered facts, failing closed. Explanations, drafts
// and previews use it too, so it writes no decision log; decide does.
func (s *Service) evaluate(ctx context.Context, snap *facts.Snapshot, f *policy.Facts, decide func(context.Context, *policy.Facts) (policy.Decision, error)) policy.Decision {
	d, err := decide(ctx, f)
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
