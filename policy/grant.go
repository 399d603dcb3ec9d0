package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Entitlement types, as input.entitlement.type carries them.
const (
	EntitlementBoolean = "BOOLEAN"
	EntitlementNumber  = "NUMBER"
	EntitlementConfig  = "CONFIG"
)

// Grant types: the "type" of a link's structured value.
const (
	GrantNumber  = "number"
	GrantBoolean = "boolean"
	GrantObject  = "object"
)

// Bounds on what a link may grant. Every number a client sends is finite
// and at most MaxMagnitude in size, so no limit, cap or aggregate derived
// from it can overflow.
const (
	// Unlimited is the NUMBER value that means no limit.
	Unlimited = -1
	// MaxMagnitude bounds every number a client sends.
	MaxMagnitude = 1e15
	// MaxOveragePercent bounds a link's overagePercent.
	MaxOveragePercent = 1000
	// MaxConfigBytes bounds the JSON size of a CONFIG value.
	MaxConfigBytes = 64 << 10
)

// Quantity checks a number a client sends as an amount — a usage value, a
// consumed amount, a decision's requested: finite, not negative, and at
// most MaxMagnitude. It returns what is wrong, for the caller to name the
// field.
func Quantity(v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return errors.New("must be a finite number")
	case v < 0:
		return errors.New("must be >= 0")
	case v > MaxMagnitude:
		return fmt.Errorf("must be at most %g", float64(MaxMagnitude))
	}
	return nil
}

// grantType maps an entitlement type to the value type it takes.
var grantType = map[string]string{
	EntitlementNumber:  GrantNumber,
	EntitlementBoolean: GrantBoolean,
	EntitlementConfig:  GrantObject,
}

// FieldError is a problem with one field of a link: "value",
// "value.type", "value.value" or "overagePercent".
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Grant is input.grant: what the license grants for the entitlement, built
// from the link's structured value and overagePercent. Use by pointer;
// immutable once built.
type Grant struct {
	Type string // number | boolean | object
	// Raw is the link's structured value {"type": ..., "value": ...} in
	// canonical form (Decision.Value). Read-only.
	Raw map[string]any

	// number
	Number         float64 // the limit; -1 is unlimited
	Unlimited      bool
	OveragePercent float64
	HardCap        float64 // the most that may be used; 0 when unlimited

	// boolean
	Bool bool

	// object
	Object map[string]any

	term *ast.Term
}

// NormalizeGrant checks a link's value and overagePercent against the
// entitlement's type and returns the value in canonical form ({"type":
// ..., "value": ...}, numbers as float64, objects as decoded JSON). A
// failure is a *FieldError naming the field.
func NormalizeGrant(entitlementType string, value map[string]any, overagePercent *float64) (map[string]any, error) {
	want, ok := grantType[entitlementType]
	if !ok {
		return nil, fieldErr("entitlementID", "unknown entitlement type %q", entitlementType)
	}
	g, err := newGrant(want, value, overagePercent)
	if err != nil {
		return nil, err
	}
	return g.Raw, nil
}

// NewGrant builds the Grant of a stored link: the same checks as
// NormalizeGrant, with the value's own type tag.
func NewGrant(value map[string]any, overagePercent *float64) (*Grant, error) {
	typ, _ := value["type"].(string)
	return newGrant(typ, value, overagePercent)
}

