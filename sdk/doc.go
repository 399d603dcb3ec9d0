// Package sdk decides entitlements in-process, with the same Rego the
// entitled server runs, online or off.
//
// A Client fetches a signed snapshot of an instance the first time it is
// asked about it (GET /v1/sdk/snapshot: a short-lived license file,
// package licensefile, verified with the organization's keys), then
// answers Allowed locally, with one prepared policy per policy version
// shared by every call. A server-sent event stream (GET /v1/sdk/stream)
// says within a second what changed; changed snapshots are fetched again
// (conditionally: a 304 when nothing did). NUMBER decisions use the
// snapshot's usage plus what this client reported or consumed since,
// refreshed every Config.UsageRefresh. Consume is the server's exact
// check-and-consume; Report buffers, persists (Config.CacheDir), batches
// and retries reports with idempotency keys, so none is lost or counted
// twice.
//
// When the server cannot be reached, decisions go on from the last
// snapshot (Decision.Stale) until its exp, then from Config.LicenseFile
// (Source OFFLINE), else they are refused with LICENSE_FILE_EXPIRED.
// CacheDir keeps the last good snapshot of each instance, verified again
// on load, so that a process restarted during an outage still decides.
//
// It depends on the standard library, Open Policy Agent, golang.org/x/sync
// and the repository's public packages policy and sdk/licensefile; nothing
// of the server. docs/sdk.md is the guide.
//
//	c, err := sdk.New(ctx, sdk.Config{URL: "http://entitled:8080", APIKey: "etk_...", CacheDir: dir})
//	defer c.Close()
//	d, err := c.Allowed(ctx, "eu-prod-1", "api-calls", sdk.Requested(5))
//	if d.Allowed { ... }
//	err = c.Report(ctx, "eu-prod-1", "api-calls", 5)
package sdk
