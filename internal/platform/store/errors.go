package store

import (
	"errors"
	"strings"

	"github.com/entitled/entitled/ent"
	"github.com/entitled/entitled/internal/apperr"
	"github.com/entitled/entitled/internal/tenant"
)

// Translate turns an ent or driver error into a domain error. what names
// the object in user terms ("license"). A transient failure of the
// database (IsUnavailable) is UNAVAILABLE. Unknown errors pass through and
// are reported as INTERNAL by the API without their text.
func Translate(err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	var verr *ent.ValidationError
	switch {
	case ent.IsNotFound(err):
		return &apperr.Error{Code: apperr.NotFound, Message: what + " not found", Err: err}
	case errors.As(err, &verr):
		return &apperr.Error{Code: apperr.BadUserInput, Field: camel(verr.Name), Message: "is not valid", Err: err}
	case IsUniqueViolation(err):
		return &apperr.Error{Code: apperr.Conflict, Message: what + " conflicts with an existing one (a slug or key must be unique)", Err: err}
	case IsForeignKeyViolation(err):
		return &apperr.Error{Code: apperr.Conflict, Message: what + " is still referenced by other objects", Err: err}
	case errors.Is(err, tenant.ErrNoTenant):
		return &apperr.Error{Code: apperr.Forbidden, Message: "no organization for this request", Err: err}
	}
	return unavailable(err)
}

// camel turns ent's snake_case field names into the API's camelCase.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// TranslateSlug is Translate for writes of an object with a slug: a unique
// violation means the slug is taken in this organization.
func TranslateSlug(err error, kind string, slug *string) error {
	if err != nil && slug != nil && IsUniqueViolation(err) {
		return &apperr.Error{Code: apperr.Conflict, Field: "slug", Message: kind + " with slug \"" + *slug + "\" already exists", Err: err}
	}
	return Translate(err, kind)
}
