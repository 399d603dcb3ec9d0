package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/lib/pq"

	"github.com/entitled/entitled/internal/app"
	"github.com/entitled/entitled/internal/testenv"
)

// A database made by the release before versioned migrations (the dumps
// of internal/platform/store/testdata) upgrades at start and serves all it
// held: its keys authenticate, its license keeps its version and links,
// its usage ledger and counter, its custom policy decides.
func TestALegacyDatabaseServesItsDataAfterTheUpgrade(t *testing.T) {
	for _, backend := range testenv.Stores {
		t.Run(backend, func(t *testing.T) {
			dump, err := os.ReadFile(filepath.Join("..", "platform", "store", "testdata", "legacy-"+backend+".sql"))
			if err != nil {
				t.Fatal(err)
			}
			keys := regexp.MustCompile(`etk_[a-z0-9]+`).FindAllString(string(dump), 2)
			var dbURL string
			var raw *sql.DB
			if backend == "sqlite" {
				path := filepath.Join(t.TempDir(), "legacy.db")
				dbURL = "sqlite://" + path
				raw, err = sql.Open("sqlite", "file:"+path)
			} else {
				dbURL = emptyPostgres(t)
				raw, err = sql.Open("postgres", dbURL)
			}
			if err != nil {
				t.Fatal(err)
			}
			raw.SetMaxOpenConns(1)
			if _, err := raw.Exec(string(dump)); err != nil {
				t.Fatalf("load dump: %v", err)
			}
			raw.Close()

			a, err := app.New(context.Background(), app.Config{DatabaseURL: dbURL, MaxConns: 4, MasterKey: testenv.TestMasterKey,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatalf("start on the legacy database: %v", err)
			}
			defer a.Close()
			srv := httptest.NewServer(a.Handler)
			defer srv.Close()
			if secret, err := a.Bootstrap(context.Background()); err != nil || secret != "" {
				t.Fatalf("bootstrap on a database with an organization: %q %v", secret, err)
			}
			gql := func(key, q string) string {
				b, _ := json.Marshal(map[string]string{"query": q})
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(string(b)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				out, _ := io.ReadAll(res.Body)
				return string(out)
			}
			got := gql(keys[0], `{ viewer { organization { slug } } licenses { edges { node { slug version entitlements { entitlement { slug } value overagePercent } versions { totalCount } } } }
				instances { edges { node { slug metadata usageEvents { totalCount } } } } policies { edges { node { name active } } } }`)
			for _, want := range []string{`"slug":"acme"`, `"slug":"enterprise","version":3`, `"overagePercent":10`, `"value":{"type":"boolean","value":true}`,
				`"versions":{"totalCount":3}`, `"metadata":{"region":"eu"}`, `"usageEvents":{"totalCount":2}`, `"name":"no-cn","active":true`} {
				if !strings.Contains(got, want) {
					t.Errorf("after the upgrade the API lacks %s:\n%s", want, got)
				}
			}
			if d := gql(keys[1], `{ allowed(instance: "eu-prod-1", entitlement: "sso", context: {country: "CN"}) { allowed reason reasons } }`); !strings.Contains(d, `"reason":"DENIED_BY_POLICY"`) {
				t.Errorf("the legacy CHECK key and custom policy: %s", d)
			}
		})
	}
}

func emptyPostgres(t *testing.T) string {
	t.Helper()
	dbURL, drop, err := testenv.NewDatabase(testenv.PostgresURL(), "entitled_test_")
	if err != nil {
		t.Fatalf("PostgreSQL at %s is needed: %v", testenv.PostgresURL(), err)
	}
	t.Cleanup(drop)
	return dbURL
}
