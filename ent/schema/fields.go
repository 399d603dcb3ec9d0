package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"

	"github.com/entitled/entitled/internal/validate"
)

// slugField is the slug column: the rule is validate's, so the services'
// checks and the schema's cannot drift apart.
func slugField() ent.Field {
	return field.String("slug").NotEmpty().MaxLen(validate.MaxSlug).Match(validate.SlugPattern).
		Annotations(entgql.OrderField("SLUG"))
}

func timeNow() time.Time { return time.Now().UTC() }
