package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	atlas "ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/schema/field"
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite" // the driver "sqlite", to load fixtures

	entmigrate "github.com/entitled/entitled/ent/migrate"
	"github.com/entitled/entitled/internal/platform/store"
)

// These tests are the migrations' self-check (CI runs them): the files of
// migrations/ build exactly ent's schema on both dialects; a schema change
// without its migration is caught; databases made by the release before
// versioned migrations, and databases that replicas migrate together,
// come out whole.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func pgAdminURL() string {
	if u := os.Getenv("ENTITLED_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// emptyDB returns the URL of a new empty database of the dialect.
func emptyDB(t *testing.T, drv string) string {
	t.Helper()
	if drv == dialect.SQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "entitled.db")
	}
	admin, err := sql.Open("postgres", pgAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "entitled_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("PostgreSQL at %s is needed (or set ENTITLED_TEST_POSTGRES_URL): %v", pgAdminURL(), err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("postgres", pgAdminURL())
		if err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			a.Close()
		}
	})
	u, _ := url.Parse(pgAdminURL())
	u.Path = "/" + name
	return u.String()
}

// rawDB opens a database URL of emptyDB without the store.
func rawDB(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if path, ok := strings.CutPrefix(dbURL, "sqlite://"); ok {
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	} else {
		db, err = sql.Open("postgres", dbURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t *testing.T, dbURL string, opts ...store.Option) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dbURL, append([]store.Option{store.WithLogger(quiet), store.MaxConns(3)}, opts...)...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func forEachDialect(t *testing.T, fn func(t *testing.T, drv string)) {
	for _, drv := range store.Dialects {
		t.Run(drv, func(t *testing.T) {
			t.Parallel()
			fn(t, drv)
		})
	}
}

// inspect is the schema of db as Atlas sees it, without the revision table.
func inspect(t *testing.T, drv string, db *sql.DB) (*atlas.Schema, migrate.Driver) {
	t.Helper()
	var ad migrate.Driver
	var err error
	if drv == dialect.Postgres {
		ad, err = postgres.Open(db)
	} else {
		ad, err = sqlite.Open(db)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ad.InspectSchema(context.Background(), "", &atlas.InspectOptions{Exclude: []string{store.RevisionTable}})
	if err != nil {
		t.Fatal(err)
	}
	return s, ad
}

// schemaDiff is Atlas's diff between two databases' schemas, as SQL.
func schemaDiff(t *testing.T, drv string, from, to *sql.DB) string {
	t.Helper()
	a, ad := inspect(t, drv, from)
	b, _ := inspect(t, drv, to)
	b.Name, b.Attrs = a.Name, a.Attrs
	changes, err := ad.SchemaDiff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 {
		return ""
	}
	plan, err := ad.PlanChanges(context.Background(), "diff", changes)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range plan.Changes {
		out = append(out, c.Cmd)
	}
	return strings.Join(out, ";\n")
}

// entDiff is what ent's auto-migration would still do to db for tables:
// the statements, none when the database has ent's schema.
func entDiff(t *testing.T, drv string, db *sql.DB, tables []*schema.Table) string {
	t.Helper()
	var buf bytes.Buffer
	s := entmigrate.NewSchema(&schema.WriteDriver{Writer: &buf, Driver: entsql.OpenDB(drv, db)})
	if err := entmigrate.Create(context.Background(), s, tables, schema.WithDropIndex(true), schema.WithDropColumn(true)); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(buf.String())
}

// autoMigrated is the schema ent's auto-migration (with WithDropIndex,
// as releases before versioned migrations made theirs) makes of the
// dialect's schema (store.Schema).
func autoMigrated(t *testing.T, drv string) *sql.DB {
	t.Helper()
	db := rawDB(t, emptyDB(t, drv))
	if err := entmigrate.Create(context.Background(), entmigrate.NewSchema(entsql.OpenDB(drv, db)), store.Schema(drv), schema.WithDropIndex(true)); err != nil {
		t.Fatal(err)
	}
	return db
}

// The migrations replayed into an empty database build exactly ent's
// schema: ent has nothing left to change, and Atlas sees no difference
// with the schema ent's auto-migration makes.
func TestMigrationsBuildTheEntSchema(t *testing.T) {
	forEachDialect(t, func(t *testing.T, drv string) {
		dbURL := emptyDB(t, drv)
		db := open(t, dbURL)
		st, err := db.MigrationStatus(context.Background())
		if err != nil || !st.Current() || st.Legacy || len(st.Applied) == 0 || st.Applied[0].Baseline {
			t.Fatalf("status after Open: %+v %v", st, err)
		}
		if d := entDiff(t, drv, db.SQL, store.Schema(drv)); d != "" {
			t.Fatalf("migrations/ is behind ent/schema: run go generate ./...; ent would still run:\n%s", d)
		}
		if d := schemaDiff(t, drv, db.SQL, autoMigrated(t, drv)); d != "" {
			t.Fatalf("the replayed migrations differ from ent's schema:\n%s", d)
		}
		again, err := db.Migrate(context.Background(), quiet)
		if err != nil || len(again) != 0 {
			t.Fatalf("second Migrate applied %v, %v", again, err)
		}
	})
}

// scratchTables is ent's schema with a change nobody generated a
// migration for: a new column on organizations, and licenses.description
// made nullable (on SQLite a change that rebuilds the table, which other
// tables reference with ON DELETE CASCADE and RESTRICT).
func scratchTables(drv string) []*schema.Table {
	tables := store.Schema(drv)
	out := make([]*schema.Table, len(tables))
	for i, t := range tables {
		out[i] = t
		switch t.Name {
		case "organizations":
			c := *t
			c.Columns = append(append([]*schema.Column{}, t.Columns...),
				&schema.Column{Name: "scratch_note", Type: field.TypeString, Nullable: true})
			out[i] = &c
		case "licenses":
			c := *t
			c.Columns = make([]*schema.Column, len(t.Columns))
			for j, col := range t.Columns {
				cc := *col
				if cc.Name == "description" {
					cc.Nullable = true
				}
				c.Columns[j] = &cc
			}
			out[i] = &c
		}
	}
	return out
}

// embedded copies the binary's migrations of a dialect.
func embedded(t *testing.T, drv string) *migrate.MemDir {
	t.Helper()
	dir, err := store.MigrationDir(drv)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// A schema change without its migration is caught twice: the self-check
// sees the difference, and the generator writes a new file, which CI's
// "go generate changes nothing" step reports. The generated migration then
// upgrades a database with rows, which keep.
func TestAScratchSchemaChangeIsCaught(t *testing.T) {
	forEachDialect(t, func(t *testing.T, drv string) {
		ctx := context.Background()
		db := open(t, emptyDB(t, drv))
		if d := entDiff(t, drv, db.SQL, scratchTables(drv)); !strings.Contains(d, "scratch_note") {
			t.Fatalf("the self-check missed the scratch change; diff: %q", d)
		}

		dir := embedded(t, drv)
		dev, drop, err := store.DevDatabase(ctx, drv, pgAdminURL())
		if err != nil {
			t.Fatal(err)
		}
		defer drop()
		if f, err := store.GenerateMigration(ctx, drv, dev, dir, "changes", store.Schema(drv)); err != nil || f != "" {
			t.Fatalf("migrations/ is not current: go generate would write %q (%v); run it and commit the file", f, err)
		}
		f, err := store.GenerateMigration(ctx, drv, dev, dir, "scratch", scratchTables(drv))
		if err != nil || f == "" {
			t.Fatalf("generating the scratch migration: %q %v", f, err)
		}
		body, _ := fs(dir, f)
		t.Logf("go generate would write %s:\n%s", f, body)

		// The database made by the release before versioned migrations,
		// with rows, upgraded through baseline and the scratch migration.
		legacy := emptyDB(t, drv)
		loadFixture(t, drv, legacy)
		up := open(t, legacy, store.WithMigrationDir(dir))
		st, err := up.MigrationStatus(ctx)
		files, _ := dir.Files()
		if err != nil || !st.Current() || len(st.Applied) != len(files) || !st.Applied[0].Baseline {
			t.Fatalf("status: %+v %v (want the %d files applied)", st, err, len(files))
		}
		if d := entDiff(t, drv, up.SQL, scratchTables(drv)); d != "" {
			t.Fatalf("after the scratch migration ent would still run:\n%s", d)
		}
		checkFixtureRows(t, up.SQL)
	})
}

func fs(dir migrate.Dir, name string) (string, error) {
	files, err := dir.Files()
	for _, f := range files {
		if f.Name() == name {
			return string(f.Bytes()), nil
		}
	}
	return "", err
}

// fixtureRows are the rows of testdata/legacy-*.sql, per table.
var fixtureRows = map[string]int{
	"organizations": 1, "api_keys": 2, "entitlements": 2, "licenses": 1, "license_entitlements": 2,
	"license_versions": 3, "instances": 1, "usage_counters": 1, "usage_events": 2, "org_policies": 1,
	"policy_revisions": 1, "threshold_events": 0,
}

// loadFixture fills an empty database with the dump of a database made by
// the release before versioned migrations.
func loadFixture(t *testing.T, drv, dbURL string) {
	t.Helper()
	name := map[string]string{dialect.SQLite: "legacy-sqlite.sql", dialect.Postgres: "legacy-postgres.sql"}[drv]
	dump, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	// A connection of its own: the PostgreSQL dump empties search_path.
	db := rawDB(t, dbURL)
	if _, err := db.Exec(string(dump)); err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	db.Close()
}

func checkFixtureRows(t *testing.T, db *sql.DB) {
	t.Helper()
	for table, want := range fixtureRows {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d rows (%v), want %d", table, n, err, want)
		}
	}
	var version int
	var desc string
	if err := db.QueryRow("SELECT version, description FROM licenses WHERE slug = 'enterprise'").Scan(&version, &desc); err != nil || version != 3 {
		t.Errorf("license enterprise: version %d (%v)", version, err)
	}
}

// A database made by the release before versioned migrations is
// recognised: its schema is exactly the baseline migration's (the
// baseline was generated from the schema that release's auto-migration
// made), so the baseline is recorded, not run, and every row stays.
func TestLegacyDatabaseIsRecognisedAsTheBaseline(t *testing.T) {
	forEachDialect(t, func(t *testing.T, drv string) {
		ctx := context.Background()
		dbURL := emptyDB(t, drv)
		loadFixture(t, drv, dbURL)
		baseline := baselineDir(t, drv)
		fresh := open(t, emptyDB(t, drv), store.WithMigrationDir(baseline))
		if d := schemaDiff(t, drv, rawDB(t, dbURL), fresh.SQL); d != "" {
			t.Fatalf("the legacy schema differs from the baseline's:\n%s", d)
		}

		asIs := open(t, dbURL, store.SkipMigrations(), store.WithMigrationDir(baseline))
		st, err := asIs.MigrationStatus(ctx)
		if err != nil || !st.Legacy || !st.Current() {
			t.Fatalf("status of the legacy database: %+v %v", st, err)
		}
		applied, err := asIs.Migrate(ctx, quiet)
		if err != nil || len(applied) != 0 {
			t.Fatalf("Migrate ran %v (%v); the baseline must be recorded, not run", applied, err)
		}
		if st, err = asIs.MigrationStatus(ctx); err != nil || st.Legacy || len(st.Applied) != 1 || !st.Applied[0].Baseline || !st.Current() {
			t.Fatalf("status after Migrate: %+v %v", st, err)
		}
		checkFixtureRows(t, asIs.SQL)

		// The migrations after the baseline then bring it forward.
		all := open(t, dbURL, store.SkipMigrations())
		applied, err = all.Migrate(ctx, quiet)
		files, _ := embedded(t, drv).Files()
		if err != nil || len(applied) != len(files)-1 {
			t.Fatalf("Migrate after the baseline ran %v (%v), want the %d later files", applied, err, len(files)-1)
		}
		checkFixtureRows(t, all.SQL)
	})
}

// baselineDir holds only the first (baseline) migration of a dialect.
func baselineDir(t *testing.T, drv string) *migrate.MemDir {
	t.Helper()
	files, err := embedded(t, drv).Files()
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %d files (%v)", len(files), err)
	}
	dir := &migrate.MemDir{}
	if err := dir.WriteFile(files[0].Name(), files[0].Bytes()); err != nil {
		t.Fatal(err)
	}
	sum, err := dir.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.WriteSumFile(dir, sum); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A database with entitled's tables but not all the baseline's was not
// made by the release before versioned migrations: it is refused, not
// papered over.
func TestAnIncompleteLegacyDatabaseIsRefused(t *testing.T) {
	dbURL := emptyDB(t, dialect.SQLite)
	loadFixture(t, dialect.SQLite, dbURL)
	if _, err := rawDB(t, dbURL).Exec("DROP TABLE threshold_events"); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(context.Background(), dbURL, store.WithLogger(quiet))
	if err == nil || !strings.Contains(err.Error(), "threshold_events") {
		t.Fatalf("Open = %v, want a refusal naming threshold_events", err)
	}
}

// Processes starting together on one empty database apply each migration
// once: they take turns (advisory lock; SQLite's write lock), and the
// later ones find nothing pending.
func TestConcurrentMigrationsApplyEachFileOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, drv string) {
		ctx := context.Background()
		dbURL := emptyDB(t, drv)
		const n = 4
		dbs := make([]*store.DB, n)
		for i := range dbs {
			dbs[i] = open(t, dbURL, store.SkipMigrations())
		}
		var wg sync.WaitGroup
		applied := make([][]string, n)
		errs := make([]error, n)
		for i := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				applied[i], errs[i] = dbs[i].Migrate(ctx, quiet)
			}()
		}
		wg.Wait()
		total := 0
		for i := range dbs {
			if errs[i] != nil {
				t.Fatalf("migrator %d: %v", i, errs[i])
			}
			total += len(applied[i])
		}
		files, _ := embedded(t, drv).Files()
		if total != len(files) {
			t.Fatalf("applied %d files in all (%v), want each of %d once", total, applied, len(files))
		}
		var rows, distinct int
		if err := dbs[0].SQL.QueryRow("SELECT count(*), count(DISTINCT version) FROM "+store.RevisionTable).Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		if rows != len(files) || distinct != len(files) {
			t.Fatalf("revision table: %d rows, %d versions; want %d", rows, distinct, len(files))
		}
	})
}

