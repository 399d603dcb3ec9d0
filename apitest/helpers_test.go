package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

// client is a testenv.Env whose every response is checked for leaked
// internal error text, so each test that uses it also proves that nothing
// below the API (SQL, drivers, ent, panics) reaches the caller. T is the
// (sub)test failures are reported to; see In.
type client struct {
	*testenv.Env
	T testing.TB
}

// In returns the client reporting to the subtest t.
func (c client) In(t testing.TB) client { return client{c.Env, t} }

// forEachStore runs fn against SQLite and PostgreSQL, in parallel, with a
// leak-checking client.
func forEachStore(t *testing.T, fn func(t *testing.T, c client)) {
	t.Helper()
	testenv.ForEachStore(t, func(t *testing.T, env *testenv.Env) { fn(t, client{env, t}) })
}

// forEachStoreSerial is forEachStore one backend at a time, for tests that
// count SQL statements or measure time and so run alone (their top-level
// test does not call t.Parallel).
func forEachStoreSerial(t *testing.T, fn func(t *testing.T, c client)) {
	t.Helper()
	testenv.ForEachStoreSerial(t, func(t *testing.T, env *testenv.Env) { fn(t, client{env, t}) })
}

// leakMarkers match text that only internals produce (on lower-cased
// messages; "ent:" as a word, so "overagePercent: ..." is not a leak).
var leakMarkers = []*regexp.Regexp{
	regexp.MustCompile(`\bent:`),
	regexp.MustCompile(`sql`),
	regexp.MustCompile(`\bpq:`),
	regexp.MustCompile(`sqlite`),
	regexp.MustCompile(`constraint`),
	regexp.MustCompile(`panic`),
	regexp.MustCompile(`goroutine`),
	regexp.MustCompile(`runtime error`),
	regexp.MustCompile(`\.go:\d`),
}

// leaks returns what in a response's errors looks like internal detail.
func leaks(r testenv.Response) []string {
	var out []string
	for _, e := range r.Errors {
		ext, _ := json.Marshal(e.Extensions)
		text := strings.ToLower(e.Message + " " + string(ext))
		for _, m := range leakMarkers {
			if m.MatchString(text) {
				out = append(out, fmt.Sprintf("%q in error %q (extensions %s)", m, e.Message, ext))
			}
		}
	}
	return out
}

func (c client) check(r testenv.Response) testenv.Response {
	c.T.Helper()
	for _, l := range leaks(r) {
		c.T.Errorf("internal detail leaked: %s", l)
	}
	for _, e := range r.Errors {
		if e.Code() == "" {
			c.T.Errorf("error without extensions.code: %.1000s", r.Raw)
		}
		// INTERNAL is a bug: no test provokes one on purpose through a
		// client (fault injection talks to the server directly).
		if e.Code() == "INTERNAL" {
			c.T.Errorf("INTERNAL error: %.1000s", r.Raw)
		}
		if e.Code() == "INTERNAL" {
			c.T.Errorf("unexpected INTERNAL error: %.1000s", r.Raw)
		}
	}
	return r
}

func (c client) Do(key, query string, vars map[string]any) testenv.Response {
	c.T.Helper()
	return c.check(c.Env.Do(key, query, vars))
}

func (c client) Raw(key, contentType string, body []byte) testenv.Response {
	c.T.Helper()
	return c.check(c.Env.Raw(key, contentType, body))
}

func (c client) Get(key, query string, vars map[string]any) testenv.Response {
	c.T.Helper()
	return c.check(c.Env.Get(key, query, vars))
}

func (c client) MustDo(key, query string, vars map[string]any) map[string]any {
	c.T.Helper()
	r := c.Do(key, query, vars)
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		c.T.Fatalf("unexpected errors (status %d): %.1000s", r.Status, r.Raw)
	}
	return r.Data
}

// MustFail runs a document that must fail with exactly one error of the
// given code, and returns that error.
func (c client) MustFail(key, code, query string, vars map[string]any) testenv.Error {
	c.T.Helper()
	r := c.Do(key, query, vars)
	return c.wantError(r, code)
}

func (c client) wantError(r testenv.Response, code string) testenv.Error {
	c.T.Helper()
	if len(r.Errors) == 0 {
		c.T.Fatalf("expected %s error, got success: %.1000s", code, r.Raw)
	}
	if len(r.Errors) != 1 {
		c.T.Fatalf("expected exactly one %s error, got %d: %.1000s", code, len(r.Errors), r.Raw)
	}
	if got := r.Errors[0].Code(); got != code {
		c.T.Fatalf("expected %s error, got %s: %.1000s", code, got, r.Raw)
	}
	return r.Errors[0]
}

// MustFailField is MustFail for BAD_USER_INPUT naming the given field.
func (c client) MustFailField(key, field, query string, vars map[string]any) testenv.Error {
	c.T.Helper()
	return c.MustFailWith(key, "BAD_USER_INPUT", field, query, vars)
}

// MustFailWith is MustFail that also checks extensions.field.
func (c client) MustFailWith(key, code, field, query string, vars map[string]any) testenv.Error {
	c.T.Helper()
	e := c.MustFail(key, code, query, vars)
	if e.Field() != field {
		c.T.Fatalf("%s error names field %q, want %q: %s (%v)", code, e.Field(), field, e.Message, e.Extensions)
	}
	return e
}

// PostWithin posts a raw body with a hard client-side deadline, so a
// regression that makes the server spin fails the test instead of hanging
// the suite. It is a hang guard, not a speed assertion.
func (c client) PostWithin(d time.Duration, key string, body []byte) testenv.Response {
	c.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	return c.SendWith(&http.Client{Timeout: d}, req)
}

