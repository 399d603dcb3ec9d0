package apitest

import (
	"strings"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// Values GraphQL cannot coerce name the field, in the form domain errors
// use, and say what was wrong in user terms.
func TestCoercionErrorsNameTheField(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, "sqlite")
	key := env.NewOrg("acme")
	cases := []struct {
		doc   string
		vars  map[string]any
		field string
		text  string
	}{
		{`mutation($in: CreateLicenseInput!) { createLicense(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": "x", "slug": "x", "type": "paid"}}, "type", "paid"},
		{`mutation($in: SetLicenseEntitlementInput!) { setLicenseEntitlement(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"licenseID": "x", "entitlementID": "y", "value": []any{1, 2}}}, "value", "must be a JSON object, got an array"},
		{`mutation { setLicenseEntitlement(input: {licenseID: "x", entitlementID: "y", value: [1]}) { id } }`,
			nil, "value", "must be a JSON object, got an array"},
		{`mutation($in: CreateInstanceInput!) { createInstance(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": "x", "slug": "x", "metadata": "str"}}, "metadata", "must be a JSON object, got a string"},
	}
	for _, c := range cases {
		e := env.MustFail(key, "BAD_USER_INPUT", c.doc, c.vars)
		if e.Field() != c.field || !strings.Contains(e.Message, c.text) {
			t.Errorf("%s: field %q message %q, want field %q with %q", c.doc, e.Field(), e.Message, c.field, c.text)
		}
	}
	if n := testenv.Num(env.MustDo(key, `{ licenses { totalCount } instances { totalCount } }`, nil), "licenses.totalCount"); n != 0 {
		t.Fatalf("%v licenses written by rejected requests", n)
	}
}
