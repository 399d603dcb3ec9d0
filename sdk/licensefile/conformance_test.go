package licensefile

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
	"go.yaml.in/yaml/v3"

	"github.com/entitled/entitled/policy"
)

// decisionCase is one case of policy/testdata/cases.yaml.
type decisionCase struct {
	Name     string `yaml:"name"`
	Policies []struct {
		Name   string `yaml:"name"`
		Source string `yaml:"source"`
	} `yaml:"policies"`
	SchemaInvalid bool `yaml:"schemaInvalid"`
	Input         any  `yaml:"input"`
	Expected      struct {
		Allowed bool      `yaml:"allowed"`
		Reason  string    `yaml:"reason"`
		Reasons *[]string `yaml:"reasons"`
	} `yaml:"expected"`
}

func loadCases(t *testing.T) []decisionCase {
	t.Helper()
	raw, err := os.ReadFile("../../policy/testdata/cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []decisionCase `yaml:"cases"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("no cases")
	}
	return file.Cases
}

// caseInput is a case's input document as JSON decodes it.
type caseInput struct {
	Now          string `json:"now"`
	Organization *struct {
		ID, Slug string
	} `json:"organization"`
	Instance *struct {
		ID, Slug, Name      string
		Metadata            map[string]any
		StartsAt, ExpiresAt *time.Time
	} `json:"instance"`
	License *struct {
		ID, Slug, Type string
		Version        int
		VersionName    *string
		IsActive       bool
	} `json:"license"`
	Entitlement *struct {
		ID, Slug, Type, MeterType, AggregationMethod, ResetPeriod string
	} `json:"entitlement"`
	Grant   map[string]any `json:"grant"`
	Usage   *policy.Usage  `json:"usage"`
	Request *struct {
		Requested *float64       `json:"requested"`
		Context   map[string]any `json:"context"`
	} `json:"request"`
}

// factsOf turns a case's input document into the facts the server
// gathers, or reports why it cannot be.
func factsOf(doc []byte) (*policy.Facts, string) {
	var in caseInput
	if err := json.Unmarshal(doc, &in); err != nil {
		return nil, "not facts: " + err.Error()
	}
	f := &policy.Facts{}
	now, err := time.Parse(time.RFC3339Nano, in.Now)
	if err != nil {
		return nil, "no valid now"
	}
	f.Now = now
	if o := in.Organization; o != nil {
		f.Org = &policy.Org{ID: o.ID, Slug: o.Slug}
	}
	if i := in.Instance; i != nil {
		f.Instance = &policy.Instance{ID: i.ID, Slug: i.Slug, Name: i.Name, Metadata: i.Metadata, ExpiresAt: i.ExpiresAt}
		if i.StartsAt != nil {
			f.Instance.StartsAt = *i.StartsAt
		}
		f.InstanceSlug = i.Slug
	}
	if l := in.License; l != nil {
		f.License = &policy.License{ID: l.ID, Slug: l.Slug, Type: l.Type, Version: l.Version, IsActive: l.IsActive}
		if l.VersionName != nil {
			f.License.VersionName = *l.VersionName
		}
	}
	f.EntitlementSlug = "not-in-the-file"
	if e := in.Entitlement; e != nil {
		f.Entitlement = &policy.Entitlement{ID: e.ID, Slug: e.Slug, Type: e.Type,
			MeterType: e.MeterType, AggregationMethod: e.AggregationMethod, ResetPeriod: e.ResetPeriod}
		f.EntitlementSlug = e.Slug
	}
	if in.Grant != nil {
		var overage *float64
		if o, ok := in.Grant["overagePercent"].(float64); ok && o != 0 {
			overage = &o
		}
		g, err := policy.NewGrant(map[string]any{"type": in.Grant["type"], "value": in.Grant["value"]}, overage)
		if err != nil {
			return nil, "grant: " + err.Error()
		}
		f.Grant = g
	}
	if in.Usage != nil && (f.Grant == nil || f.Entitlement == nil || f.Entitlement.Type != policy.EntitlementNumber) {
		return nil, "the server gathers usage for granted NUMBER entitlements only"
	}
	f.Usage = in.Usage
	if r := in.Request; r != nil {
		f.Request = &policy.Request{Requested: r.Requested, Context: r.Context}
	}
	return f, ""
}

