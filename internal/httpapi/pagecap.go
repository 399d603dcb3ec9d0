package httpapi

import (
	"context"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// Every connection field gets a page size: first: 50 when neither first
// nor last is given, and at most 500. Rewriting the operation (rather than
// each resolver's arguments) makes entgql's eager loading of nested
// connections honour the cap too. Literals are rewritten once, when the
// validated document enters the query cache and before anyone else can see
// it; variables are clamped per request.

// pageCache is gqlgen's query cache with the literal rewrite on insert.
type pageCache struct {
	inner graphql.Cache[*ast.QueryDocument]
}

func (c pageCache) Get(ctx context.Context, key string) (*ast.QueryDocument, bool) {
	return c.inner.Get(ctx, key)
}

func (c pageCache) Add(ctx context.Context, key string, doc *ast.QueryDocument) {
	walkConnections(doc, func(f *ast.Field) { capLiterals(f) })
	c.inner.Add(ctx, key, doc)
}

// capVariables clamps page sizes given through variables, and gives a
// connection whose first/last variables are null the default page size.
func capVariables(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if rc := graphql.GetOperationContext(ctx); rc != nil && rc.Doc != nil {
		walkConnections(rc.Doc, func(f *ast.Field) {
			given := false
			var firstVar string
			for _, name := range []string{"first", "last"} {
				a := f.Arguments.ForName(name)
				if a == nil || a.Value == nil {
					continue
				}
				if a.Value.Kind != ast.Variable {
					given = given || a.Value.Kind != ast.NullValue
					continue
				}
				if name == "first" {
					firstVar = a.Value.Raw
				}
				if rc.Variables[a.Value.Raw] == nil {
					continue
				}
				given = true
				if n, ok := intValue(a.Value, rc.Variables); ok && n > MaxPageSize {
					rc.Variables[a.Value.Raw] = int64(MaxPageSize)
				}
			}
			if !given && firstVar != "" {
				if rc.Variables == nil {
					rc.Variables = map[string]any{}
				}
				rc.Variables[firstVar] = int64(DefaultPageSize)
			}
		})
	}
	return next(ctx)
}

func walkConnections(doc *ast.QueryDocument, fn func(*ast.Field)) {
	var walk func(ss ast.SelectionSet)
	walk = func(ss ast.SelectionSet) {
		for _, sel := range ss {
			switch s := sel.(type) {
			case *ast.Field:
				if s.Definition != nil && isConnection(s.Definition) {
					fn(s)
				}
				walk(s.SelectionSet)
			case *ast.InlineFragment:
				walk(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet)
	}
	for _, fr := range doc.Fragments {
		walk(fr.SelectionSet)
	}
}

func capLiterals(f *ast.Field) {
	given := false
	for _, name := range []string{"first", "last"} {
		a := f.Arguments.ForName(name)
		if a == nil || a.Value == nil || a.Value.Kind == ast.NullValue {
			continue
		}
		given = true
		if a.Value.Kind == ast.IntValue {
			if n, err := strconv.Atoi(a.Value.Raw); err != nil || n > MaxPageSize {
				a.Value.Raw = strconv.Itoa(MaxPageSize)
			}
		}
	}
	if !given {
		f.Arguments = append(f.Arguments, &ast.Argument{
			Name:     "first",
			Value:    &ast.Value{Kind: ast.IntValue, Raw: strconv.Itoa(DefaultPageSize), Definition: nil},
			Position: f.Position,
		})
	}
}
