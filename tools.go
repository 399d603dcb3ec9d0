//go:build tools

// Package main pins the code generators that go generate runs, so their
// versions come from go.mod.
package main

import (
	_ "entgo.io/contrib/entgql"
	_ "entgo.io/ent/cmd/ent"
	_ "github.com/99designs/gqlgen"
)