// newGrant is the one validator of link values: the value must be a grant
// of type want, with the bounds above.
func newGrant(want string, v map[string]any, overagePercent *float64) (*Grant, error) {
	if v == nil {
		return nil, fieldErr("value", `is required, e.g. {"type": %q, "value": ...}`, want)
	}
	for k := range v {
		if k != "type" && k != "value" {
			return nil, fieldErr("value."+k, `is not allowed; a value has only "type" and "value"`)
		}
	}
	typ, _ := v["type"].(string)
	switch entType := grantEntitlement(want); {
	case entType == "":
		return nil, fieldErr("value.type", `must be "number", "boolean" or "object", got %q`, typ)
	case typ != want:
		return nil, fieldErr("value.type", "must be %q for %s entitlements", want, entType)
	}
	raw, present := v["value"]
	if !present || raw == nil {
		return nil, fieldErr("value.value", "is required")
	}
	overage := 0.0
	if overagePercent != nil {
		if want != GrantNumber {
			return nil, fieldErr("overagePercent", "is only allowed on NUMBER entitlements")
		}
		overage = *overagePercent
		if math.IsNaN(overage) || overage < 0 || overage > MaxOveragePercent {
			return nil, fieldErr("overagePercent", "must be a number >= 0 and at most %d", MaxOveragePercent)
		}
	}
	g := &Grant{Type: want}
	var valueTerm *ast.Term
	switch want {
	case GrantNumber:
		n, ok := toFloat(raw)
		if !ok {
			return nil, fieldErr("value.value", "must be a number for NUMBER entitlements, got %s", describe(raw))
		}
		if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > MaxMagnitude {
			return nil, fieldErr("value.value", "must be a finite number of magnitude at most %g", float64(MaxMagnitude))
		}
		if n < 0 && n != Unlimited {
			return nil, fieldErr("value.value", "must be >= 0, or -1 for unlimited")
		}
		if n == Unlimited && overage != 0 {
			return nil, fieldErr("overagePercent", "is not allowed with an unlimited (-1) value")
		}
		g.Raw = map[string]any{"type": want, "value": n}
		g.Number, g.OveragePercent = n, overage
		hardCap := ast.NullTerm()
		if n == Unlimited {
			g.Unlimited = true
		} else {
			// value * (1 + overage/100), computed so that whole
			// percentages of whole limits stay exact (100 at 10% is 110,
			// not 110.00000000000001).
			g.HardCap = n * (100 + overage) / 100
			hardCap = numberTerm(g.HardCap)
		}
		g.term = ast.ObjectTerm(
			ast.Item(kType, ast.StringTerm(GrantNumber)),
			ast.Item(kValue, numberTerm(n)),
			ast.Item(kUnlimited, ast.BooleanTerm(g.Unlimited)),
			ast.Item(kOveragePercent, numberTerm(overage)),
			ast.Item(kHardCap, hardCap),
		)
		return g, nil
	case GrantBoolean:
		b, ok := raw.(bool)
		if !ok {
			return nil, fieldErr("value.value", "must be true or false for BOOLEAN entitlements, got %s", describe(raw))
		}
		g.Raw = map[string]any{"type": want, "value": b}
		g.Bool = b
		valueTerm = ast.BooleanTerm(b)
	default:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, fieldErr("value.value", "must be a JSON object for CONFIG entitlements, got %s", describe(raw))
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fieldErr("value.value", "must be a JSON object without NaN or infinite numbers")
		}
		if len(b) > MaxConfigBytes {
			return nil, fieldErr("value.value", "is %d bytes; at most %d allowed", len(b), MaxConfigBytes)
		}
		var canon map[string]any
		if err := json.Unmarshal(b, &canon); err != nil {
			return nil, fieldErr("value.value", "must be a JSON object")
		}
		av, err := ast.InterfaceToValue(canon)
		if err != nil {
			return nil, fieldErr("value.value", "must be a JSON object")
		}
		g.Raw = map[string]any{"type": want, "value": canon}
		g.Object = canon
		valueTerm = ast.NewTerm(av)
	}
	g.term = ast.ObjectTerm(
		ast.Item(kType, ast.StringTerm(want)),
		ast.Item(kValue, valueTerm),
	)
	return g, nil
}

func grantEntitlement(grantType string) string {
	switch grantType {
	case GrantNumber:
		return EntitlementNumber
	case GrantBoolean:
		return EntitlementBoolean
	case GrantObject:
		return EntitlementConfig
	}
	return ""
}

// Term returns the grant's input term (built by NewGrant): number grants
// carry {"type","value","unlimited","overagePercent","hardCap"} (hardCap
// null when unlimited), others {"type","value"}.
func (g *Grant) Term() *ast.Term { return g.term }

// Limited reports whether the grant is a number with a finite hard cap.
func (g *Grant) Limited() bool { return g.Type == GrantNumber && !g.Unlimited }

// Remaining is what may still be used of a limited grant at the given
// usage: the hard cap minus the usage, never negative (reportUsage may
// have recorded an overage).
func (g *Grant) Remaining(usage float64) float64 { return max(0, g.HardCap-usage) }

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
