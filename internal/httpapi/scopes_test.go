package httpapi

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/entitled/entitled/graph"
)

// A new object type cannot reach callers without a scope rule.
func TestEveryTypeHasAScopeRule(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	for name, def := range schema.Types {
		if def.Kind != ast.Object && def.Kind != ast.Interface {
			continue
		}
		if strings.HasPrefix(name, "__") || name == "Query" || name == "Mutation" {
			continue
		}
		if _, ok := typeScopes[name]; !ok {
			t.Errorf("type %s has no rule in typeScopes", name)
		}
	}
	for name := range typeScopes {
		if schema.Types[name] == nil {
			t.Errorf("typeScopes names %s, which the schema does not have", name)
		}
	}
}
