package policy

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestNormalizeGrant(t *testing.T) {
	cases := []struct {
		name    string
		typ     string
		value   map[string]any
		overage *float64
		field   string // expected error field, "" for ok
	}{
		{"number ok", EntitlementNumber, map[string]any{"type": "number", "value": 1000.0}, nil, ""},
		{"number unlimited", EntitlementNumber, map[string]any{"type": "number", "value": -1}, nil, ""},
		{"number json.Number", EntitlementNumber, map[string]any{"type": "number", "value": json.Number("5")}, ptr(10.0), ""},
		{"number other negative", EntitlementNumber, map[string]any{"type": "number", "value": -2.0}, nil, "value.value"},
		{"number NaN", EntitlementNumber, map[string]any{"type": "number", "value": math.NaN()}, nil, "value.value"},
		{"number string", EntitlementNumber, map[string]any{"type": "number", "value": "1000"}, nil, "value.value"},
		{"number wrong type tag", EntitlementNumber, map[string]any{"type": "boolean", "value": true}, nil, "value.type"},
		{"number negative overage", EntitlementNumber, map[string]any{"type": "number", "value": 1.0}, ptr(-1.0), "overagePercent"},
		{"boolean ok", EntitlementBoolean, map[string]any{"type": "boolean", "value": true}, nil, ""},
		{"boolean overage", EntitlementBoolean, map[string]any{"type": "boolean", "value": true}, ptr(5.0), "overagePercent"},
		{"boolean number", EntitlementBoolean, map[string]any{"type": "boolean", "value": 1.0}, nil, "value.value"},
		{"object ok", EntitlementConfig, map[string]any{"type": "object", "value": map[string]any{"maxUsers": 50.0}}, nil, ""},
		{"object array", EntitlementConfig, map[string]any{"type": "object", "value": []any{1.0}}, nil, "value.value"},
		{"missing value", EntitlementConfig, map[string]any{"type": "object"}, nil, "value.value"},
		{"extra key", EntitlementConfig, map[string]any{"type": "object", "value": map[string]any{}, "x": 1}, nil, "value.x"},
		{"nil", EntitlementConfig, nil, nil, "value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NormalizeGrant(c.typ, c.value, c.overage)
			if c.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if got["type"] != c.value["type"] {
					t.Fatalf("type tag lost: %v", got)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("want error on %s, got %v", c.field, err)
			}
		})
	}
}

func TestNumberValuesAreCanonicalFloats(t *testing.T) {
	got, err := NormalizeGrant(EntitlementNumber, map[string]any{"type": "number", "value": 7}, nil)
	if err != nil || got["value"] != 7.0 {
		t.Fatalf("got %v %v", got, err)
	}
}
