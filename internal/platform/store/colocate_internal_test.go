package store

import (
	"context"
	"os"
	"strings"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"

	entmigrate "github.com/entitled/entitled/ent/migrate"
)

// Regenerating the migrations over a merge (the co-location's keys and a
// new tenant table of another change, in one file) gives a file that
// applies: the generator is run on the migrations before the co-location
// with ent's tables plus a scratch table referencing licenses, and the
// result is replayed into an empty PostgreSQL database, after which
// nothing is left to generate.
func TestRegeneratedCoLocationApplies(t *testing.T) {
	pg := os.Getenv("ENTITLED_TEST_POSTGRES_URL")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	embedded, err := MigrationDir(dialect.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	files, err := embedded.Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := &migrate.MemDir{}
	for _, f := range files {
		if strings.HasSuffix(f.Name(), "_colocate_by_organization.sql") {
			break // the migrations as they were before it
		}
		if err := dir.WriteFile(f.Name(), f.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if len(files) == 0 || len(mustFiles(t, dir)) == len(files) {
		t.Fatalf("the co-location migration is not among the %d embedded files", len(files))
	}
	sum, err := dir.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.WriteSumFile(dir, sum); err != nil {
		t.Fatal(err)
	}

	tables := scratchTenantTable(entmigrate.Tables)
	gen := func() (string, error) {
		dev, drop, err := DevDatabase(ctx, dialect.Postgres, pg)
		if err != nil {
			t.Fatal(err)
		}
		defer drop()
		return GenerateMigration(ctx, dialect.Postgres, dev, dir, "merged", colocate(tables))
	}
	f, err := gen()
	if err != nil || f == "" {
		t.Fatalf("generating the merged migration: %q %v", f, err)
	}
	body := string(mustFile(t, dir, f))
	drop := strings.Index(body, `DROP CONSTRAINT "instances_licenses_instances"`)
	pkey := strings.Index(body, `DROP CONSTRAINT "licenses_pkey"`)
	create := strings.Index(body, `CREATE TABLE "scratch_things"`)
	if drop < 0 || pkey < 0 || create < 0 || drop > pkey || create < pkey {
		t.Fatalf("foreign keys are not dropped before the keys change, or the new table is created before licenses' key:\n%s", body)
	}
	// Replaying the directory (the new file included) on an empty
	// database runs it; nothing is left to generate after it.
	if again, err := gen(); err != nil || again != "" {
		t.Fatalf("replaying the merged migration: wrote %q, %v\n%s", again, err, body)
	}
}

// scratchTenantTable returns tables with one more tenant table,
// scratch_things, whose rows belong to a license.
func scratchTenantTable(tables []*schema.Table) []*schema.Table {
	var licenses *schema.Table
	for _, t := range tables {
		if t.Name == "licenses" {
			licenses = t
		}
	}
	id := &schema.Column{Name: "id", Type: field.TypeString}
	org := &schema.Column{Name: TenantColumn, Type: field.TypeString}
	lic := &schema.Column{Name: "license_id", Type: field.TypeString}
	things := &schema.Table{Name: "scratch_things", Columns: []*schema.Column{id, org, lic}, PrimaryKey: []*schema.Column{id}}
	things.ForeignKeys = []*schema.ForeignKey{{
		Symbol: "scratch_things_licenses_things", Columns: []*schema.Column{lic},
		RefTable: licenses, RefColumns: []*schema.Column{licenses.PrimaryKey[0]}, OnDelete: schema.Cascade,
	}}
	return append(append([]*schema.Table{}, tables...), things)
}

func mustFiles(t *testing.T, dir migrate.Dir) []migrate.File {
	t.Helper()
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustFile(t *testing.T, dir migrate.Dir, name string) []byte {
	t.Helper()
	for _, f := range mustFiles(t, dir) {
		if f.Name() == name {
			return f.Bytes()
		}
	}
	t.Fatalf("no file %s", name)
	return nil
}
