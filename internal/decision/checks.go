// Package checks answers "may this instance do this now?" for the API: it
// gathers the facts from the organization's in-memory snapshot, asks the
// decision service (the embedded OPA engine), and logs the decision when
// decision logging is on. It reads no SQL for cached instances.
package decision

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/facts"
	"github.com/entitled/entitled/internal/platform/metrics"
	"github.com/entitled/entitled/policy"

	"github.com/entitled/entitled/internal/tenant"
)

// ReasonPolicyError is the reason when the policy could not decide; the
// decision fails closed.
const ReasonPolicyError = "POLICY_ERROR"

// MaxDecisions bounds one decisions() call.
const MaxDecisions = 500

// UsageReader reads the current period's usage of one instance and
// entitlement (one counter row).
type UsageReader interface {
	Current(ctx context.Context, orgID, instanceID string, e *policy.Entitlement, now time.Time) (*policy.Usage, error)
}

// Policies gives the decision query of an organization at a policy
// version: the default policy plus that organization's active modules.
type Policies interface {
	For(ctx context.Context, orgID string, version int) (policy.Evaluator, error)
}

// Static decides every organization with one evaluator.
type Static struct{ policy.Evaluator }

// For implements Policies.
func (s Static) For(context.Context, string, int) (policy.Evaluator, error) {
	return s.Evaluator, nil
}

// Service answers decision questions for the caller's organization.
type Service struct {
	cache    *facts.Cache
	decider  *policy.Service
	policies Policies
	log      *slog.Logger
	dlog     *DecisionLog
	now      func() time.Time
	usage    UsageReader
	metrics  *metrics.Registry
}

// SetMetrics counts decisions by reason.
func (s *Service) SetMetrics(m *metrics.Registry) { s.metrics = m }

// SetUsage gives NUMBER decisions their usage facts. Without it, usage is
// absent and the policy counts it as 0.
func (s *Service) SetUsage(u UsageReader) { s.usage = u }

// New returns the service. dlog may be nil (no decision log).
func New(cache *facts.Cache, policies Policies, now func() time.Time, log *slog.Logger, dlog *DecisionLog) *Service {
	return &Service{cache: cache, decider: policy.NewService(nil, now), policies: policies, log: log, dlog: dlog, now: now}
}

// Question is one decision request.
type Question struct {
	Instance    string
	Entitlement string
	Requested   *float64
	Context     map[string]any
}

// Allowed decides one question.
func (s *Service) Allowed(ctx context.Context, q Question) (*policy.Decision, error) {
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
	v := tenant.FromContext(ctx)
	if v.OrgID == "" {
		return nil, nil, apperr.Forbiddenf("decisions need an organization's API key")
	}
	snap, err := s.cache.Snapshot(ctx, v.OrgID)
	if err != nil {
		return nil, nil, err
	}
	inst, err := s.cache.Instance(ctx, snap, instanceSlug)
	if err != nil {
		return nil, nil, err
	}
	return snap, inst, nil
}

// Decisions decides every listed entitlement for one instance; with no
// list, every entitlement the instance's license grants.
func (s *Service) Decisions(ctx context.Context, instanceSlug string, entitlements []string, requested *float64, reqCtx map[string]any) ([]*policy.Decision, error) {
	v := tenant.FromContext(ctx)
	if v.OrgID == "" {
		return nil, apperr.Forbiddenf("decisions need an organization's API key")
	}
	if len(entitlements) > MaxDecisions {
		return nil, apperr.Invalid("entitlements", "at most %d per call", MaxDecisions)
	}
	snap, err := s.cache.Snapshot(ctx, v.OrgID)
	if err != nil {
		return nil, err
	}
	inst, err := s.cache.Instance(ctx, snap, instanceSlug)
	if err != nil {
		return nil, err
	}
	if entitlements == nil && inst != nil {
		if lf := snap.Licenses[inst.LicenseID]; lf != nil {
			entitlements = lf.Granted
		}
	}
	out := make([]*policy.Decision, len(entitlements))
	ds := make([]policy.Decision, len(entitlements))
	for i, e := range entitlements {
		ds[i] = s.decide(ctx, snap, inst, Question{Instance: instanceSlug, Entitlement: e, Requested: requested, Context: reqCtx})
		out[i] = &ds[i]
	}
	return out, nil
}

