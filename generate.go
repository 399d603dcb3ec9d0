package main

// One `go generate ./...` regenerates everything, in order: ent (with the
// entgql extension, which also writes graph/ent.graphqls), then gqlgen, then
// the migrations of a schema change (migrations/<dialect>/, with atlas.sum;
// needs the PostgreSQL server of the tests for a scratch database).
//go:generate go run ./ent/entc.go
//go:generate go run github.com/99designs/gqlgen generate --config gqlgen.yml
//go:generate go run ./migrations/gen.go
