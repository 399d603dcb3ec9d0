package schema

import (
	"regexp"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// SlugPattern is what a slug may look like: lower-case words joined by
// single hyphens.
var SlugPattern = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

func slugField() ent.Field {
	return field.String("slug").NotEmpty().MaxLen(64).Match(SlugPattern).
		Annotations(entgql.OrderField("SLUG"))
}

func timeNow() time.Time { return time.Now().UTC() }
