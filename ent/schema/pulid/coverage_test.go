package pulid_test

import (
	"testing"

	"entgo.io/ent/dialect/sql/schema"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/ent/migrate"
	"github.com/entitled/entitled/ent/schema/pulid"
)

// TestEveryEntityHasAPrefix fails when a table of an entity (one with an id
// column; junction tables have none) is missing from the generated prefix
// map, i.e. its type lacks the pulid mixin or ent/pulid.go is stale, and
// when a prefix in the map does not resolve its own IDs.
func TestEveryEntityHasAPrefix(t *testing.T) {
	prefixes := ent.PrefixTables()
	byTable := make(map[string]string, len(prefixes))
	for p, table := range prefixes {
		if other, dup := byTable[table]; dup {
			t.Errorf("table %s has two prefixes: %q and %q", table, other, p)
		}
		byTable[table] = p
		id := pulid.New(p)
		if got, ok := ent.IDToTable(id); !ok || got != table {
			t.Errorf("IDToTable(%q) = %q, %v; want %q", id, got, ok, table)
		}
	}
	entities := 0
	for _, tbl := range migrate.Tables {
		if !hasIDColumn(tbl) || keyedByAnother[tbl.Name] {
			continue
		}
		entities++
		if _, ok := byTable[tbl.Name]; !ok {
			t.Errorf("table %s has no ID prefix: give its ent schema type pulid.MixinWithPrefix(...) and run go generate ./...", tbl.Name)
		}
	}
	if entities == 0 {
		t.Fatal("no entity tables in migrate.Tables: the test proved nothing")
	}
	if len(byTable) != entities {
		t.Errorf("%d prefixes for %d entity tables: %v", len(byTable), entities, prefixes)
	}
	for _, id := range []string{"", "nonsense", "_01JD0000000000000000000000", "zz_01JD0000000000000000000000"} {
		if table, ok := ent.IDToTable(id); ok {
			t.Errorf("IDToTable(%q) = %q, want no table", id, table)
		}
	}
}

// keyedByAnother are the tables whose id is another entity's, not one of
// their own: audit_heads has one row per organization, keyed by its id.
var keyedByAnother = map[string]bool{"audit_heads": true}

func hasIDColumn(tbl *schema.Table) bool {
	for _, c := range tbl.Columns {
		if c.Name == "id" {
			return true
		}
	}
	return false
}
