// Package migrations holds entitled's versioned schema migrations: one
// directory per dialect (sqlite/, postgres/) of SQL files in Atlas's format,
// each with Atlas's atlas.sum. `go generate ./...` writes them from
// ent/schema (gen.go); the server applies the pending ones at start
// (internal/platform/store). Never edit an applied file: add a migration.
package migrations

import "embed"

// FS holds the directories sqlite/ and postgres/.
//
//go:embed sqlite postgres
var FS embed.FS