// Facts assembles the facts of a question from a snapshot.
func Facts(snap *facts.Snapshot, inst *facts.InstanceFacts, q Question) *policy.Facts {
	f := &policy.Facts{
		InstanceSlug:    q.Instance,
		EntitlementSlug: q.Entitlement,
		Org:             snap.Org,
		Request:         &policy.Request{Requested: q.Requested, Context: q.Context},
	}
	var lf *facts.LicenseFacts
	if inst != nil {
		f.Instance = inst.Instance
		if lf = snap.Licenses[inst.LicenseID]; lf != nil {
			f.License = lf.License
		}
	}
	if e := snap.Entitlements[q.Entitlement]; e != nil {
		f.Entitlement = e
		if lf != nil {
			f.Grant = lf.Grants[e.ID]
		}
	}
	return f
}

func (s *Service) decide(ctx context.Context, snap *facts.Snapshot, inst *facts.InstanceFacts, q Question) policy.Decision {
	f, d, ok := s.facts(ctx, snap, inst, q)
	if !ok {
		return d
	}
	eval, err := s.policies.For(ctx, snap.Org.ID, snap.PolicyVersion)
	if err != nil {
		s.log.ErrorContext(ctx, "load policies", "organization", snap.Org.Slug, "err", err)
		return policy.Map(f, f.Now, decisionError(err))
	}
	d = s.evaluate(ctx, snap, f, q, eval)
	s.metrics.Decision(d.Reason, d.Allowed)
	if s.dlog != nil {
		s.dlog.Log(ctx, snap.Org, f, d)
	}
	return d
}

// facts gathers a question's facts, the usage counter included. When a
// fact cannot be read it returns the fail-closed decision and ok false.
func (s *Service) facts(ctx context.Context, snap *facts.Snapshot, inst *facts.InstanceFacts, q Question) (*policy.Facts, policy.Decision, bool) {
	f := Facts(snap, inst, q)
	f.Now = s.now()
	if s.usage != nil && f.Grant != nil && f.Entitlement.Type == "NUMBER" {
		u, err := s.usage.Current(ctx, snap.Org.ID, f.Instance.ID, f.Entitlement, f.Now)
		if err != nil {
			// Without the usage fact the policy cannot decide a quota.
			s.log.ErrorContext(ctx, "read usage for decision", "organization", snap.Org.Slug, "instance", q.Instance, "entitlement", q.Entitlement, "err", err)
			return nil, policy.Map(f, f.Now, decisionError(err)), false
		}
		f.Usage = u
	}
	return f, policy.Decision{}, true
}

// evaluate decides gathered facts with an evaluator, failing closed.
// Explanations, drafts and previews use it too, so it writes no decision
// log; decide does.
func (s *Service) evaluate(ctx context.Context, snap *facts.Snapshot, f *policy.Facts, q Question, eval policy.Evaluator) policy.Decision {
	d, err := s.decider.DecideWith(ctx, eval, f)
	if err != nil {
		// Fail closed: a policy that cannot decide grants nothing.
		s.log.WarnContext(ctx, "policy evaluation failed", "organization", snap.Org.Slug, "instance", q.Instance, "entitlement", q.Entitlement, "err", err)
		d = policy.Map(f, f.Now, decisionError(err))
		d.Allowed = false
	}
	return d
}

func decisionError(err error) policy.Result {
	msg := "the policy failed; the server log has the details"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "the policy did not decide within its time limit"
	}
	return policy.Result{Allowed: false, Reason: ReasonPolicyError, Reasons: []string{msg}}
}
