package apitest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// scopePath reaches object types through one path the schema offers and
// says, independently of the server's tables, which scopes get an answer:
// "A" ADMIN, "R" READ, "C" CHECK. The others must get FORBIDDEN.
type scopePath struct {
	name    string
	types   []string // the object types the path reaches
	query   string   // may use $id (a license), $key (another API key), $own (the caller's key), $evt (an audit event)
	allowed string
}

var scopePaths = []scopePath{
	{"viewer", []string{"Viewer", "Organization"}, `{ viewer { scopes organization { slug } } }`, "ARC"},
	{"own key through viewer", []string{"APIKey"}, `{ viewer { apiKey { name prefix scopes } } }`, "ARC"},
	{"own key through node", nil, `query($own: ID!) { node(id: $own) { ... on APIKey { name } } }`, "AR"},
	{"keys at the root", nil, `{ apiKeys { name } }`, "A"},
	{"another key through node", nil, `query($key: ID!) { node(id: $key) { ... on APIKey { name scopes } } }`, "A"},
	{"another key through nodes", nil, `query($key: ID!) { nodes(ids: [$key]) { ... on APIKey { name } } }`, "A"},
	{"another key's id through node", nil, `query($key: ID!) { node(id: $key) { id } }`, "A"},
	{"new key", []string{"CreateAPIKeyPayload"}, `mutation { createAPIKey(input: {name: "k", scopes: [READ]}) { secret apiKey { id } } }`, "A"},
	{"decision", []string{"Decision"}, `{ allowed(instance: "eu-1", entitlement: "sso") { reason value } }`, "AC"},
	{"decisions", nil, `{ decisions(instance: "eu-1", entitlements: ["sso"]) { reason } }`, "AC"},
	{"explanation", []string{"ExplainStep"}, `{ explainDecision(instance: "eu-1", entitlement: "sso") { explanation { rule } } }`, "AC"},
	{"report payload", []string{"ReportUsagePayload", "Usage"}, `mutation { reportUsage(input: {instance: "eu-1", entitlement: "api-calls", value: 1}) { replayed usage { value remaining } } }`, "AC"},
	{"report payload's entitlement", nil, `mutation { reportUsage(input: {instance: "eu-1", entitlement: "api-calls", value: 1}) { usage { entitlement { description } } } }`, "A"},
	{"report payload's grants", nil, `mutation { reportUsage(input: {instance: "eu-1", entitlement: "api-calls", value: 1}) { usage { entitlement { grants { license { instances { edges { node { metadata } } } } } } } } }`, "A"},
	{"batch payload", []string{"ReportUsageBatchPayload"}, `mutation { reportUsageBatch(inputs: [{instance: "eu-1", entitlement: "api-calls", value: 1}]) { results { replayed } } }`, "AC"},
	{"consume", nil, `mutation { consumeUsage(input: {instance: "eu-1", entitlement: "api-calls", amount: 1}) { allowed } }`, "AC"},
	{"usage history", nil, `{ usageHistory(instance: "eu-1", entitlement: "api-calls") { value } }`, "AR"},
	{"licenses", []string{"LicenseConnection", "LicenseEdge", "License", "PageInfo", "LicenseEntitlement"}, `{ licenses { pageInfo { hasNextPage } edges { node { slug entitlements { value } } } } }`, "AR"},
	{"license through node", nil, `query($id: ID!) { node(id: $id) { ... on License { description } } }`, "AR"},
	{"license through nodes", nil, `query($id: ID!) { nodes(ids: [$id]) { ... on License { description } } }`, "AR"},
	{"versions", []string{"LicenseVersionConnection", "LicenseVersionEdge", "LicenseVersion", "LicenseTerm"}, `query($id: ID!) { node(id: $id) { ... on License { versions { edges { node { version terms { entitlementSlug } } } } } } }`, "AR"},
	{"entitlements", []string{"EntitlementConnection", "EntitlementEdge", "Entitlement"}, `{ entitlements { edges { node { slug grants { value } } } } }`, "AR"},
	{"instances", []string{"InstanceConnection", "InstanceEdge", "Instance"}, `{ instances { edges { node { metadata usage { value } } } } }`, "AR"},
	{"policies", []string{"OrgPolicyConnection", "OrgPolicyEdge", "OrgPolicy", "PolicyRevision"}, `{ policies { edges { node { module revisions { version } } } } }`, "AR"},
	{"usage events", []string{"UsageEventConnection", "UsageEventEdge", "UsageEvent"}, `{ usageEvents { edges { node { idempotencyKey } } } }`, "AR"},
	{"threshold events", []string{"ThresholdEventConnection", "ThresholdEventEdge", "ThresholdEvent"}, `{ thresholdEvents { edges { node { kind } } } }`, "AR"},
	{"policy tests", []string{"PolicyTestResult"}, `{ testPolicy(module: "package entitled.custom\n") { name } }`, "A"},
	{"policy problems", []string{"PolicyProblem"}, `{ validatePolicy(module: "package nope\n") { message } }`, "A"},
	{"policy preview", []string{"PolicyPreview", "PolicyChange"}, `{ previewPolicy(module: "package entitled.custom\n\ndeny contains \"x\" if true\n") { changes { instance } } }`, "A"},
	{"audit events", []string{"AuditEventConnection", "AuditEventEdge", "AuditEvent"}, `{ auditEvents { totalCount edges { cursor node { action actorName before after hash } } } }`, "AR"},
	{"audit event through node", nil, `query($evt: ID!) { node(id: $evt) { ... on AuditEvent { after } } }`, "AR"},
	{"audit event through nodes", nil, `query($evt: ID!) { nodes(ids: [$evt]) { ... on AuditEvent { actorName } } }`, "AR"},
	{"audit event's id through node", nil, `query($evt: ID!) { node(id: $evt) { id } }`, "AR"},
	{"audit verification", []string{"AuditChainVerification"}, `{ verifyAuditChain { valid headSeq headHash } }`, "AR"},
	{"webhook endpoints", []string{"WebhookEndpointConnection", "WebhookEndpointEdge", "WebhookEndpoint"}, `{ webhookEndpoints { edges { node { url eventTypes consecutiveFailures } } } }`, "AR"},
	{"webhook endpoint through node", nil, `query($hook: ID!) { node(id: $hook) { ... on WebhookEndpoint { url } } }`, "AR"},
	{"webhook deliveries", []string{"WebhookDeliveryConnection", "WebhookDeliveryEdge", "WebhookDelivery"}, `query($hook: ID!) { webhookDeliveries(endpointID: $hook) { edges { node { status payload endpoint { url } } } } }`, "AR"},
	{"new webhook endpoint", []string{"CreateWebhookEndpointPayload"}, `mutation { createWebhookEndpoint(input: {url: "https://93.184.215.14/in", eventTypes: ["webhook.test"]}) { secret endpoint { id } } }`, "A"},
	{"signing keys", []string{"SigningKey"}, `{ signingKeys { kid publicKey status } }`, "AR"},
	{"instances' license files", []string{"IssuedLicenseFile"}, `{ instances { edges { node { licenseFiles { kid expiresAt } } } } }`, "AR"},
	{"rotated signing key", nil, `mutation { rotateSigningKey { kid } }`, "A"},
	{"rotated webhook secret", nil, `mutation($hook: ID!) { rotateWebhookSecret(id: $hook) { secret } }`, "A"},
	{"node interface", []string{"Node"}, `query($id: ID!) { node(id: $id) { id } }`, "AR"},
	{"new organization", []string{"CreateOrganizationPayload"}, `mutation { createOrganization(input: {name: "N", slug: "n"}) { secret } }`, ""},
}

