// Package scalars holds the GraphQL scalars whose Go side is ours: Map is
// a JSON object, and says so when it gets something else.
package scalars

import (
	"fmt"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalMap writes a JSON object.
func MarshalMap(v map[string]any) graphql.Marshaler {
	return graphql.MarshalMap(v)
}

// UnmarshalMap reads a JSON object.
func UnmarshalMap(v any) (map[string]any, error) {
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("must be a JSON object, got %s", kind(v))
	}
}

func kind(v any) string {
	switch v.(type) {
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, float64, interface{ Float64() (float64, error) }:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
