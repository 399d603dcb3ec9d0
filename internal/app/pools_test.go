package app_test

import (
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver "sqlite", to hold the write lock

	"github.com/entitled/entitled/internal/testenv"
)

// On SQLite decisions read through a pool of their own: while writers
// wait for the file's write lock (another process holds it), holding
// every connection of the write pool, decisions still answer at once.
func TestSQLiteDecisionsDoNotQueueBehindWriters(t *testing.T) {
	env := testenv.New(t, "sqlite")
	admin := env.NewOrg("acme")
	d := env.MustDo(admin, `mutation { e: createEntitlement(input: {name: "Calls", slug: "calls", type: NUMBER}) { id }
		l: createLicense(input: {name: "L", slug: "l", type: PAID, isDefault: true}) { id } }`, nil)
	env.MustDo(admin, `mutation($l: ID!, $e: ID!) { setLicenseEntitlement(input: {licenseID: $l, entitlementID: $e, value: {type: "number", value: 1000}}) { id } }`,
		map[string]any{"l": testenv.Str(d, "l.id"), "e": testenv.Str(d, "e.id")})
	env.MustDo(admin, `mutation { createInstance(input: {name: "I", slug: "i"}) { id } }`, nil)
	check := env.NewKey(admin, "CHECK")
	const ask = `{ allowed(instance: "i", entitlement: "calls") { allowed reason usage } }`
	env.MustDo(check, ask, nil) // facts and the key are cached now

	// Another process takes the write lock and keeps it.
	lock, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(env.DatabaseURL, "sqlite://")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	tx, err := lock.Begin()
	if err == nil {
		_, err = tx.Exec("INSERT INTO organizations (id, created_at, updated_at, name, slug, policy_version) VALUES ('org_lock', '2026-01-01', '2026-01-01', 'L', 'lock-holder', 0)")
	}
	if err != nil {
		t.Fatal(err)
	}
	var writers sync.WaitGroup
	for range 8 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			env.MustDo(admin, `mutation { reportUsage(input: {instance: "i", entitlement: "calls", value: 1}) { usage { value } } }`, nil)
		}()
	}
	time.Sleep(200 * time.Millisecond) // the writers now wait for the lock

	start := time.Now()
	for range 20 {
		r := env.MustDo(check, ask, nil)
		if testenv.Str(r, "allowed.reason") != "ALLOWED" {
			t.Fatalf("decision: %v", r)
		}
	}
	took := time.Since(start)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	writers.Wait()
	t.Logf("20 decisions while 8 writers waited for the write lock: %s", took)
	if took > 2*time.Second {
		t.Fatalf("decisions took %s behind writers", took)
	}
	if u := testenv.Num(env.MustDo(check, ask, nil), "allowed.usage"); u != 8 {
		t.Fatalf("usage after the writers = %v, want 8", u)
	}
}
