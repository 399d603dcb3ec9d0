package policy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Decision is the answer to a Question: the policy's verdict with the
// facts a caller needs to act on it (docs/policies.md lists the fields).
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
	// Stale is set when the decision was made from facts that may be out
	// of date: cached while the database did not answer, or with the
	// usage last known instead of a fresh read.
	Stale bool `json:"stale"`
	// Explanation lists the rules that fired; only explained evaluations
	// fill it.
	Explanation Explanation `json:"explanation,omitempty"`
}

// Question is what a caller asks: may this instance use this entitlement
// now, for this much, in this context? Instance and Entitlement are slugs.
type Question struct {
	Instance    string
	Entitlement string
	Requested   *float64       // nil: 1
	Context     map[string]any // nil: {}
}

// Decide builds the input document of f (f.Now is the input's "now"),
// evaluates it with p and maps the result to a Decision.
func (p *Prepared) Decide(ctx context.Context, f *Facts) (Decision, error) {
	return p.decide(ctx, f, p.Eval)
}

// DecideExplained is Decide with the rules that fired listed in
// Decision.Explanation (explainDecision). Tracing costs more, so the
// ordinary path never does it.
func (p *Prepared) DecideExplained(ctx context.Context, f *Facts) (Decision, error) {
	return p.decide(ctx, f, p.Explain)
}

func (p *Prepared) decide(ctx context.Context, f *Facts, eval func(context.Context, ast.Value) (Result, error)) (Decision, error) {
	in, err := input(f, f.Now)
	if err != nil {
		return Decision{}, err
	}
	res, err := eval(ctx, in)
	if err != nil {
		return Decision{}, fmt.Errorf("decide %s/%s: %w", f.InstanceSlug, f.EntitlementSlug, err)
	}
	return Map(f, f.Now, res), nil
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
		nums[3] = g.Remaining(nums[0])
		d.HardCap, d.Remaining = &nums[2], &nums[3]
	}
	return d
}
