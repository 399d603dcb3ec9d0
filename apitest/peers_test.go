package apitest

import (
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

// Two servers share one PostgreSQL database: a change made through one is
// seen by decisions on the other (LISTEN/NOTIFY drops the cached facts).
func TestChangesReachOtherProcesses(t *testing.T) {
	t.Parallel()
	a := testenv.New(t, "postgres")
	b := a.Peer()
	f := newFixture(t, a, "acme")
	// Warm b's cache.
	wantReason(t, ask(t, b, f.key, "eu-1", "sso", nil), true, "ALLOWED")
	wantReason(t, ask(t, b, f.key, "eu-1", "beta", nil), false, "FEATURE_DISABLED")

	eventually := func(what, inst, ent string, allowed bool, reason string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		start := time.Now()
		for {
			d := ask(t, b, f.key, inst, ent, nil)
			if d["allowed"] == allowed && d["reason"] == reason {
				t.Logf("%s reached the other process after %s", what, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the other process still answers %v %v", what, d["allowed"], d["reason"])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	a.MustDo(f.key, setLink, map[string]any{"in": map[string]any{"licenseID": f.licID, "entitlementID": f.flag, "value": map[string]any{"type": "boolean", "value": true}}})
	eventually("a link change", "eu-1", "beta", true, "ALLOWED")
	a.MustDo(f.key, `mutation($id: ID!) { updateLicense(id: $id, input: {isActive: false}) { id } }`, map[string]any{"id": f.licID})
	eventually("a deactivation", "eu-1", "sso", false, "LICENSE_INACTIVE")

	// A key revoked through one process stops working on the other.
	check := a.NewKey(f.key, "CHECK")
	wantReason(t, ask(t, b, check, "eu-1", "sso", nil), false, "LICENSE_INACTIVE")
	id := testenv.Str(a.MustDo(f.key, `{ apiKeys { id name } }`, nil), "apiKeys.0.id")
	a.MustDo(f.key, `mutation($id: ID!) { revokeAPIKey(id: $id) { revoked } }`, map[string]any{"id": id})
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := b.Do(check, allowedQ, map[string]any{"i": "eu-1", "e": "sso"})
		if r.Status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still accepted by the other process: %s", r.Raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
