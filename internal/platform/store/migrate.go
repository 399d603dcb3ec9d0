package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"

	"github.com/entitled/entitled/migrations"
)

// RevisionTable records the applied migrations, one row per file, in the
// columns of Atlas's own revision table.
const RevisionTable = "atlas_schema_revisions"

// migrationLock is the PostgreSQL advisory lock that replicas take to
// migrate one at a time ("entitled" in ASCII).
const migrationLock = 0x656e7469746c6564

// legacyTable is a table every entitled database has had since the first
// release: a database with it but no revision table was made by the
// auto-migration of a release before versioned migrations.
const legacyTable = "organizations"

// MigrationDir returns the migrations embedded in the binary for a dialect
// (dialect.SQLite or dialect.Postgres), checked against their atlas.sum.
func MigrationDir(drv string) (*migrate.MemDir, error) {
	sub, err := dialectDir(drv)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(migrations.FS, sub)
	if err != nil {
		return nil, fmt.Errorf("migrations/%s: %w", sub, err)
	}
	dir := &migrate.MemDir{}
	for _, e := range entries {
		b, err := fs.ReadFile(migrations.FS, sub+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	if err := migrate.Validate(dir); err != nil {
		return nil, fmt.Errorf("migrations/%s does not match its atlas.sum (run go generate ./...): %w", sub, err)
	}
	return dir, nil
}

func (d *DB) migrationDir() (migrate.Dir, error) {
	if d.migrations != nil {
		return d.migrations, nil
	}
	return MigrationDir(d.Dialect)
}

// dialectDir names the directory of a dialect under migrations/.
func dialectDir(drv string) (string, error) {
	switch drv {
	case dialect.SQLite:
		return "sqlite", nil
	case dialect.Postgres:
		return "postgres", nil
	}
	return "", fmt.Errorf("no migrations for dialect %q", drv)
}

// MigrationStatus is where a database stands against the migrations of
// this binary.
type MigrationStatus struct {
	// Applied lists the migrations recorded in the database, oldest first.
	Applied []AppliedMigration
	// Pending lists the files not applied yet, in order.
	Pending []string
	// Legacy reports a database made by the auto-migration of a release
	// before versioned migrations: the first migration (the baseline,
	// the schema that release made) will be recorded as applied, not run.
	Legacy bool
	// Unknown lists applied versions this binary does not have: a newer
	// release migrated the database.
	Unknown []string
}

// AppliedMigration is one row of the revision table.
type AppliedMigration struct {
	Version     string
	Description string
	// Baseline: recorded as already there, not run.
	Baseline   bool
	ExecutedAt time.Time
	// Operator is the binary that applied it.
	Operator string
}

// Current reports that nothing is pending.
func (s *MigrationStatus) Current() bool { return len(s.Pending) == 0 }

// MigrationStatus compares the database with the binary's migrations. It
// only reads.
func (d *DB) MigrationStatus(ctx context.Context) (*MigrationStatus, error) {
	dir, err := d.migrationDir()
	if err != nil {
		return nil, err
	}
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	revs, err := readRevisions(ctx, d.SQL, d.Dialect)
	if err != nil {
		return nil, err
	}
	st := &MigrationStatus{}
	if len(revs) == 0 && len(files) > 0 {
		legacy, err := tableExists(ctx, d.SQL, d.Dialect, legacyTable)
		if err != nil {
			return nil, err
		}
		if legacy {
			st.Legacy = true
			revs = []*migrate.Revision{{Version: files[0].Version(), Description: files[0].Desc(), Type: migrate.RevisionTypeBaseline}}
		}
	}
	known := map[string]bool{}
	for _, f := range files {
		known[f.Version()] = true
	}
	done := map[string]bool{}
	var baseline string
	for _, r := range revs {
		if r.Type.Has(migrate.RevisionTypeBaseline) {
			baseline = max(baseline, r.Version)
		}
		if r.Applied < r.Total || r.Error != "" {
			continue // partly applied: still pending
		}
		done[r.Version] = true
		if !st.Legacy {
			st.Applied = append(st.Applied, AppliedMigration{Version: r.Version, Description: r.Description,
				Baseline: r.Type.Has(migrate.RevisionTypeBaseline), ExecutedAt: r.ExecutedAt, Operator: r.OperatorVersion})
		}
		if !known[r.Version] {
			st.Unknown = append(st.Unknown, r.Version)
		}
	}
	for _, f := range files {
		if !done[f.Version()] && f.Version() > baseline {
			st.Pending = append(st.Pending, f.Name())
		}
	}
	return st, nil
}

// Migrate applies the pending migrations and returns the files it applied.
// It holds a lock while it works (PostgreSQL: an advisory lock; SQLite:
// each file runs in a BEGIN IMMEDIATE transaction, which takes the file's
// write lock), so processes starting together apply each migration once:
// the others wait, then find nothing pending. Each file is applied in one
// transaction with its revision row, so a failed migration leaves the
// database as it was. A database made by a release before versioned
// migrations gets its baseline recorded as applied, not run.
func (d *DB) Migrate(ctx context.Context, log *slog.Logger) ([]string, error) {
	if log == nil {
		log = slog.Default()
	}
	dir, err := d.migrationDir()
	if err != nil {
		return nil, err
	}
	// A connection of its own, closed at the end: it carries the session
	// lock (PostgreSQL) or foreign_keys=off (SQLite), which must not leak
	// into the pool.
	db, err := sql.Open(driverName(d.Dialect), d.DSN)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	switch d.Dialect {
	case dialect.Postgres:
		var got bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", int64(migrationLock)).Scan(&got); err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		if !got {
			log.Info("another process is migrating the database; waiting for it")
			if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
				return nil, fmt.Errorf("migrate: lock: %w", err)
			}
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLock)) //nolint:errcheck // the session ends right after
	case dialect.SQLite:
		// SQLite rebuilds a changed table (create, copy, drop, rename).
		// With foreign keys on, dropping the old table would cascade to
		// the rows that reference it; off (it cannot change inside a
		// transaction), the references follow the rename, and
		// foreign_key_check proves them whole before commit.
		if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = off"); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	var applied []string
	for {
		name, err := d.migrateOne(ctx, conn, dir, log)
		if err != nil {
			return applied, err
		}
		if name == "" {
			return applied, nil
		}
		applied = append(applied, name)
	}
}

