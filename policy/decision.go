package policy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Decision is the answer of DESIGN.md section 4.
type Decision struct {
	Allowed bool     `json:"allowed"`
	Reason  string   `json:"reason"`  // policy.Reason* codes
	Reasons []string `json:"reasons"` // human-readable; custom messages included
	// Instance and Entitlement are the slugs asked.
	Instance    string `json:"instance"`
	Entitlement string `json:"entitlement"`
	// Value is the link's structured value {"type": ..., "value": ...}, nil
	// without a grant. Shared with the cache: read-only.
	Value map[string]any `json:"value"`
	// Usage, Limit, HardCap and Remaining are set for NUMBER grants only.
	// Usage is the period's current value (0 before any report); Limit is
	// the granted value (-1: unlimited); HardCap includes the overage (nil
	// when unlimited); Remaining is max(0, HardCap - Usage) (nil when
	// unlimited): what may still be consumed, never negative even when
	// reportUsage recorded an overage.
	Usage          *float64 `json:"usage"`
	Limit          *float64 `json:"limit"`
	HardCap        *float64 `json:"hardCap"`
	Remaining      *float64 `json:"remaining"`
	LicenseVersion *int     `json:"licenseVersion"` // nil without a license
	// PolicyVersion is the version of the policy set that decided (0: the
	// default policy only).
	PolicyVersion int       `json:"policyVersion"`
	EvaluatedAt   time.Time `json:"evaluatedAt"` // the input's "now"
	// Explanation lists the rules that fired; only explained evaluations
	// fill it.
	Explanation Explanation `json:"explanation,omitempty"`
}

// Evaluator evaluates a policy input document; *policy.Engine and
// *policy.Prepared implement it.
type Evaluator interface {
	Eval(ctx context.Context, input ast.Value) (Result, error)
}

// Explainer evaluates and reports which rules fired; *policy.Engine and
// *policy.Prepared implement it.
type Explainer interface {
	Explain(ctx context.Context, input ast.Value) (Result, error)
}

var (
	_ Evaluator = (*Engine)(nil)
	_ Evaluator = (*Prepared)(nil)
	_ Explainer = (*Engine)(nil)
	_ Explainer = (*Prepared)(nil)
)

// Service decides with an Evaluator and a clock.
type Service struct {
	eval  Evaluator
	clock func() time.Time
}

// NewService returns a Service; clock nil means time.Now.
func NewService(eval Evaluator, clock func() time.Time) *Service {
	if clock == nil {
		clock = time.Now
	}
	return &Service{eval: eval, clock: clock}
}

// Decide builds the input for f, evaluates the Service's policy and maps
// the result.
func (s *Service) Decide(ctx context.Context, f *Facts) (Decision, error) {
	return s.DecideWith(ctx, s.eval, f)
}

// DecideWith is Decide with another Evaluator, e.g. the asking
// organization's own policy.Engine.
func (s *Service) DecideWith(ctx context.Context, eval Evaluator, f *Facts) (Decision, error) {
	now := f.Now
	if now.IsZero() {
		now = s.clock()
	}
	in, err := input(f, now)
	if err != nil {
		return Decision{}, err
	}
	res, err := eval.Eval(ctx, in)
	if err != nil {
		return Decision{}, fmt.Errorf("decide %s/%s: %w", f.InstanceSlug, f.EntitlementSlug, err)
	}
	return Map(f, now, res), nil
}

// Explaining wraps an Explainer as an Evaluator whose results carry the
// rules that fired (Decision.Explanation): explainDecision. Tracing is
// slower, so only explained questions use it; DecideWith on a plain
// Evaluator never traces.
func Explaining(e Explainer) Evaluator { return explaining{e} }

type explaining struct{ Explainer }

func (e explaining) Eval(ctx context.Context, in ast.Value) (Result, error) {
	return e.Explain(ctx, in)
}

// Changed reports whether two decisions differ in their verdict: allowed,
// reason or reasons.
func Changed(a, b Decision) bool {
	return a.Allowed != b.Allowed || a.Reason != b.Reason || !slices.Equal(a.Reasons, b.Reasons)
}

// Map turns a policy result into a Decision, adding the facts the caller
// reports (value, usage, limits, versions). The verdict itself (allowed,
// reason, reasons) is the policy's.
func Map(f *Facts, now time.Time, res Result) Decision {
	d := Decision{
		Allowed:       res.Allowed,
		Reason:        res.Reason,
		Reasons:       res.Reasons,
		Instance:      f.InstanceSlug,
		Entitlement:   f.EntitlementSlug,
		PolicyVersion: res.PolicyVersion,
		EvaluatedAt:   now,
		Explanation:   res.Explanation,
	}
	if d.Reasons == nil {
		d.Reasons = []string{}
	}
	if f.License != nil {
		v := f.License.Version
		d.LicenseVersion = &v
	}
	g := f.Grant
	if g == nil {
		return d
	}
	d.Value = g.Raw
	if g.Type != GrantNumber {
		return d
	}
	// One allocation for the four numbers.
	nums := new([4]float64)
	if f.Usage != nil {
		nums[0] = f.Usage.Current
	}
	nums[1] = g.Number
	d.Usage, d.Limit = &nums[0], &nums[1]
	if !g.Unlimited {
		nums[2] = g.HardCap
		nums[3] = max(0, g.HardCap-nums[0])
		d.HardCap, d.Remaining = &nums[2], &nums[3]
	}
	return d
}
