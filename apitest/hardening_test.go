package apitest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/entitled/entitled/internal/testenv"
)

// hangGuard bounds each hostile request: a server that spins on it fails
// the test in seconds instead of stalling the suite.
const hangGuard = 5 * time.Second

// nested returns a query whose deepest field sits depth fields down:
// licenses.edges.node.entitlements.license.entitlements.license...id
func nested(depth int) string {
	path := []string{"licenses", "edges", "node"}
	for len(path) < depth-1 {
		if path[len(path)-1] == "entitlements" {
			path = append(path, "license")
		} else {
			path = append(path, "entitlements")
		}
	}
	return "{ " + strings.Join(path, " { ") + " { id }" + strings.Repeat(" }", len(path))
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		lic := c.NewLicense(key, "pro", "PAID", nil)
		c.Link(key, lic, c.NewEntitlement(key, "sso", "BOOLEAN", nil), boolean(true))

		d := c.MustDo(key, nested(10), nil)
		if testenv.Str(d, "licenses.edges.0.node.entitlements.0.license.entitlements.0.license.entitlements.0.license.id") != lic {
			t.Fatalf("10-deep query: %v", d)
		}
		for _, depth := range []int{20, 40} {
			r := c.PostWithin(hangGuard, key, doc(nested(depth), nil))
			e := c.wantError(r, "BAD_USER_INPUT")
			if r.Data != nil && testenv.Get(r.Data, "licenses") != nil {
				t.Fatalf("%d-deep query returned data: %.300s", depth, r.Raw)
			}
			if !strings.Contains(e.Message, "deep") {
				t.Errorf("%d-deep query: message %q does not say why", depth, e.Message)
			}
		}
	})
}

// fragmentBomb is a small document whose fragments, expanded, select
// 2^levels fields: F(n) spreads F(n-1) twice.
func fragmentBomb(levels int, on, leaf string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query Bomb { ...F%d }\n", levels)
	if on == "Query" {
		fmt.Fprintf(&b, "fragment F0 on Query { %s }\n", leaf)
	} else {
		// Spread inside a field, so every level also merges overlapping fields.
		fmt.Fprintf(&b, "fragment F0 on Query { viewer { %s } }\n", leaf)
	}
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query{...F%d ...F%d}\n", i, i-1, i-1)
	}
	return b.String()
}

func TestAdversarialDocumentsAreRejectedQuickly(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		c.NewLicense(key, "pro", "PAID", nil)
		docs := map[string]string{
			"spreads on Query":         fragmentBomb(32, "Query", "viewer { scopes }"),
			"spreads under a field":    fragmentBomb(32, "Viewer", "scopes operator"),
			"spreads of a connection":  fragmentBomb(30, "Query", "licenses { totalCount }"),
			"aliased spreads on Query": fragmentBomb(30, "Query", "a: viewer { s: scopes } b: viewer { s: scopes }"),
		}
		for name, q := range docs {
			if len(q) > 1400 {
				t.Fatalf("%s: the document is %d bytes; the point is that it is small", name, len(q))
			}
			// Twice: the second time may hit the verdict cache, and must
			// still be a rejection. Once more with variables, which skips it.
			for i, vars := range []map[string]any{nil, nil, {"unused": 1}} {
				r := c.PostWithin(hangGuard, key, doc(q, vars))
				c.wantError(r, "BAD_USER_INPUT")
				if testenv.Get(r.Data, "viewer") != nil || testenv.Get(r.Data, "licenses") != nil {
					t.Fatalf("%s (try %d): executed: %.300s", name, i, r.Raw)
				}
			}
		}
		// A fragment that spreads itself is rejected, not looped on.
		r := c.PostWithin(hangGuard, key, doc(`query { ...A } fragment A on Query { viewer { scopes } ...B } fragment B on Query { ...A }`, nil))
		c.wantError(r, "BAD_USER_INPUT")
		// The server is still responsive afterwards.
		c.MustDo(key, `{ licenses { totalCount } }`, nil)
	})
}