// migrateOne applies the next pending migration in one transaction and
// returns its file name ("" when nothing is pending).
func (d *DB) migrateOne(ctx context.Context, conn *sql.Conn, dir migrate.Dir, log *slog.Logger) (name string, err error) {
	// On SQLite the DSN's _txlock=immediate makes this BEGIN IMMEDIATE:
	// the write lock, held until commit, so what is pending is read and
	// applied by one process at a time.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	rrw, err := newRevisions(ctx, tx, d.Dialect)
	if err != nil {
		return "", err
	}
	revs, err := rrw.ReadRevisions(ctx)
	if err != nil {
		return "", err
	}
	opts := []migrate.ExecutorOption{migrate.WithOperatorVersion(operatorVersion())}
	if len(revs) == 0 {
		files, err := dir.Files()
		if err != nil {
			return "", err
		}
		legacy, err := tableExists(ctx, tx, d.Dialect, legacyTable)
		if err != nil {
			return "", err
		}
		switch {
		case legacy && len(files) > 0:
			if err := checkBaseline(ctx, tx, d.Dialect, files[0]); err != nil {
				return "", err
			}
			log.Info("database made by a release before versioned migrations: recording its schema as the baseline migration",
				"baseline", files[0].Name())
			opts = append(opts, migrate.WithBaselineVersion(files[0].Version()))
		default:
			// Tables of other applications (other schemas of a shared
			// PostgreSQL database) do not stop the first migration; a
			// clash with one of ours fails it, and rolls it back.
			opts = append(opts, migrate.WithAllowDirty(true))
		}
	}
	var drv migrate.Driver
	switch d.Dialect {
	case dialect.Postgres:
		drv, err = postgres.Open(tx)
	default:
		drv, err = sqlite.Open(tx)
	}
	if err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	ex, err := migrate.NewExecutor(drv, dir, rrw, opts...)
	if err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	pending, err := ex.Pending(ctx)
	switch {
	case errors.Is(err, migrate.ErrNoPendingFiles):
		// A baseline revision may have been written.
		if err := tx.Commit(); err != nil {
			return "", fmt.Errorf("migrate: commit: %w", err)
		}
		return "", nil
	case err != nil:
		return "", fmt.Errorf("migrate: %w", err)
	}
	f := pending[0]
	start := time.Now()
	if err := ex.Execute(ctx, f); err != nil {
		return "", fmt.Errorf("migrate: apply %s: %w", f.Name(), err)
	}
	if d.Dialect == dialect.SQLite {
		if err := foreignKeyCheck(ctx, tx); err != nil {
			return "", fmt.Errorf("migrate: apply %s: %w", f.Name(), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("migrate: commit %s: %w", f.Name(), err)
	}
	log.Info("applied migration", "file", f.Name(), "duration", time.Since(start).Round(time.Millisecond).String())
	return f.Name(), nil
}

// foreignKeyCheck fails when a row references one that is not there.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		return fmt.Errorf("it leaves rows of %s referencing missing rows of %s", table, parent)
	}
	return rows.Err()
}

