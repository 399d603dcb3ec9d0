package apitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// The verifiers docs/audit.md gives (Go and Node) accept a live server's
// trail, awkward values included, and refuse it once an event is edited.
func TestAuditDocVerifiers(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)```(go|js)\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		if _, ok := blocks[m[1]]; !ok {
			blocks[m[1]] = m[2]
		}
	}
	if blocks["go"] == "" || blocks["js"] == "" {
		t.Fatalf("docs/audit.md lacks its Go or Node verifier: %v", blocks)
	}
	dir := t.TempDir()
	goFile, jsFile := filepath.Join(dir, "verify.go"), filepath.Join(dir, "verify.mjs")
	for f, src := range map[string]string{goFile: blocks["go"], jsFile: blocks["js"]} {
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := testenv.New(t, "sqlite")
	c := client{env, t}
	key := c.NewOrg("acme")
	licID := testenv.Str(c.MustDo(key, createLicense, map[string]any{"in": map[string]any{"name": "Gold <&> \u2028", "slug": "gold", "type": "PAID"}}), "createLicense.id")
	c.MustDo(key, `mutation($l: ID!, $m: Map) { createInstance(input: {name: "EU", slug: "eu-1", licenseID: $l, metadata: $m}) { id } }`, map[string]any{"l": licID, "m": map[string]any{
		"ünï€": "tab\there \"quoted\" \\ \u0001 \u007f 😀", "big": 1e21, "small": 1e-7, "tenth": 0.1, "huge": 12345678901234567890.0, "neg": -2.5,
		"z": []any{true, false, nil, map[string]any{"b": 1, "a": 2, "\ufb33": 3, "😀": 4}},
	}})
	for i := range 3 {
		c.MustDo(key, `mutation($id: ID!, $n: String) { updateLicense(id: $id, input: {description: $n}) { id } }`, map[string]any{"id": licID, "n": strings.Repeat("x", i+1)})
	}
	run := func(name string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ENTITLED_URL="+env.Server.URL, "ENTITLED_KEY="+key)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	verifiers := [][]string{{"go", "run", goFile}}
	if _, err := exec.LookPath("node"); err == nil {
		verifiers = append(verifiers, []string{"node", jsFile})
	} else {
		t.Log("node is not installed: the Node verifier is not run")
	}
	head := testenv.Str(c.verifyChain(key), "headHash")
	for _, v := range verifiers {
		out, err := run(v[0], v[1:]...)
		if err != nil || !strings.Contains(out, "valid: 6 events, head "+head) {
			t.Fatalf("%s on a sound chain: %v\n%s", v[0], err, out)
		}
	}
	sqlExec(t, env, `UPDATE audit_events SET resource_slug = 'silver' WHERE organization_id = $1 AND seq = 2`, orgID(c, key))
	for _, v := range verifiers {
		out, err := run(v[0], v[1:]...)
		if err == nil || !strings.Contains(out, "invalid: seq 2") {
			t.Fatalf("%s on an edited chain: %v\n%s", v[0], err, out)
		}
	}
}