// Send sends a hand-made request to the test server.
func (c client) Send(req *http.Request) testenv.Response {
	c.T.Helper()
	return c.SendWith(c.Server.Client(), req)
}

// SendWith sends req with hc and decodes the GraphQL response.
func (c client) SendWith(hc *http.Client, req *http.Request) testenv.Response {
	c.T.Helper()
	res, err := hc.Do(req)
	if err != nil {
		c.T.Fatalf("request: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.T.Fatalf("read response: %v", err)
	}
	out := testenv.Response{Status: res.StatusCode, Raw: string(b)}
	var parsed struct {
		Data   map[string]any  `json:"data"`
		Errors []testenv.Error `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&parsed); err != nil {
		c.T.Fatalf("response is not JSON (status %d): %s", res.StatusCode, b)
	}
	out.Data, out.Errors = parsed.Data, parsed.Errors
	return c.check(out)
}

// doc marshals a GraphQL request body.
func doc(query string, vars map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(err)
	}
	return b
}

// counts is how many rows of each kind the caller's organization sees.
type counts struct {
	Licenses, Entitlements, Instances, Keys int
}

const countsQuery = `{ licenses { totalCount } entitlements { totalCount } instances { totalCount } apiKeys { id } }`

func (c client) Counts(admin string) counts {
	c.T.Helper()
	d := c.MustDo(admin, countsQuery, nil)
	return counts{
		Licenses:     int(testenv.Num(d, "licenses.totalCount")),
		Entitlements: int(testenv.Num(d, "entitlements.totalCount")),
		Instances:    int(testenv.Num(d, "instances.totalCount")),
		Keys:         testenv.Len(d, "apiKeys"),
	}
}

// Fixtures.

const (
	qCreateEntitlement = `mutation($in: CreateEntitlementInput!) {
		createEntitlement(input: $in) { id name slug type description meterType aggregationMethod resetPeriod } }`
	qCreateLicense = `mutation($in: CreateLicenseInput!) {
		createLicense(input: $in) { id name slug type version versionName isActive isDefault description } }`
	qCreateInstance = `mutation($in: CreateInstanceInput!) {
		createInstance(input: $in) { id name slug startsAt expiresAt metadata license { id slug } } }`
	qSetLink = `mutation($in: SetLicenseEntitlementInput!) {
		setLicenseEntitlement(input: $in) { id value overagePercent license { id version } entitlement { id slug type } } }`
)

func (c client) NewEntitlement(key, slug, typ string, extra map[string]any) string {
	c.T.Helper()
	in := map[string]any{"name": strings.ToUpper(slug), "slug": slug, "type": typ}
	for k, v := range extra {
		in[k] = v
	}
	return testenv.Str(c.MustDo(key, qCreateEntitlement, map[string]any{"in": in}), "createEntitlement.id")
}

func (c client) NewLicense(key, slug, typ string, extra map[string]any) string {
	c.T.Helper()
	in := map[string]any{"name": strings.ToUpper(slug), "slug": slug, "type": typ}
	for k, v := range extra {
		in[k] = v
	}
	return testenv.Str(c.MustDo(key, qCreateLicense, map[string]any{"in": in}), "createLicense.id")
}

func (c client) NewInstance(key, slug, licenseID string) string {
	c.T.Helper()
	in := map[string]any{"name": strings.ToUpper(slug), "slug": slug}
	if licenseID != "" {
		in["licenseID"] = licenseID
	}
	return testenv.Str(c.MustDo(key, qCreateInstance, map[string]any{"in": in}), "createInstance.id")
}

func (c client) Link(key, licenseID, entitlementID string, value map[string]any) string {
	c.T.Helper()
	return testenv.Str(c.MustDo(key, qSetLink, map[string]any{"in": map[string]any{
		"licenseID": licenseID, "entitlementID": entitlementID, "value": value}}), "setLicenseEntitlement.id")
}

func num(v float64) map[string]any  { return map[string]any{"type": "number", "value": v} }
func boolean(v bool) map[string]any { return map[string]any{"type": "boolean", "value": v} }
func object(v map[string]any) map[string]any {
	return map[string]any{"type": "object", "value": v}
}

func parseTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("not an RFC 3339 time: %q", s)
	}
	return tm
}

func TestLeakDetectorRecognisesInternalText(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		`ent: license not found`,
		`pq: duplicate key value violates unique constraint "license_slug"`,
		`constraint failed: UNIQUE constraint failed: licenses.slug (2067)`,
		`sql: no rows in result set`,
		`panic: runtime error: index out of range`,
		"goroutine 7 [running]",
		"ent: constraint failed: FOREIGN KEY constraint failed",
		"/work/main/catalog/links.go:42 +0x1f",
	} {
		r := testenv.Response{Errors: []testenv.Error{{Message: msg, Extensions: map[string]any{"code": "INTERNAL"}}}}
		if len(leaks(r)) == 0 {
			t.Errorf("leak detector missed %q", msg)
		}
	}
	clean := testenv.Response{Errors: []testenv.Error{
		{Message: `slug: license with slug "pro" already exists`, Extensions: map[string]any{"code": "CONFLICT", "field": "slug"}},
		{Message: `overagePercent: is only allowed on NUMBER entitlements`, Extensions: map[string]any{"code": "BAD_USER_INPUT", "field": "overagePercent"}},
	}}
	if l := leaks(clean); len(l) != 0 {
		t.Errorf("leak detector flags a domain error: %v", l)
	}
}