var createTable = regexp.MustCompile("(?i)CREATE TABLE [\"`]?([a-z0-9_]+)")

// checkBaseline makes sure a legacy database has every table the baseline
// creates: one that does not was not made by the release before versioned
// migrations, and recording the baseline would hide the gap.
func checkBaseline(ctx context.Context, q querier, drv string, baseline migrate.File) error {
	var missing []string
	for _, m := range createTable.FindAllStringSubmatch(string(baseline.Bytes()), -1) {
		ok, err := tableExists(ctx, q, drv, m[1])
		if err != nil {
			return err
		}
		if !ok {
			missing = append(missing, m[1])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("migrate: the database has entitled tables but not %s, which the baseline migration %s creates: it was not made by the release before versioned migrations; start that release on it once, then this one",
			strings.Join(missing, ", "), baseline.Name())
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func driverName(drv string) string {
	if drv == dialect.Postgres {
		return "postgres"
	}
	return "sqlite3"
}

func tableExists(ctx context.Context, q querier, drv, table string) (bool, error) {
	query := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if drv == dialect.Postgres {
		query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	}
	rows, err := q.QueryContext(ctx, query, table)
	if err != nil {
		return false, fmt.Errorf("inspect database: %w", err)
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return false, err
		}
	}
	return n > 0, rows.Err()
}

// operatorVersion names the binary in the revisions it writes.
func operatorVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return "entitled " + bi.Main.Version
	}
	return "entitled"
}

// revisions stores Atlas's revisions in RevisionTable, inside the
// migration's transaction.
type revisions struct {
	q      querier
	pg     bool
	schema string
}

func newRevisions(ctx context.Context, tx *sql.Tx, drv string) (*revisions, error) {
	r := &revisions{q: tx, pg: drv == dialect.Postgres, schema: "main"}
	ddl := `CREATE TABLE IF NOT EXISTS ` + RevisionTable + ` (
		version text NOT NULL PRIMARY KEY,
		description text NOT NULL,
		type integer NOT NULL DEFAULT 2,
		applied integer NOT NULL DEFAULT 0,
		total integer NOT NULL DEFAULT 0,
		executed_at text NOT NULL,
		execution_time bigint NOT NULL,
		error text NULL,
		error_stmt text NULL,
		hash text NOT NULL,
		partial_hashes text NULL,
		operator_version text NOT NULL)`
	if r.pg {
		ddl = strings.Replace(ddl, "executed_at text", "executed_at timestamptz", 1)
		if err := tx.QueryRowContext(ctx, "SELECT current_schema()").Scan(&r.schema); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return nil, fmt.Errorf("migrate: create %s: %w", RevisionTable, err)
	}
	return r, nil
}

// Ident implements migrate.RevisionReadWriter.
func (r *revisions) Ident() *migrate.TableIdent {
	return &migrate.TableIdent{Name: RevisionTable, Schema: r.schema}
}

// ReadRevisions implements migrate.RevisionReadWriter.
func (r *revisions) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	return queryRevisions(ctx, r.q, r.pg, "")
}

