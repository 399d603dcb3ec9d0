package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/sdk"
)

// The SDK through a real outage: the server process is SIGKILLed. The
// client keeps deciding from its snapshot (Stale), keeps the reports made
// meanwhile, and once a new server process is up on the same database and
// address, sends them so that each is counted exactly once.
func TestSDKSurvivesAKilledServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dbEnv, _ := sqliteURL(t)
	srv := start(t, dbEnv, "ENTITLED_ADDR="+addr)
	srv.waitReady(30 * time.Second)
	admin := srv.waitKey()
	do := func(p *proc, key, q string) map[string]any {
		t.Helper()
		d := p.graphql(key, q)
		if d["errors"] != nil {
			t.Fatalf("%s: %v", q, d["errors"])
		}
		return d
	}
	calls := dig(do(srv, admin, `mutation { createEntitlement(input: {name: "API calls", slug: "api-calls", type: NUMBER}) { id } }`), "data", "createEntitlement", "id")
	sso := dig(do(srv, admin, `mutation { createEntitlement(input: {name: "SSO", slug: "sso", type: BOOLEAN}) { id } }`), "data", "createEntitlement", "id")
	lic := dig(do(srv, admin, `mutation { createLicense(input: {name: "Pro", slug: "pro", type: PAID, isDefault: true}) { id } }`), "data", "createLicense", "id")
	do(srv, admin, `mutation { setLicenseEntitlement(input: {licenseID: "`+lic+`", entitlementID: "`+calls+`", value: {type: "number", value: 1000}}) { id } }`)
	do(srv, admin, `mutation { setLicenseEntitlement(input: {licenseID: "`+lic+`", entitlementID: "`+sso+`", value: {type: "boolean", value: true}}) { id } }`)
	do(srv, admin, `mutation { createInstance(input: {name: "EU", slug: "eu-1"}) { id } }`)
	check := dig(do(srv, admin, `mutation { createAPIKey(input: {name: "app", scopes: [CHECK]}) { secret } }`), "data", "createAPIKey", "secret")

	ctx := context.Background()
	cl, err := sdk.New(ctx, sdk.Config{URL: "http://" + addr, APIKey: check, CacheDir: t.TempDir(),
		UsageRefresh: 200 * time.Millisecond, ReportInterval: 20 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, RequestTimeout: 2 * time.Second, CloseTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if d, err := cl.Allowed(ctx, "eu-1", "sso"); err != nil || !d.Allowed || d.Stale {
		t.Fatalf("before the outage: %+v %v", d, err)
	}
	if _, err := cl.Allowed(ctx, "eu-1", "api-calls"); err != nil {
		t.Fatal(err)
	}

	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	srv.wait(10 * time.Second)
	var d sdk.Decision
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if d, err = cl.Allowed(ctx, "eu-1", "sso"); (err == nil && d.Stale) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !d.Stale || !d.Allowed || d.Source != sdk.SourceLocal {
		t.Fatalf("with the server killed: %+v %v", d, err)
	}
	const reports = 20
	for i := range reports {
		if err := cl.Report(ctx, "eu-1", "api-calls", 3, sdk.IdempotencyKey(fmt.Sprintf("killed-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if d, _ := cl.Allowed(ctx, "eu-1", "api-calls"); d.Usage == nil || *d.Usage != 3*reports {
		t.Errorf("usage during the outage: %v, want the client's own %d", d.Usage, 3*reports)
	}

	again := start(t, dbEnv, "ENTITLED_ADDR="+addr)
	again.waitReady(30 * time.Second)
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	// Sent again (as after a crash before the journal forgot them): still
	// counted once, by their idempotency keys.
	for i := range reports {
		if err := cl.Report(ctx, "eu-1", "api-calls", 3, sdk.IdempotencyKey(fmt.Sprintf("killed-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	got := again.graphql(check, `{ allowed(instance: "eu-1", entitlement: "api-calls") { usage } }`)
	if u := fmt.Sprint(got["data"]); !strings.Contains(u, fmt.Sprintf("usage:%d", 3*reports)) {
		t.Errorf("after the restart the server counts %s, want usage %d (each report once)", u, 3*reports)
	}
}
