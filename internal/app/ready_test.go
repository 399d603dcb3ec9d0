package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/entitled/entitled/internal/testenv"
)

// Once draining (SIGTERM), /readyz answers 503, so load balancers stop
// sending work while in-flight requests finish.
func TestDrainIsNotReady(t *testing.T) {
	env := testenv.New(t, "sqlite")
	get := func() (int, string) {
		res, err := http.Get(env.Server.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK {
		t.Fatalf("before: %d %s", code, body)
	}
	env.App.Drain()
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Fatalf("draining: %d %s", code, body)
	}
}