// ReadRevision implements migrate.RevisionReadWriter.
func (r *revisions) ReadRevision(ctx context.Context, version string) (*migrate.Revision, error) {
	revs, err := queryRevisions(ctx, r.q, r.pg, version)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 {
		return nil, migrate.ErrRevisionNotExist
	}
	return revs[0], nil
}

// WriteRevision implements migrate.RevisionReadWriter.
func (r *revisions) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	var hashes any
	if len(rev.PartialHashes) > 0 {
		b, err := json.Marshal(rev.PartialHashes)
		if err != nil {
			return err
		}
		hashes = string(b)
	}
	var at any = rev.ExecutedAt.UTC().Format(time.RFC3339Nano)
	if r.pg {
		at = rev.ExecutedAt
	}
	_, err := r.q.ExecContext(ctx, rebind(r.pg, `INSERT INTO `+RevisionTable+` (version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (version) DO UPDATE SET description = excluded.description, type = excluded.type, applied = excluded.applied,
		total = excluded.total, executed_at = excluded.executed_at, execution_time = excluded.execution_time, error = excluded.error,
		error_stmt = excluded.error_stmt, hash = excluded.hash, partial_hashes = excluded.partial_hashes, operator_version = excluded.operator_version`),
		rev.Version, rev.Description, int64(rev.Type), rev.Applied, rev.Total, at, int64(rev.ExecutionTime),
		nullString(rev.Error), nullString(rev.ErrorStmt), rev.Hash, hashes, rev.OperatorVersion)
	if err != nil {
		return fmt.Errorf("write %s: %w", RevisionTable, err)
	}
	return nil
}

// DeleteRevision implements migrate.RevisionReadWriter.
func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.q.ExecContext(ctx, rebind(r.pg, `DELETE FROM `+RevisionTable+` WHERE version = ?`), version)
	return err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// readRevisions reads the revision table through the pool; none when it
// does not exist yet.
func readRevisions(ctx context.Context, db *sql.DB, drv string) ([]*migrate.Revision, error) {
	ok, err := tableExists(ctx, db, drv, RevisionTable)
	if err != nil || !ok {
		return nil, err
	}
	return queryRevisions(ctx, db, drv == dialect.Postgres, "")
}

func queryRevisions(ctx context.Context, q querier, pg bool, version string) ([]*migrate.Revision, error) {
	query := `SELECT version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version FROM ` + RevisionTable
	var args []any
	if version != "" {
		query += " WHERE version = ?"
		args = append(args, version)
	}
	rows, err := q.QueryContext(ctx, rebind(pg, query+" ORDER BY version"), args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", RevisionTable, err)
	}
	defer rows.Close()
	var out []*migrate.Revision
	for rows.Next() {
		var (
			rev              migrate.Revision
			typ, dur         int64
			at               any
			errText, errStmt sql.NullString
			hashes           sql.NullString
		)
		if err := rows.Scan(&rev.Version, &rev.Description, &typ, &rev.Applied, &rev.Total, &at, &dur,
			&errText, &errStmt, &rev.Hash, &hashes, &rev.OperatorVersion); err != nil {
			return nil, fmt.Errorf("read %s: %w", RevisionTable, err)
		}
		rev.Type, rev.ExecutionTime = migrate.RevisionType(typ), time.Duration(dur)
		rev.Error, rev.ErrorStmt = errText.String, errStmt.String
		switch v := at.(type) {
		case time.Time:
			rev.ExecutedAt = v
		case string:
			rev.ExecutedAt, _ = time.Parse(time.RFC3339Nano, v)
		case []byte:
			rev.ExecutedAt, _ = time.Parse(time.RFC3339Nano, string(v))
		}
		if hashes.Valid {
			if err := json.Unmarshal([]byte(hashes.String), &rev.PartialHashes); err != nil {
				return nil, fmt.Errorf("read %s: partial_hashes: %w", RevisionTable, err)
			}
		}
		out = append(out, &rev)
	}
	return out, rows.Err()
}

// rebind turns ? placeholders into PostgreSQL's $n.
func rebind(pg bool, q string) string {
	if !pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