// A migration that fails leaves the database as it was, with no revision.
func TestAFailedMigrationChangesNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, drv string) {
		ctx := context.Background()
		dbURL := emptyDB(t, drv)
		open(t, dbURL).Close()
		dir := embedded(t, drv)
		if err := dir.WriteFile("29990101000000_broken.sql", []byte("CREATE TABLE scratch_one (id integer);\nTHIS IS NOT SQL;\n")); err != nil {
			t.Fatal(err)
		}
		sum, _ := dir.Checksum()
		if err := migrate.WriteSumFile(dir, sum); err != nil {
			t.Fatal(err)
		}
		db := open(t, dbURL, store.SkipMigrations(), store.WithMigrationDir(dir))
		if _, err := db.Migrate(ctx, quiet); err == nil || !strings.Contains(err.Error(), "29990101000000_broken.sql") {
			t.Fatalf("Migrate = %v, want the broken file's error", err)
		}
		st, err := db.MigrationStatus(ctx)
		if err != nil || len(st.Pending) != 1 {
			t.Fatalf("status: %+v %v", st, err)
		}
		if d := entDiff(t, drv, db.SQL, store.Schema(drv)); d != "" {
			t.Fatalf("schema changed: %s", d)
		}
		var n int
		q := "SELECT count(*) FROM sqlite_master WHERE name = 'scratch_one'"
		if drv == dialect.Postgres {
			q = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'scratch_one'"
		}
		if err := db.SQL.QueryRow(q).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the failed file's first statement stayed (%d, %v)", n, err)
		}
	})
}

