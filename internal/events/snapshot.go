package events

import (
	"reflect"
	"strings"
	"time"

	"github.com/entitled/entitled/ent/schema/pulid"
)

// NewID is a new event id (also the webhook-id of its deliveries).
func NewID() string { return pulid.New("evt") }

// Snapshot is the before or after of an ent entity: its fields under
// their GraphQL names (created_at as createdAt, license_id as licenseID),
// times in UTC to the microsecond (what the databases keep, so an
// entity's after and its next before agree). Sensitive fields (ent writes them json:"-": secret
// hashes, webhook secrets, key material), edges and the organization are
// left out. A nil entity is nil.
func Snapshot(entity any) map[string]any {
	v := reflect.ValueOf(entity)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	t := v.Type()
	out := make(map[string]any, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		if !f.IsExported() || tag == "" || tag == "-" || tag == "edges" || tag == "organization_id" {
			continue
		}
		out[graphName(tag)] = plain(v.Field(i))
	}
	return out
}

// plain is a field's value as it should appear in JSON: nil pointers as
// null, times in UTC to the microsecond.
func plain(v reflect.Value) any {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if t, ok := v.Interface().(time.Time); ok {
		return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
	}
	return v.Interface()
}

// graphName turns a column name into its GraphQL field name.
func graphName(column string) string {
	parts := strings.Split(column, "_")
	var b strings.Builder
	b.WriteString(parts[0])
	for _, p := range parts[1:] {
		if p == "id" {
			b.WriteString("ID")
			continue
		}
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}

// Noop reports whether the change of an update changes nothing the trail
// would show: before and after are equal as JSON, updatedAt aside (an
// update that sets every field to the value it has records no event).
func (c Change) Noop() bool {
	b, errB := object(c.Before)
	a, errA := object(c.After)
	if errA != nil || errB != nil || a == nil || b == nil {
		return false
	}
	delete(a, "updatedAt")
	delete(b, "updatedAt")
	return reflect.DeepEqual(a, b)
}

// EntityChange is the change of one entity created (before nil), updated
// or deleted (after nil): named by whichever side exists (key gives its
// id and slug), both sides snapshotted.
func EntityChange[T any](action, resourceType string, before, after *T, key func(*T) (id, slug string)) Change {
	e := after
	if e == nil {
		e = before
	}
	id, slug := key(e)
	return Change{Action: action, ResourceType: resourceType, ResourceID: id, ResourceSlug: slug,
		Before: Snapshot(before), After: Snapshot(after)}
}
