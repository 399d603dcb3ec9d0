// Package terms holds what a license grants, as values: the structured value
// of a license–entitlement link, its validation against the entitlement's
// type, and the snapshot of a license's terms kept for every version. It
// imports no storage so the schema, the services and the decision path can
// all share it.
package terms

import (
	"encoding/json"
	"fmt"
	"math"
)

// Entitlement types.
const (
	TypeBoolean = "BOOLEAN"
	TypeNumber  = "NUMBER"
	TypeConfig  = "CONFIG"
)

// Unlimited is the NUMBER value that means no limit.
const Unlimited = -1

// MaxConfigBytes bounds the JSON size of a CONFIG value.
const MaxConfigBytes = 64 << 10

// Term is one granted entitlement inside a license version snapshot.
type Term struct {
	EntitlementID   string         `json:"entitlementID"`
	EntitlementSlug string         `json:"entitlementSlug"`
	EntitlementType string         `json:"entitlementType"`
	Value           map[string]any `json:"value"`
	OveragePercent  *float64       `json:"overagePercent,omitempty"`
}

// FieldError is a validation failure of one input field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// wantType maps an entitlement type to the value type it takes.
var wantType = map[string]string{
	TypeNumber:  "number",
	TypeBoolean: "boolean",
	TypeConfig:  "object",
}

// NormalizeValue checks a link value against the entitlement type and
// returns it in canonical form ({"type": ..., "value": ...}, numbers as
// float64). Errors name the offending field under the given prefix.
func NormalizeValue(entitlementType string, v map[string]any, overagePercent *float64) (map[string]any, error) {
	want, ok := wantType[entitlementType]
	if !ok {
		return nil, fieldErr("entitlementID", "unknown entitlement type %q", entitlementType)
	}
	if v == nil {
		return nil, fieldErr("value", `is required, e.g. {"type": %q, "value": ...}`, want)
	}
	for k := range v {
		if k != "type" && k != "value" {
			return nil, fieldErr("value."+k, `is not allowed; a value has only "type" and "value"`)
		}
	}
	typ, _ := v["type"].(string)
	if typ != want {
		return nil, fieldErr("value.type", "must be %q for %s entitlements", want, entitlementType)
	}
	raw, present := v["value"]
	if !present || raw == nil {
		return nil, fieldErr("value.value", "is required")
	}
	if overagePercent != nil {
		if entitlementType != TypeNumber {
			return nil, fieldErr("overagePercent", "is only allowed on NUMBER entitlements")
		}
		if o := *overagePercent; math.IsNaN(o) || math.IsInf(o, 0) || o < 0 {
			return nil, fieldErr("overagePercent", "must be a finite number >= 0")
		}
	}
	switch entitlementType {
	case TypeNumber:
		n, ok := toFloat(raw)
		if !ok {
			return nil, fieldErr("value.value", "must be a number for NUMBER entitlements, got %s", describe(raw))
		}
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fieldErr("value.value", "must be a finite number")
		}
		if n < 0 && n != Unlimited {
			return nil, fieldErr("value.value", "must be >= 0, or -1 for unlimited")
		}
		return map[string]any{"type": want, "value": n}, nil
	case TypeBoolean:
		b, ok := raw.(bool)
		if !ok {
			return nil, fieldErr("value.value", "must be true or false for BOOLEAN entitlements, got %s", describe(raw))
		}
		return map[string]any{"type": want, "value": b}, nil
	default:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, fieldErr("value.value", "must be a JSON object for CONFIG entitlements, got %s", describe(raw))
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fieldErr("value.value", "must be valid JSON: %v", err)
		}
		if len(b) > MaxConfigBytes {
			return nil, fieldErr("value.value", "is %d bytes; at most %d allowed", len(b), MaxConfigBytes)
		}
		var canon map[string]any
		if err := json.Unmarshal(b, &canon); err != nil {
			return nil, fieldErr("value.value", "must be valid JSON: %v", err)
		}
		return map[string]any{"type": want, "value": canon}, nil
	}
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	if _, ok := toFloat(v); ok {
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// HardCap is the most a NUMBER grant allows: value * (1 + overage/100).
// It returns ok=false for unlimited grants.
func HardCap(value float64, overagePercent *float64) (float64, bool) {
	if value == Unlimited {
		return 0, false
	}
	if overagePercent == nil {
		return value, true
	}
	return value * (1 + *overagePercent/100), true
}
