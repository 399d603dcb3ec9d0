package testenv

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"

	_ "github.com/lib/pq" // the PostgreSQL driver
)

// NewDatabase creates a PostgreSQL database named prefix + a random
// suffix on the server of base, and returns its URL and a func that drops
// it. Tests and the tools under tools/ (crash and fault runs) each get a
// database of their own this way.
func NewDatabase(base, prefix string) (string, func(), error) {
	admin, err := sql.Open("postgres", base)
	if err != nil {
		return "", nil, err
	}
	if err := admin.Ping(); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("connect to PostgreSQL at %s: %w", base, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("database URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	}, nil
}
