package custompolicy_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/custompolicy"
	"github.com/entitled/entitled/internal/tenant"
	"github.com/entitled/entitled/internal/testenv"
	"github.com/entitled/entitled/policy"
)

const denyEU = `package entitled.custom.region

deny contains "not in %s" if input.instance.metadata.region == %q
`

// orgWithPolicy creates an organization with one active policy and
// returns a context acting for it.
func orgWithPolicy(t *testing.T, env *testenv.Env) (context.Context, string) {
	t.Helper()
	org, _, _, err := env.App.Auth.CreateOrganization(context.Background(), "Acme", "acme")
	if err != nil {
		t.Fatal(err)
	}
	ctx := tenant.OrgContext(context.Background(), org.ID)
	active := true
	p, err := env.App.Policies.Create(ctx, custompolicy.CreateInput{Name: "region", Module: fmt.Sprintf(denyEU, "eu", "eu"), Active: &active})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, p.ID
}

func decide(ctx context.Context, p *custompolicy.Set, region string) (policy.Decision, error) {
	return p.Decide(ctx, &policy.Facts{
		Now:             time.Now(),
		InstanceSlug:    "i",
		EntitlementSlug: "e",
		Instance:        &policy.Instance{ID: "i", Slug: "i", Metadata: map[string]any{"region": region}},
		Entitlement:     &policy.Entitlement{ID: "e", Slug: "e", Type: policy.EntitlementBoolean},
	})
}

// Concurrent first decisions after a policy change share one compile.
func TestConcurrentFirstDecisionsCompileOnce(t *testing.T) {
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		ctx, _ := orgWithPolicy(t, env)
		orgID := tenant.FromContext(ctx).OrgID
		before := env.App.Metrics.PolicyCompiles()
		var wg sync.WaitGroup
		got := make([]*custompolicy.Set, 8)
		errs := make([]error, 8)
		start := make(chan struct{})
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = env.App.Policies.For(ctx, orgID, 1)
			}()
		}
		close(start)
		wg.Wait()
		for i := range got {
			if errs[i] != nil || got[i] == nil || got[i] != got[0] {
				t.Fatalf("caller %d: %v %p, want the shared %p", i, errs[i], got[i], got[0])
			}
		}
		if n := env.App.Metrics.PolicyCompiles() - before; n != 1 {
			t.Fatalf("8 concurrent first decisions compiled %d times, want 1", n)
		}
		// Later calls reuse it.
		if p, err := env.App.Policies.For(ctx, orgID, 1); err != nil || p != got[0] {
			t.Fatalf("second call: %p %v", p, err)
		}
		if n := env.App.Metrics.PolicyCompiles() - before; n != 1 {
			t.Fatalf("a cached version compiled again (%d compiles)", n)
		}
	})
}

// While a policy changes, decisions see the old set or the new one, whole:
// the old set keeps deciding until the new one is ready.
func TestDecisionsDuringAPolicyChangeNeverTear(t *testing.T) {
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) {
		ctx, id := orgWithPolicy(t, env)
		orgID := tenant.FromContext(ctx).OrgID
		var version sync.Map // the version a reader should ask for
		version.Store("v", 1)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					v, _ := version.Load("v")
					p, err := env.App.Policies.For(ctx, orgID, v.(int))
					if err != nil {
						t.Error(err)
						return
					}
					eu, err1 := decide(ctx, p, "eu")
					us, err2 := decide(ctx, p, "us")
					if err1 != nil || err2 != nil {
						t.Error(err1, err2)
						return
					}
					// Version 1 denies eu; later versions alternate.
					wantDenied := "eu"
					if p.Version()%2 == 0 {
						wantDenied = "us"
					}
					if (eu.Reason == policy.ReasonDeniedByPolicy) != (wantDenied == "eu") ||
						(us.Reason == policy.ReasonDeniedByPolicy) != (wantDenied == "us") {
						t.Errorf("version %d: eu %s, us %s (want %s denied)", p.Version(), eu.Reason, us.Reason, wantDenied)
						return
					}
				}
			}()
		}
		for i := 2; i <= 6; i++ {
			region := "eu"
			if i%2 == 0 {
				region = "us"
			}
			src := fmt.Sprintf(denyEU, region, region)
			if _, err := env.App.Policies.Update(ctx, id, custompolicy.UpdateInput{Module: &src}); err != nil {
				t.Fatal(err)
			}
			version.Store("v", i)
			time.Sleep(20 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
	})
}
