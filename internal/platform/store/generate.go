package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
)

// Dialects lists the dialects entitled runs on, each with its directory
// of migrations.
var Dialects = []string{dialect.SQLite, dialect.Postgres}

// GenerateMigrations writes, for each dialect, the migration that brings
// the files of root/<dialect>/ to ent's schema (ent/migrate), named name,
// and updates atlas.sum; it writes nothing for a dialect that is current.
// Working out a migration needs an empty database of its dialect: an
// in-memory SQLite, and a temporary database created (and dropped) on the
// PostgreSQL server at pgURL. It returns the files written.
func GenerateMigrations(ctx context.Context, root, name, pgURL string) ([]string, error) {
	// Both scratch databases first: without PostgreSQL, nothing is written
	// (not SQLite's half of a change).
	devs := map[string]*sql.DB{}
	for _, drv := range Dialects {
		dev, drop, err := DevDatabase(ctx, drv, pgURL)
		if err != nil {
			return nil, err
		}
		defer drop()
		devs[drv] = dev
	}
	var written []string
	for _, drv := range Dialects {
		sub, _ := dialectDir(drv)
		dir, err := migrate.NewLocalDir(filepath.Join(root, sub))
		if err != nil {
			return written, err
		}
		f, err := GenerateMigration(ctx, drv, devs[drv], dir, name, Schema(drv))
		if err != nil {
			return written, fmt.Errorf("%s: %w", sub, err)
		}
		if f != "" {
			written = append(written, filepath.Join(root, sub, f))
		}
	}
	return written, nil
}

// GenerateMigration writes to dir the migration that brings the schema
// its files build to tables, worked out by replaying the files on dev (an
// empty database of the dialect, left empty). It returns the name of the
// file written, "" when dir is current. Dropped columns and indexes are
// dropped: the files build exactly the schema of tables.
func GenerateMigration(ctx context.Context, drv string, dev *sql.DB, dir migrate.Dir, name string, tables []*schema.Table) (string, error) {
	before, err := fileNames(dir)
	if err != nil {
		return "", err
	}
	opts := []schema.MigrateOption{
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithFormatter(migrate.DefaultFormatter),
		schema.WithDropIndex(true),
		schema.WithDropColumn(true),
	}
	if drv == dialect.Postgres {
		opts = append(opts, schema.WithDiffHook(foreignKeysAroundKeys), schema.WithFormatter(fkOrder{migrate.DefaultFormatter}))
	}
	m, err := schema.NewMigrate(entsql.OpenDB(drv, dev), opts...)
	if err != nil {
		return "", err
	}
	if err := m.NamedDiff(ctx, name, tables...); err != nil {
		if errors.Is(err, migrate.ErrChecksumMismatch) {
			return "", fmt.Errorf("%w: a migration file was changed by hand; restore it (add a new migration instead), or, for a file no database has applied yet, run go run ./migrations/gen.go -rehash", err)
		}
		return "", err
	}
	after, err := fileNames(dir)
	if err != nil {
		return "", err
	}
	for _, f := range after {
		if !slices.Contains(before, f) {
			return f, nil
		}
	}
	return "", nil
}

// Rehash rewrites the atlas.sum of each dialect under root from its files.
func Rehash(root string) error {
	for _, drv := range Dialects {
		sub, _ := dialectDir(drv)
		dir, err := migrate.NewLocalDir(filepath.Join(root, sub))
		if err != nil {
			return err
		}
		sum, err := dir.Checksum()
		if err != nil {
			return err
		}
		if err := migrate.WriteSumFile(dir, sum); err != nil {
			return err
		}
	}
	return nil
}

func fileNames(dir migrate.Dir) ([]string, error) {
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name()
	}
	return names, nil
}

// DevDatabase returns an empty database of the dialect to work out
// migrations on, and the function that disposes of it: an in-memory
// SQLite, or a database created on the PostgreSQL server at pgURL (its
// admin URL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable).
func DevDatabase(ctx context.Context, drv, pgURL string) (*sql.DB, func(), error) {
	if drv == dialect.SQLite {
		registerSQLite()
		db, err := sql.Open("sqlite3", "file:entitled_dev?mode=memory&_pragma=foreign_keys(1)")
		if err != nil {
			return nil, nil, err
		}
		// One connection: each would have a database of its own.
		db.SetMaxOpenConns(1)
		return db, func() { db.Close() }, nil
	}
	admin, err := sql.Open("postgres", pgURL)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		return nil, nil, fmt.Errorf("working out PostgreSQL migrations needs a PostgreSQL server to create a scratch database on; none answers at %s (start one, or set ENTITLED_TEST_POSTGRES_URL): %w", Redact(pgURL), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "entitled_dev_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("create scratch database: %w", err)
	}
	drop := func() {
		_, _ = admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		drop()
		return nil, nil, err
	}
	u.Path = "/" + name
	db, err := sql.Open("postgres", u.String())
	if err != nil {
		drop()
		return nil, nil, err
	}
	db.SetMaxOpenConns(2)
	return db, func() { db.Close(); drop() }, nil
}
