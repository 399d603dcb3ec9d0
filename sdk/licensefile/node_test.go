package licensefile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An independent verifier: Node's built-in crypto (Ed25519 from the JWKS,
// testdata/verify.mjs) verifies a file our Go code signed, and refuses a
// tampered one and another organization's JWKS. Skipped only when node is
// not installed.
func TestNodeVerifies(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	k := newKey(t, "k1")
	cert := issue(t, k, sampleFacts(t, "eu-prod-1"))
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jwks := write("jwks.json", mustJSON(t, jwksOf(newKey(t, "k0"), k)))
	run := func(jwks, license string) (int, string) {
		var out bytes.Buffer
		cmd := exec.Command(node, "testdata/verify.mjs", jwks, license)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}

	code, out := run(jwks, write("good.lic", []byte(cert)))
	if code != 0 || !strings.Contains(out, "verified sub=eu-prod-1 exp=2026-12-28T12:00:00Z") {
		t.Fatalf("node: exit %d: %s", code, out)
	}
	t.Logf("node: %s", strings.TrimSpace(out))

	env := envelopeOf(t, cert)
	js, _ := base64.StdEncoding.DecodeString(env.Enc)
	env.Enc = base64.StdEncoding.EncodeToString(bytes.Replace(js, []byte(`"value":false`), []byte(`"value":true`), 1))
	if code, out := run(jwks, write("tampered.lic", []byte(armorOf(t, env)))); code != 1 || !strings.Contains(out, "signature does not verify") {
		t.Errorf("node, tampered: exit %d: %s", code, out)
	}
	other, _ := json.Marshal(jwksOf(newKey(t, "k2")))
	if code, out := run(write("other.json", other), write("good2.lic", []byte(cert))); code != 1 || !strings.Contains(out, "unknown kid") {
		t.Errorf("node, another organization's JWKS: exit %d: %s", code, out)
	}
}
