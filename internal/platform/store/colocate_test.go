package store_test

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"
)

// keyedByOrganization are the tenant tables without an organization_id
// column: their primary key is the organization's id.
var keyedByOrganization = map[string]string{"audit_heads": "id"}

// colocationProblems reads db's catalog (pg_catalog) and lists every
// unique index (primary keys included) and foreign key of a tenant table
// — one with an organization_id column, or keyed by the organization —
// that does not hold the organization, a foreign key between tenant
// tables that does not map organization_id to organization_id, and every
// sequence (a counter shared by all organizations).
func colocationProblems(t *testing.T, db *sql.DB) []string {
	t.Helper()
	var problems []string
	dist := map[string]string{}
	for k, v := range keyedByOrganization {
		dist[k] = v
	}
	rows, err := db.Query(`SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attname = 'organization_id' AND NOT a.attisdropped`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		dist[name] = "organization_id"
	}
	rows.Close()
	if len(dist) < 10 {
		t.Fatalf("only %d tenant tables found: %v", len(dist), dist)
	}

	rows, err = db.Query(`SELECT c.relname, i.relname,
  ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n ORDER BY k.o)
FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
WHERE c.relnamespace = current_schema()::regnamespace AND x.indisunique ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, index string
		var cols pq.StringArray
		if err := rows.Scan(&table, &index, &cols); err != nil {
			t.Fatal(err)
		}
		if col, ok := dist[table]; ok && !slices.Contains(cols, col) {
			problems = append(problems, fmt.Sprintf("unique index %s on %s (%s) lacks %s", index, table, strings.Join(cols, ", "), col))
		}
	}
	rows.Close()

	rows, err = db.Query(`SELECT c.relname, f.conname, r.relname,
  ARRAY(SELECT a.attname FROM unnest(f.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.n ORDER BY k.o),
  ARRAY(SELECT a.attname FROM unnest(f.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.n ORDER BY k.o)
FROM pg_constraint f JOIN pg_class c ON c.oid = f.conrelid JOIN pg_class r ON r.oid = f.confrelid
WHERE f.contype = 'f' AND c.relnamespace = current_schema()::regnamespace ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, name, ref string
		var cols, refCols pq.StringArray
		if err := rows.Scan(&table, &name, &ref, &cols, &refCols); err != nil {
			t.Fatal(err)
		}
		col, tenant := dist[table]
		if !tenant {
			continue
		}
		i := slices.Index(cols, col)
		switch refCol, refTenant := dist[ref]; {
		case i < 0:
			problems = append(problems, fmt.Sprintf("foreign key %s on %s (%s) lacks %s", name, table, strings.Join(cols, ", "), col))
		case refTenant && refCols[i] != refCol:
			problems = append(problems, fmt.Sprintf("foreign key %s on %s maps %s to %s.%s, not to %s.%s", name, table, col, ref, refCols[i], ref, refCol))
		case ref == "organizations" && refCols[i] != "id":
			problems = append(problems, fmt.Sprintf("foreign key %s on %s maps %s to organizations.%s", name, table, col, refCols[i]))
		}
	}
	rows.Close()

	rows, err = db.Query(`SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = current_schema()::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		problems = append(problems, "sequence "+name+" is shared by every organization")
	}
	rows.Close()
	return problems
}

// Every unique index and foreign key of a tenant table holds
// organization_id, as a database distributed by organization (Citus)
// requires to enforce them on one node; foreign keys between tenant
// tables map it to the referenced row's organization, so no row can
// point at another organization's; and there is no sequence, so nothing
// orders rows across organizations. The check reads pg_catalog of a
// database built by the migrations, and catches a scratch index and
// foreign key that break the rule.
func TestTenantKeysHoldTheOrganization(t *testing.T) {
	db := open(t, emptyDB(t, dialect.Postgres))
	if p := colocationProblems(t, db.SQL); len(p) > 0 {
		t.Fatalf("the schema is not ready for distribution by organization:\n  %s", strings.Join(p, "\n  "))
	}
	for _, scratch := range []string{
		`CREATE UNIQUE INDEX scratch_slug ON instances (slug)`,
		`ALTER TABLE usage_counters ADD CONSTRAINT scratch_fk FOREIGN KEY (instance_id) REFERENCES instances (id)`,
		`ALTER TABLE usage_events ADD CONSTRAINT scratch_fk2 FOREIGN KEY (organization_id, entitlement_id) REFERENCES instances (id, organization_id)`,
		`CREATE SEQUENCE scratch_seq`,
	} {
		if strings.Contains(scratch, "REFERENCES instances (id)") {
			// A foreign key needs a unique key on the referenced columns.
			if _, err := db.SQL.Exec(`CREATE UNIQUE INDEX scratch_id ON instances (id)`); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Contains(scratch, "(id, organization_id)") {
			if _, err := db.SQL.Exec(`CREATE UNIQUE INDEX scratch_id_org ON instances (id, organization_id)`); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.SQL.Exec(scratch); err != nil {
			t.Fatalf("%s: %v", scratch, err)
		}
	}
	got := strings.Join(colocationProblems(t, db.SQL), "\n")
	for _, want := range []string{
		"unique index scratch_slug on instances (slug) lacks organization_id",
		"unique index scratch_id on instances (id) lacks organization_id",
		"foreign key scratch_fk on usage_counters (instance_id) lacks organization_id",
		"foreign key scratch_fk2 on usage_events maps organization_id to instances.id",
		"sequence scratch_seq",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the check missed %q; it found:\n%s", want, got)
		}
	}
}
