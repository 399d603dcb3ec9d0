//go:build ignore

// entc runs ent's code generator with the entgql extension. It is started
// from the repository root by generate.go.
package main

import (
	"fmt"
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("./gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("./graph/ent.graphqls"),
		entgql.WithWhereInputs(true),
		entgql.WithSchemaHook(nonNullLists),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:  "./ent",
		Package: "github.com/entitled/entitled/ent",
		Features: []gen.Feature{
			gen.FeatureIntercept,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureModifier,
			gen.FeatureExecQuery,
			gen.FeatureVersionedMigration,
		},
	}, entc.Extensions(ex), entc.TemplateDir("./ent/schema/pulid/template"))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// nonNullLists makes list edges that always exist non-null ([T!]!): a
// license with no links has an empty list, not a null.
func nonNullLists(_ *gen.Graph, s *ast.Schema) error {
	for typ, field := range map[string]string{"License": "entitlements", "Entitlement": "grants"} {
		def := s.Types[typ]
		if def == nil || def.Fields.ForName(field) == nil {
			return fmt.Errorf("schema hook: %s.%s not found", typ, field)
		}
		def.Fields.ForName(field).Type.NonNull = true
	}
	return nil
}