// Not parallel: it counts SQL statements (env.Queries) to prove rejected
// documents never reach the database; on a machine slowed by other tests
// the one-second key cache would expire between requests and add lookups.
func TestAliasAndSizeAbuse(t *testing.T) {
	forEachStoreSerial(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		c.NewLicense(key, "pro", "PAID", nil)
		before := c.Queries.Load()

		aliases := func(n int, sel string) string {
			var b strings.Builder
			b.WriteString("{")
			for i := 0; i < n; i++ {
				fmt.Fprintf(&b, " a%d: %s", i, sel)
			}
			b.WriteString(" }")
			return b.String()
		}
		for name, q := range map[string]string{
			"500 aliased connections":             aliases(500, "licenses { totalCount edges { node { id name } } }"),
			"500 aliased max-size connections":    aliases(500, "licenses(first: 500) { totalCount }"),
			"500 aliased connections, count only": aliases(500, "licenses { totalCount }"),
			"5000 aliased typenames":              aliases(5000, "__typename"),
			"a huge token stream":                 "{ " + strings.Repeat("viewer { scopes } ", 6000) + "}",
		} {
			r := c.PostWithin(hangGuard, key, doc(q, nil))
			c.wantError(r, "BAD_USER_INPUT")
			if testenv.Get(r.Data, "a0") != nil || testenv.Get(r.Data, "viewer") != nil {
				t.Fatalf("%s: executed: %.300s", name, r.Raw)
			}
		}
		// Rejected before touching the database (auth lookups aside).
		if n := c.Queries.Load() - before; n > 5 {
			t.Errorf("rejected documents ran %d SQL statements", n)
		}

		// A modest number of aliases is fine.
		d := c.MustDo(key, aliases(10, "licenses { totalCount }"), nil)
		if testenv.Num(d, "a9.totalCount") != 1 {
			t.Fatalf("10 aliases: %v", d)
		}
	})
}

func TestGETServesQueriesOnly(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		key := c.NewOrg("acme")
		c.NewLicense(key, "pro", "PAID", nil)

		r := c.Get(key, `{ licenses { totalCount edges { node { slug } } } }`, nil)
		if r.Status != http.StatusOK || len(r.Errors) != 0 || testenv.Num(r.Data, "licenses.totalCount") != 1 {
			t.Fatalf("GET query: %d %s", r.Status, r.Raw)
		}
		r = c.Get(key, `query($s: String!) { licenses(where: {slug: $s}) { totalCount } }`, map[string]any{"s": "pro"})
		if r.Status != http.StatusOK || testenv.Num(r.Data, "licenses.totalCount") != 1 {
			t.Fatalf("GET with variables: %d %s", r.Status, r.Raw)
		}

		for _, q := range []string{
			`mutation { createLicense(input: {name: "G", slug: "via-get", type: PAID}) { id } }`,
			`mutation M { createLicense(input: {name: "G", slug: "via-get", type: PAID}) { id } } query Q { viewer { scopes } }`,
		} {
			// Refused, never executed: 405 for a mutation, or (for a
			// document whose operation is ambiguous) a document error,
			// which GraphQL over HTTP answers 200 to application/json.
			r = c.Get(key, q, nil)
			if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" || r.Data != nil {
				t.Fatalf("GET mutation: %d %s", r.Status, r.Raw)
			}
		}
		// Choosing the mutation by operationName is rejected too.
		req, _ := http.NewRequest(http.MethodGet, c.Server.URL+"/graphql?operationName=M&query="+
			url.QueryEscape(`mutation M { createLicense(input: {name: "G", slug: "via-get", type: PAID}) { id } } query Q { viewer { scopes } }`), nil)
		req.Header.Set("Authorization", "Bearer "+key)
		r = c.Send(req)
		if r.Status == http.StatusOK || len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Fatalf("GET mutation by operationName: %d %s", r.Status, r.Raw)
		}
		r = c.Get(key, `{ viewer { scopes } }`, map[string]any{})
		if r.Status != http.StatusOK {
			t.Fatalf("GET viewer: %s", r.Raw)
		}
		if n := c.Counts(key).Licenses; n != 1 {
			t.Fatalf("a GET mutation wrote: %d licenses", n)
		}

		// Other methods are refused with a typed error.
		req, _ = http.NewRequest(http.MethodPut, c.Server.URL+"/graphql", strings.NewReader(string(doc(`{ viewer { scopes } }`, nil))))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		r = c.Send(req)
		if r.Status != http.StatusMethodNotAllowed || len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Fatalf("PUT: %d %s", r.Status, r.Raw)
		}
	})
}
