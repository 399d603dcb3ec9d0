//go:build ignore

// gen writes the migrations of a schema change: for each dialect, the SQL
// that brings migrations/<dialect>/ to ent/schema, and atlas.sum. It needs
// a PostgreSQL server to work out PostgreSQL's (a scratch database is
// created and dropped): ENTITLED_TEST_POSTGRES_URL, by default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. generate.go
// runs it after entc, from the repository root:
//
//	go run ./migrations/gen.go [-name add_widgets] [-rehash]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	_ "github.com/lib/pq"

	"github.com/entitled/entitled/internal/platform/store"
)

func main() {
	name := flag.String("name", "changes", "what the new migration does, in its file name")
	rehash := flag.Bool("rehash", false, "rewrite atlas.sum from the files (after editing a migration no database has applied)")
	flag.Parse()
	if *rehash {
		if err := store.Rehash("migrations"); err != nil {
			fmt.Fprintln(os.Stderr, "migrations:", err)
			os.Exit(1)
		}
		return
	}
	pg := os.Getenv("ENTITLED_TEST_POSTGRES_URL")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	files, err := store.GenerateMigrations(ctx, "migrations", *name, pg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "migrations:", err)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Println("wrote", f)
	}
}
