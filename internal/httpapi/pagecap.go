package httpapi

import (
	"context"
	"strconv"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Every connection field gets a page size: first: 50 when neither first
// nor last is given, and at most 500. Rewriting the operation (rather than
// each resolver's arguments) makes entgql's eager loading of nested
// connections honour the cap too. Literals are rewritten once, when the
// validated document enters the query cache and before anyone else can see
// it; variables are clamped per request.

// Bounds of the parsed-document cache. A parsed document holds a few
// times its text in memory, so the cache is bounded by the text it holds;
// documents larger than maxCachedDocument are parsed each time.
const (
	maxCachedDocuments = 1000
	maxCachedDocument  = 64 << 10
	maxCachedBytes     = 16 << 20
)

// pageCache is gqlgen's query cache with the literal rewrite on insert,
// bounded in entries and in document bytes.
type pageCache struct {
	mu    sync.Mutex // serialises Add, so bytes and evictions agree
	docs  *lru.Cache[string, *ast.QueryDocument]
	bytes int
}

func newPageCache() *pageCache {
	c := &pageCache{}
	docs, err := lru.NewWithEvict(maxCachedDocuments, func(key string, _ *ast.QueryDocument) { c.bytes -= len(key) })
	if err != nil {
		panic(err) // only for a size <= 0
	}
	c.docs = docs
	return c
}

// Get peeks (a read lock only: every request passes here), so the cache
// drops the oldest documents first.
func (c *pageCache) Get(_ context.Context, key string) (*ast.QueryDocument, bool) {
	return c.docs.Peek(key)
}

// Add rewrites the document's page sizes (every request's document passes
// here once it is validated) and keeps it when it is small enough.
func (c *pageCache) Add(_ context.Context, key string, doc *ast.QueryDocument) {
	walkConnections(doc, func(f *ast.Field) { capLiterals(f) })
	if len(key) > maxCachedDocument {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docs.Contains(key) {
		return
	}
	c.bytes += len(key)
	c.docs.Add(key, doc) // may evict the oldest (entry bound)
	for c.bytes > maxCachedBytes {
		c.docs.RemoveOldest()
	}
}

// Bytes is the document text the cache holds.
func (c *pageCache) Bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
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