// Every object type × every scope × the paths that reach it: allowed or
// FORBIDDEN as the table says. A new type without a path fails the test.
func TestScopeMatrix(t *testing.T) {
	t.Parallel()
	forEachStoreWith(t, []testenv.Option{hooks(nil)}, func(t *testing.T, c client) {
		f := newFixture(t, c.Env, "acme")
		c.MustDo(f.key, createPolicyQ, map[string]any{"in": map[string]any{"name": "p", "module": "package entitled.custom\n", "active": true}})
		c.MustDo(f.key, reportQ, map[string]any{"in": map[string]any{"instance": "eu-1", "entitlement": "api-calls", "value": 90}})
		keys := map[byte]string{'A': f.key, 'R': c.NewKey(f.key, "READ"), 'C': c.NewKey(f.key, "CHECK")}
		ids := map[byte]string{}
		for _, k := range testenv.Get(c.MustDo(f.key, `{ apiKeys { id name scopes } }`, nil), "apiKeys").([]any) {
			m := k.(map[string]any)
			ids[map[string]byte{"ADMIN": 'A', "READ": 'R', "CHECK": 'C'}[fmt.Sprint(m["scopes"].([]any)[0])]] = m["id"].(string)
		}
		other := testenv.Str(c.MustDo(f.key, `mutation { createAPIKey(input: {name: "other", scopes: [ADMIN]}) { apiKey { id } } }`, nil), "createAPIKey.apiKey.id")
		evt := testenv.Str(c.MustDo(f.key, `{ auditEvents(first: 1) { edges { node { id } } } }`, nil), "auditEvents.edges.0.node.id")
		// An endpoint with a delivery to read.
		rc := newHookReceiver(t, answerWith(http.StatusOK))
		hook, _ := c.endpoint(f.key, rc.URL, "webhook.test")
		c.MustDo(f.key, qSendTest, map[string]any{"id": hook})

		covered := map[string]bool{}
		for _, p := range scopePaths {
			for _, typ := range p.types {
				covered[typ] = true
			}
			for _, scope := range []byte("ARC") {
				vars := map[string]any{}
				if strings.Contains(p.query, "$id") {
					vars["id"] = f.licID
				}
				if strings.Contains(p.query, "$key") {
					vars["key"] = other
				}
				if strings.Contains(p.query, "$own") {
					vars["own"] = ids[scope]
				}
				if strings.Contains(p.query, "$evt") {
					vars["evt"] = evt
				}
				if strings.Contains(p.query, "$hook") {
					vars["hook"] = hook
				}
				r := c.Do(keys[scope], p.query, vars)
				forbidden := false
				for _, e := range r.Errors {
					if e.Code() == "FORBIDDEN" {
						forbidden = true
					} else {
						t.Errorf("%s as %c: unexpected %s error: %s", p.name, scope, e.Code(), e.Message)
					}
				}
				want := strings.IndexByte(p.allowed, scope) >= 0
				switch {
				case want && forbidden:
					t.Errorf("%s as %c: FORBIDDEN, want an answer: %.300s", p.name, scope, r.Raw)
				case !want && !forbidden:
					t.Errorf("%s as %c: answered, want FORBIDDEN: %.300s", p.name, scope, r.Raw)
				}
			}
		}
		// The operator token creates organizations and reads its payload.
		c.MustDo(testenv.OperatorToken, `mutation { createOrganization(input: {name: "N", slug: "n"}) { secret apiKey { id } organization { slug } } }`, nil)

		// Every object type the schema has is reached by some path above.
		d := c.MustDo(f.key, `{ __schema { types { name kind } } }`, nil)
		for _, x := range testenv.Get(d, "__schema.types").([]any) {
			name, kind := testenv.Str(x, "name"), testenv.Str(x, "kind")
			if (kind != "OBJECT" && kind != "INTERFACE") || strings.HasPrefix(name, "__") || name == "Query" || name == "Mutation" {
				continue
			}
			if !covered[name] {
				t.Errorf("type %s is reached by no path of the scope matrix: add one with its rule", name)
			}
		}
	})
}

