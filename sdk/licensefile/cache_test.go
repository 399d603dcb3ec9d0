package licensefile

import (
	"testing"

	"github.com/entitled/entitled/policy"
)

// Files carrying the same policies share one compiled policy through a
// PolicyCache; other policies compile on their own.
func TestPolicyCacheShares(t *testing.T) {
	k := newKey(t, "k1")
	cache := NewPolicyCache(2)
	facts := sampleFacts(t, "eu-prod-1")
	facts.Policies = benchPolicies
	var prepared []*policy.Prepared
	for range 3 {
		f, err := Parse([]byte(issue(t, k, facts)))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.VerifyCached(jwksOf(k), testNow, cache); err != nil {
			t.Fatal(err)
		}
		prepared = append(prepared, f.state().prepared)
		if d, err := f.Decide("sso", nil, nil, testNow); err != nil || !d.Allowed || d.PolicyVersion != 3 {
			t.Fatalf("decide: %+v %v", d, err)
		}
	}
	if prepared[0] != prepared[1] || prepared[1] != prepared[2] || cache.Len() != 1 {
		t.Errorf("the same policies compiled more than once (cache holds %d)", cache.Len())
	}
	other := *benchPolicies
	other.Version = 4
	facts.Policies = &other
	f, _ := Parse([]byte(issue(t, k, facts)))
	if err := f.VerifyCached(jwksOf(k), testNow, cache); err != nil {
		t.Fatal(err)
	}
	if f.state().prepared == prepared[0] || cache.Len() != 2 {
		t.Errorf("another policy version shared a compiled policy")
	}
}

// DecideQuestion decides a NUMBER entitlement with the usage given.
func TestDecideQuestionUsage(t *testing.T) {
	k := newKey(t, "k1")
	f := verifiedFile(t, issue(t, k, sampleFacts(t, "eu-prod-1")), jwksOf(k))
	d, err := f.DecideQuestion(Question{Entitlement: "api-calls", Now: testNow, Usage: &policy.Usage{Current: 110}})
	if err != nil || d.Allowed || d.Reason != policy.ReasonLimitExceeded || *d.Usage != 110 || *d.Remaining != 0 {
		t.Errorf("usage 110 of 100 + 10 %%: %+v %v", d, err)
	}
	d, err = f.DecideQuestion(Question{Entitlement: "sso", Now: testNow, Usage: &policy.Usage{Current: 110}})
	if err != nil || !d.Allowed || d.Usage != nil {
		t.Errorf("usage is ignored for BOOLEAN: %+v %v", d, err)
	}
}
