package terms

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func ptr(f float64) *float64 { return &f }

func TestNormalizeValue(t *testing.T) {
	cases := []struct {
		name    string
		typ     string
		value   map[string]any
		overage *float64
		field   string // expected error field, "" for ok
	}{
		{"number ok", TypeNumber, map[string]any{"type": "number", "value": 1000.0}, nil, ""},
		{"number unlimited", TypeNumber, map[string]any{"type": "number", "value": -1}, nil, ""},
		{"number json.Number", TypeNumber, map[string]any{"type": "number", "value": json.Number("5")}, ptr(10), ""},
		{"number other negative", TypeNumber, map[string]any{"type": "number", "value": -2.0}, nil, "value.value"},
		{"number NaN", TypeNumber, map[string]any{"type": "number", "value": math.NaN()}, nil, "value.value"},
		{"number string", TypeNumber, map[string]any{"type": "number", "value": "1000"}, nil, "value.value"},
		{"number wrong type tag", TypeNumber, map[string]any{"type": "boolean", "value": true}, nil, "value.type"},
		{"number negative overage", TypeNumber, map[string]any{"type": "number", "value": 1.0}, ptr(-1), "overagePercent"},
		{"boolean ok", TypeBoolean, map[string]any{"type": "boolean", "value": true}, nil, ""},
		{"boolean overage", TypeBoolean, map[string]any{"type": "boolean", "value": true}, ptr(5), "overagePercent"},
		{"boolean number", TypeBoolean, map[string]any{"type": "boolean", "value": 1.0}, nil, "value.value"},
		{"object ok", TypeConfig, map[string]any{"type": "object", "value": map[string]any{"maxUsers": 50.0}}, nil, ""},
		{"object array", TypeConfig, map[string]any{"type": "object", "value": []any{1.0}}, nil, "value.value"},
		{"missing value", TypeConfig, map[string]any{"type": "object"}, nil, "value.value"},
		{"extra key", TypeConfig, map[string]any{"type": "object", "value": map[string]any{}, "x": 1}, nil, "value.x"},
		{"nil", TypeConfig, nil, nil, "value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NormalizeValue(c.typ, c.value, c.overage)
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
	got, err := NormalizeValue(TypeNumber, map[string]any{"type": "number", "value": 7}, nil)
	if err != nil || got["value"] != 7.0 {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestHardCap(t *testing.T) {
	if c, ok := HardCap(100, ptr(10)); !ok || math.Abs(c-110) > 1e-9 {
		t.Fatalf("got %v %v", c, ok)
	}
	if _, ok := HardCap(-1, ptr(10)); ok {
		t.Fatal("unlimited has no cap")
	}
	if c, _ := HardCap(100, nil); c != 100 {
		t.Fatal(c)
	}
}
