package main

// One `go generate ./...` regenerates everything, in order: ent (with the
// entgql extension, which also writes graph/ent.graphqls), then gqlgen.
//go:generate go run ./ent/entc.go
//go:generate go run github.com/99designs/gqlgen generate --config gqlgen.yml