// normalized is an input document as an AST value with null top-level
// members dropped (absent and null are the same missing fact) and now as
// the instant it names.
func normalized(t *testing.T, doc []byte) ast.Value {
	t.Helper()
	var m map[string]any
	if err := util.UnmarshalJSON(doc, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		if v == nil {
			delete(m, k)
		}
	}
	if s, ok := m["now"].(string); ok {
		if now, err := time.Parse(time.RFC3339Nano, s); err == nil {
			m["now"] = now.UTC().Format(time.RFC3339Nano)
		}
	}
	v, err := ast.InterfaceToValue(m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestConformance runs every case of policy/testdata/cases.yaml that can
// be expressed as facts (the input document is exactly what the server
// builds from some facts) and as a license file (it has an organization
// and an instance) through a license file: the case's facts become a
// dataset, signed with a test key, parsed, verified and decided. The file
// must build the same input document as the server, and give the same
// decision as the server's in-process one (policy.Prepared.Decide over the
// same facts), which is also what the case expects.
func TestConformance(t *testing.T) {
	key := newKey(t, "k1")
	jwks := jwksOf(key)
	ctx := context.Background()
	ran := 0
	reasons := map[string]bool{}
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			if c.SchemaInvalid {
				t.Skip("not an input the server builds (schemaInvalid)")
			}
			doc, err := json.Marshal(c.Input)
			if err != nil {
				t.Fatal(err)
			}
			sf, why := factsOf(doc)
			if sf == nil {
				t.Skip(why)
			}
			rebuilt, err := policy.InputJSON(sf)
			if err != nil {
				t.Fatal(err)
			}
			if normalized(t, rebuilt).Compare(normalized(t, doc)) != 0 {
				t.Skipf("not expressible as facts: the facts build\n%s\nnot\n%s", rebuilt, doc)
			}
			if sf.Org == nil || sf.Instance == nil {
				t.Skip("a license file always has its organization and instance")
			}

			// The server's decision.
			var mods []policy.Module
			var ps *Policies
			opts := []policy.Option{policy.WithEvalTimeout(evalTimeout)}
			if len(c.Policies) > 0 {
				ps = &Policies{Version: 7, Modules: map[string]string{}}
				for _, m := range c.Policies {
					mods = append(mods, policy.Module{Name: m.Name, Source: m.Source})
					ps.Modules[m.Name] = m.Source
				}
				opts = append(opts, policy.WithVersion(7))
			}
			server, err := policy.Compile(mods, opts...)
			if err != nil {
				t.Fatal(err)
			}
			want, err := server.Decide(ctx, sf)
			if err != nil {
				t.Fatal(err)
			}
			if want.Allowed != c.Expected.Allowed || want.Reason != c.Expected.Reason ||
				(c.Expected.Reasons != nil && !slices.Equal(want.Reasons, *c.Expected.Reasons)) {
				t.Fatalf("server: %v %s %q; the case expects %v %s", want.Allowed, want.Reason, want.Reasons, c.Expected.Allowed, c.Expected.Reason)
			}

			// The same facts through a license file.
			facts := Facts{Org: sf.Org, Instance: sf.Instance, License: sf.License, Policies: ps,
				IssuedAt: sf.Now.Add(-time.Hour), ExpiresAt: sf.Now.Add(24 * time.Hour)}
			if sf.Entitlement != nil {
				facts.Entitlements = []Granted{{Entitlement: sf.Entitlement, Grant: sf.Grant, Usage: sf.Usage}}
			}
			ds, err := NewDataset(facts)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := Sign(ds, key.kid, key.priv)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse([]byte(cert))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.VerifyAt(jwks, sf.Now); err != nil {
				t.Fatal(err)
			}
			var requested *float64
			var reqCtx map[string]any
			if sf.Request != nil {
				requested, reqCtx = sf.Request.Requested, sf.Request.Context
			}
			fileFacts := f.state().facts(sf.EntitlementSlug, requested, reqCtx, sf.Now)
			fileInput, err := policy.InputJSON(fileFacts)
			if err != nil {
				t.Fatal(err)
			}
			if normalized(t, fileInput).Compare(normalized(t, rebuilt)) != 0 {
				t.Fatalf("the file builds the input\n%s\nthe server\n%s", fileInput, rebuilt)
			}
			got, err := f.Decide(sf.EntitlementSlug, requested, reqCtx, sf.Now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("file decision\n%+v\nserver decision\n%+v", got, want)
			}
			ran++
			reasons[got.Reason] = true
		})
	}
	t.Logf("%d cases ran through a license file; reasons %v", ran, reasons)
	if ran < 30 {
		t.Errorf("only %d cases ran through a license file", ran)
	}
	for _, r := range policy.Reasons {
		if r != policy.ReasonInstanceNotFound && !reasons[r] {
			t.Errorf("no case through a license file gave %s", r)
		}
	}
}
