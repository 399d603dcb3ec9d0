package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzValidate exercises the upload path — Validate, then Compile and one
// evaluation of what validates — with arbitrary module text. It must never
// panic or hang, every error must carry a code and a message, and what
// Validate accepts must compile and evaluate (or hit its deadline).
//
//	go test -run x -fuzz FuzzValidate -fuzztime 60s ./policy/
func FuzzValidate(f *testing.F) {
	for _, src := range []string{
		"",
		"package entitled.custom\n",
		"package entitled.custom\n\ndeny contains \"x\" if input.instance.metadata.region == \"moon\"\n",
		"package entitled.custom.a\n\ngrant contains msg if {\n\tdata.entitled.base.reason == \"LIMIT_EXCEEDED\"\n\tmsg := \"ok\"\n}\n",
		"package entitled\n\nallow := true\n",
		"package entitled.custom\n\ndeny contains x if x := http.send({})\n",
		"package entitled.custom\n\ndeny contains \"x\" if data.system.config\n",
		"package entitled.custom\n\ndeny contains \"x\" if {\n",
		"package entitled.custom\n\nrules[name].deny contains name if some name in [\"a\"]\n",
		"package entitled.custom\n\ndeny contains \"x\" if count([1 | some i in numbers.range(1, 1000000)]) < 0\n",
		"package entitled.custom\n\nimport data.entitled.custom.x as y\n\ndeny contains \"x\" if y.z\n",
		"package entitled.custom\n\n# METADATA\n# title: t\ndeny contains \"x\" if true\n",
		"package entitled.custom\n\ndeny contains \"x\" if { every x in input.xs { x > 1 } }\n",
		"package entitled.custom\n\ntest_x if deny with input as {}\n",
	} {
		f.Add(src)
	}
	for _, c := range loadCases(f) {
		for _, m := range c.Policies {
			f.Add(m.Source)
		}
	}
	examples, _ := filepath.Glob(filepath.Join("examples", "*.rego"))
	for _, path := range examples {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(src))
	}
	input := mustInput(f)
	f.Fuzz(func(t *testing.T, src string) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			m := Module{Name: "fuzz.rego", Source: src}
			errs := Validate(m, nil)
			for _, e := range errs {
				if e.Code == "" || e.Message == "" {
					t.Errorf("incomplete error %+v", e)
				}
			}
			if errs != nil {
				return
			}
			p, err := Compile([]Module{m}, WithEvalTimeout(DefaultEvalTimeout))
			if err != nil {
				t.Errorf("validated but does not compile: %v", err)
				return
			}
			if _, err := p.Eval(context.Background(), input); err != nil && !errors.Is(err, ErrEvalTimeout) {
				// Runtime errors (conflicts, builtin errors) are possible
				// and map to POLICY_ERROR; they must not be panics.
				t.Logf("eval: %v", err)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("upload path hangs on %q", src)
		}
	})
}