// The files on disk are the embedded ones, named as Atlas names them.
func TestMigrationFilesAreAtlasFormatted(t *testing.T) {
	name := regexp.MustCompile(`^\d{14}_[a-z0-9_]+\.sql$`)
	for _, drv := range store.Dialects {
		files, err := embedded(t, drv).Files()
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v", drv, err)
		}
		for _, f := range files {
			if !name.MatchString(f.Name()) {
				t.Errorf("%s: %s is not VERSION_NAME.sql", drv, f.Name())
			}
		}
	}
}

// go generate on current migrations writes nothing, and rehashing them
// leaves atlas.sum as it is: generating twice changes no file.
func TestGenerateMigrationsWritesNothingWhenCurrent(t *testing.T) {
	root := t.TempDir()
	for _, sub := range []string{"sqlite", "postgres"} {
		from := filepath.Join("..", "..", "..", "migrations", sub)
		entries, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(from, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, sub, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	written, err := store.GenerateMigrations(context.Background(), root, "changes", pgAdminURL())
	if err != nil || len(written) != 0 {
		t.Fatalf("GenerateMigrations wrote %v (%v): migrations/ is not current; run go generate ./...", written, err)
	}
	before, _ := os.ReadFile(filepath.Join(root, "sqlite", "atlas.sum"))
	if err := store.Rehash(root); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(root, "sqlite", "atlas.sum"))
	if !bytes.Equal(before, after) {
		t.Fatalf("rehash changed atlas.sum:\n%s\n%s", before, after)
	}
}

// A database a newer release migrated further opens (a rolling upgrade
// runs old and new binaries side by side); status names what this binary
// does not know.
func TestADatabaseMigratedByANewerReleaseOpens(t *testing.T) {
	dbURL := emptyDB(t, dialect.SQLite)
	db := open(t, dbURL)
	if _, err := db.SQL.Exec("INSERT INTO " + store.RevisionTable + ` (version, description, type, applied, total, executed_at, execution_time, hash, operator_version)
		VALUES ('29990101000000', 'future', 2, 1, 1, '2999-01-01T00:00:00Z', 1, 'h', 'entitled v9')`); err != nil {
		t.Fatal(err)
	}
	again := open(t, dbURL)
	st, err := again.MigrationStatus(context.Background())
	if err != nil || !st.Current() || len(st.Unknown) != 1 || st.Unknown[0] != "29990101000000" {
		t.Fatalf("status: %+v %v", st, err)
	}
}
