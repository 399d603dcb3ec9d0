package licensefile

import (
	"context"
	"errors"
	"time"

	"github.com/entitled/entitled/policy"
)

// Decide answers, from a verified file, what the server's allowed answers:
// may the file's instance use entitlement now, for requested (nil: 1), in
// this context (nil: {})? It builds the policy input document from the
// dataset exactly as the server builds it from its facts (the usage is the
// file's, at issue), evaluates the default policy plus the file's custom
// modules, and maps the result to the server's decision shape and reasons.
//
// At or past the file's exp the decision is refused with reason
// LICENSE_FILE_EXPIRED, without evaluating. A policy that cannot decide
// fails closed with POLICY_ERROR, as on the server. Errors are for
// questions that get no decision: the file was not verified
// (ErrNotVerified), now is more than ClockSkew before iat (ErrClock), or
// requested or the context is malformed (ErrRequest).
func (f *File) Decide(entitlement string, requested *float64, reqContext map[string]any, now time.Time) (policy.Decision, error) {
	return f.DecideQuestion(Question{Entitlement: entitlement, Requested: requested, Context: reqContext, Now: now})
}

// Question is what DecideQuestion answers: Decide's arguments, and the
// usage to decide with when the caller knows more than the file's usage
// at issue.
type Question struct {
	Entitlement string
	Requested   *float64       // nil: 1
	Context     map[string]any // nil: {}
	Now         time.Time
	// Usage, when not nil, replaces a granted NUMBER entitlement's usage
	// at issue (package sdk adds what its client reported since the
	// file was issued). It is only read: callers may share it between
	// questions. Ignored for other entitlements.
	Usage *policy.Usage
}

// DecideQuestion is Decide for a Question.
func (f *File) DecideQuestion(q Question) (policy.Decision, error) {
	entitlement, requested, reqContext, now := q.Entitlement, q.Requested, q.Context, q.Now
	v := f.state()
	if v == nil {
		return policy.Decision{}, errf(CodeNotVerified, nil, "not verified: call Verify with the trusted JWKS first")
	}
	if requested != nil {
		if err := policy.Quantity(*requested); err != nil {
			return policy.Decision{}, errf(CodeRequest, err, "bad request: requested")
		}
	}
	if err := checkClock(v, now); err != nil {
		return policy.Decision{}, err
	}
	facts := v.facts(entitlement, requested, reqContext, now)
	if q.Usage != nil && facts.Grant != nil && facts.Entitlement.Type == policy.EntitlementNumber {
		facts.Usage = q.Usage
	}
	if !now.Before(v.exp) {
		return policy.Map(facts, now, policy.Result{Reason: policy.ReasonLicenseFileExpired, Reasons: []string{v.expired},
			PolicyVersion: v.prepared.Version()}), nil
	}
	d, err := v.prepared.Decide(context.Background(), facts)
	switch {
	case err == nil:
		return d, nil
	case errors.Is(err, policy.ErrRequestContext):
		return policy.Decision{}, errf(CodeRequest, err, "bad request: context")
	}
	// Fail closed, as the server does: a policy that cannot decide grants
	// nothing.
	msg := "the policy failed: " + err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "the policy did not decide within its time limit"
	}
	return policy.Map(facts, now, policy.Result{Reason: policy.ReasonPolicyError, Reasons: []string{msg}}), nil
}

// facts are a question's facts as the server would gather them: the
// instance's, the entitlement's with its grant and (granted NUMBER) usage,
// and the request's.
func (v *verified) facts(entitlement string, requested *float64, reqContext map[string]any, now time.Time) *policy.Facts {
	f := &policy.Facts{
		Now:             now,
		InstanceSlug:    v.inst.Slug,
		EntitlementSlug: entitlement,
		Org:             v.org,
		Instance:        v.inst,
		License:         v.lic,
		Request:         &policy.Request{Requested: requested, Context: reqContext},
	}
	if e := v.ents[entitlement]; e != nil {
		f.Entitlement, f.Grant, f.Usage = e.ent, e.grant, e.usage
	}
	return f
}
