package resolvers

import (
	"context"
	"testing"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/schema/pulid"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/platform/store"
	"github.com/entitled/entitled/internal/tenant"
)

func TestNodeTypeResolvesEveryPrefix(t *testing.T) {
	ctx := context.Background()
	for prefix, table := range ent.PrefixTables() {
		id := pulid.New(prefix)
		if got, err := nodeType(ctx, id); err != nil || got != table {
			t.Errorf("nodeType(%q) = %q, %v; want %q", id, got, err, table)
		}
	}
	for _, id := range []string{"", "nonsense", "_x", "zz_01JD0000000000000000000000"} {
		_, err := nodeType(ctx, id)
		if ae, ok := apperr.As(err); !ok || ae.Code != apperr.NotFound || ae.Message != `node "`+id+`" not found` {
			t.Errorf("nodeType(%q) error = %v, want NOT_FOUND", id, err)
		}
	}
}

// A prefix of a type that is no GraphQL node (usage counters) is in the
// generated map, and node() answers NOT_FOUND for it as for an unknown
// prefix or a missing row.
func TestNodeOfAHiddenTypeIsNotFound(t *testing.T) {
	ctx := tenant.SystemContext(context.Background())
	db, err := store.Open(ctx, "sqlite://"+t.TempDir()+"/node.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := (&Resolver{Client: db.Client}).Query()
	for _, id := range []string{pulid.New("uc"), pulid.New("zz"), pulid.New("lic")} {
		_, err := q.Node(ctx, id)
		if ae, ok := apperr.As(err); !ok || ae.Code != apperr.NotFound {
			t.Errorf("node(%q) error = %v, want NOT_FOUND", id, err)
		}
	}
}
