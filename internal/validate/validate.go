// Package validate holds the field checks shared by every service: names,
// slugs, free text and JSON sizes. Each failure is a BAD_USER_INPUT error
// naming the field, raised before anything is written.
package validate

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/entitled/entitled/internal/apperr"
)

// Limits on user-supplied text.
const (
	MaxName        = 200
	MaxSlug        = 64
	MaxDescription = 10000
	MaxJSONBytes   = 64 << 10
)

// SlugPattern is what a slug may look like: lower-case words of letters
// and digits joined by single hyphens. The ent schema enforces the same
// pattern and MaxSlug on every slug column.
var SlugPattern = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// IsSlug reports whether v is a well-formed slug. Lookups by slug call it
// first, so a malformed one costs no query and no cache entry.
func IsSlug(v string) bool { return v != "" && len(v) <= MaxSlug && SlugPattern.MatchString(v) }

// Clean checks that text is valid UTF-8 without NUL characters: what
// every database column and JSON document can hold.
func Clean(field, v string) error {
	if !utf8.ValidString(v) {
		return apperr.Invalid(field, "must be valid UTF-8 text")
	}
	if strings.IndexByte(v, 0) >= 0 {
		return apperr.Invalid(field, "must not contain NUL characters")
	}
	return nil
}

// Name checks a required display name.
func Name(field, v string) error {
	if v == "" {
		return apperr.Invalid(field, "must not be empty")
	}
	if err := Clean(field, v); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(v); n > MaxName {
		return apperr.Invalid(field, "is %d characters; at most %d allowed", n, MaxName)
	}
	return nil
}

// Slug checks an identifier used in URLs and decisions.
func Slug(field, v string) error {
	if v == "" {
		return apperr.Invalid(field, "must not be empty")
	}
	if len(v) > MaxSlug {
		return apperr.Invalid(field, "is %d characters; at most %d allowed", len(v), MaxSlug)
	}
	if !SlugPattern.MatchString(v) {
		return apperr.Invalid(field, "must be lower-case letters and digits in words joined by single hyphens (e.g. %q)", "api-calls")
	}
	return nil
}

// Names checks a name and a slug, each when given (an update leaves nil
// fields as they are).
func Names(name, slug *string) error {
	if name != nil {
		if err := Name("name", *name); err != nil {
			return err
		}
	}
	if slug != nil {
		return Slug("slug", *slug)
	}
	return nil
}

// SameSlug refuses an update that would change a slug: clients script
// against slugs, so one is fixed once created (names can change).
func SameSlug(current string, update *string) error {
	if update != nil && *update != current {
		return apperr.Invalid("slug", "cannot change after creation (it stays %q); change the name instead", current)
	}
	return nil
}

// Time checks an optional instant a client sends: within the years 1970
// to 9999, which every store and every JSON answer can hold.
func Time(field string, t *time.Time) error {
	if t == nil {
		return nil
	}
	if y := t.UTC().Year(); y < 1970 || y > 9999 {
		return apperr.Invalid(field, "must be between 1970 and 9999, got the year %d", y)
	}
	return nil
}

// OptionalText is Text for a field that may be absent (nil).
func OptionalText(field string, v *string, max int) error {
	if v == nil {
		return nil
	}
	return Text(field, *v, max)
}

// Text checks optional free text against a length limit.
func Text(field, v string, max int) error {
	if err := Clean(field, v); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(v); n > max {
		return apperr.Invalid(field, "is %d characters; at most %d allowed", n, max)
	}
	return nil
}

// JSONObject checks that an object is serialisable, finite and small.
func JSONObject(field string, v map[string]any) error {
	if v == nil {
		return nil
	}
	if !finite(v) {
		return apperr.Invalid(field, "must not contain NaN or infinite numbers")
	}
	if !cleanJSON(v) {
		return apperr.Invalid(field, "must hold valid UTF-8 text without NUL characters")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return apperr.Invalid(field, "must be a JSON object")
	}
	if len(b) > MaxJSONBytes {
		return apperr.Invalid(field, "is %d bytes of JSON; at most %d allowed", len(b), MaxJSONBytes)
	}
	return nil
}

func finite(v any) bool {
	switch x := v.(type) {
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case map[string]any:
		for _, e := range x {
			if !finite(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !finite(e) {
				return false
			}
		}
	}
	return true
}

// cleanJSON reports whether every string (and key) in a JSON value is
// Clean.
func cleanJSON(v any) bool {
	ok := func(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }
	switch x := v.(type) {
	case string:
		return ok(x)
	case map[string]any:
		for k, e := range x {
			if !ok(k) || !cleanJSON(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !cleanJSON(e) {
				return false
			}
		}
	}
	return true
}