// httpScopePaths are the plain HTTP endpoints behind API keys, with the
// scopes that get an answer ("A" ADMIN, "R" READ, "C" CHECK); the others
// must get 403 FORBIDDEN.
var httpScopePaths = []struct{ name, path, allowed string }{
	{"license file", "/v1/license-file?instance=eu-1", "AC"},
	{"SDK snapshot", "/v1/sdk/snapshot?instance=eu-1", "AC"},
	{"SDK stream", "/v1/sdk/stream", "AC"},
}

// The plain HTTP endpoints × every scope: 200 or 403 as the table says.
func TestScopeMatrixHTTP(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, c client) {
		f := newFixture(t, c.Env, "acme")
		keys := map[byte]string{'A': f.key, 'R': c.NewKey(f.key, "READ"), 'C': c.NewKey(f.key, "CHECK")}
		for _, p := range httpScopePaths {
			for _, scope := range []byte("ARC") {
				req, _ := http.NewRequest(http.MethodGet, c.Server.URL+p.path, nil)
				req.Header.Set("Authorization", "Bearer "+keys[scope])
				res, err := c.Server.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close() // a stream stays open: its headers say enough
				want := http.StatusForbidden
				if strings.IndexByte(p.allowed, scope) >= 0 {
					want = http.StatusOK
				}
				if res.StatusCode != want {
					t.Errorf("%s as %c: %d, want %d", p.name, scope, res.StatusCode, want)
				}
			}
		}
	})
}
