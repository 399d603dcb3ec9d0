package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/util"
	"go.yaml.in/yaml/v3"
)

type decisionCase struct {
	Name     string   `yaml:"name"`
	Policies []Module `yaml:"policies"`
	// SchemaInvalid marks inputs that deliberately break the input schema
	// (stock inputs the default policy must still refuse safely).
	SchemaInvalid bool `yaml:"schemaInvalid"`
	Input         any  `yaml:"input"`
	Expected      struct {
		Allowed bool      `yaml:"allowed" json:"allowed"`
		Reason  string    `yaml:"reason" json:"reason"`
		Reasons *[]string `yaml:"reasons" json:"reasons,omitempty"`
	} `yaml:"expected"`
}

func (m *Module) UnmarshalYAML(n *yaml.Node) error {
	var v struct{ Name, Source string }
	if err := n.Decode(&v); err != nil {
		return err
	}
	*m = Module{Name: v.Name, Source: v.Source}
	return nil
}

func loadCases(t testing.TB) []decisionCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/cases.yaml")
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

// toValue converts a YAML-decoded document to an AST value through JSON,
// the way an OPA server would receive it.
func toValue(t testing.TB, x any) ast.Value {
	t.Helper()
	bs, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := util.UnmarshalJSON(bs, &doc); err != nil {
		t.Fatal(err)
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCases runs testdata/cases.yaml against the embedded engine (generated
// collector) and against the stock rego/ files (walk collector), which is
// what `opa run --server policy/rego` evaluates.
func TestCases(t *testing.T) {
	ctx := context.Background()
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			input := toValue(t, c.Input)
			for _, variant := range []struct {
				name string
				opts []Option
			}{{"engine", nil}, {"stock", []Option{withGenericCollector()}}} {
				p, err := Compile(c.Policies, variant.opts...)
				if err != nil {
					t.Fatalf("%s: compile: %v", variant.name, err)
				}
				got, err := p.Eval(ctx, input)
				if err != nil {
					t.Fatalf("%s: eval: %v", variant.name, err)
				}
				if got.Allowed != c.Expected.Allowed || got.Reason != c.Expected.Reason {
					t.Errorf("%s: got allowed=%v reason=%s reasons=%q, want allowed=%v reason=%s",
						variant.name, got.Allowed, got.Reason, got.Reasons, c.Expected.Allowed, c.Expected.Reason)
				}
				if c.Expected.Reasons != nil && !slices.Equal(got.Reasons, *c.Expected.Reasons) {
					t.Errorf("%s: reasons = %q, want %q", variant.name, got.Reasons, *c.Expected.Reasons)
				}
			}
		})
	}
}

// TestCasesCoverEveryReason keeps the case file honest.
func TestCasesCoverEveryReason(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range loadCases(t) {
		seen[c.Expected.Reason] = true
	}
	for _, r := range Reasons {
		if !seen[r] {
			t.Errorf("no case expects reason %s", r)
		}
	}
}

// TestCasesJSON writes the inputs as JSON lines when ENTITLED_DUMP_CASES is
// set, to replay them against a stock `opa run --server policy/rego`.
func TestCasesJSON(t *testing.T) {
	out := os.Getenv("ENTITLED_DUMP_CASES")
	if out == "" {
		t.Skip("set ENTITLED_DUMP_CASES=file to dump")
	}
	var buf bytes.Buffer
	for _, c := range loadCases(t) {
		if len(c.Policies) > 0 {
			continue
		}
		line, err := json.Marshal(map[string]any{"name": c.Name, "input": c.Input, "expected": c.Expected})
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFastPathAgreesWithRuleChain checks, on every case, that the fast path
// of default.rego (base) gives what the ordered rule chain (checked) gives.
func TestFastPathAgreesWithRuleChain(t *testing.T) {
	ctx := context.Background()
	opts := []func(*rego.Rego){rego.Query("base := data.entitled.base; checked := data.entitled.checked")}
	for _, m := range DefaultModules() {
		opts = append(opts, rego.Module(m.Name, m.Source))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range loadCases(t) {
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(toValue(t, c.Input)))
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s: %v %v", c.Name, err, rs)
		}
		if b, ch := rs[0].Bindings["base"], rs[0].Bindings["checked"]; !reflect.DeepEqual(b, ch) {
			t.Errorf("%s: base %v, checked %v", c.Name, b, ch)
		}
	}
}
