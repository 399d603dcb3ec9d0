package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Grant types: the "type" of a link's structured value.
const (
	GrantNumber  = "number"
	GrantBoolean = "boolean"
	GrantObject  = "object"
)

// Grant is input.grant: what the license grants for the entitlement, built
// from the link's structured value and overagePercent. Use by pointer;
// immutable once built.
type Grant struct {
	Type string // number | boolean | object
	// Raw is the link's structured value {"type": ..., "value": ...}, as
	// given (Decision.Value). Read-only.
	Raw map[string]any

	// number
	Number         float64 // the limit; -1 is unlimited
	Unlimited      bool
	OveragePercent float64
	HardCap        float64 // Number * (100 + OveragePercent) / 100; 0 when unlimited

	// boolean
	Bool bool

	// object
	Object map[string]any

	term *ast.Term
}

// NewGrant validates a link's structured value ({"type":"number","value":1000},
// {"type":"boolean","value":true}, {"type":"object","value":{...}}) and the
// link's overagePercent (NUMBER only, >= 0) and builds the Grant with its
// term. The hard cap is value * (1 + overagePercent/100), computed as
// value * (100 + overagePercent) / 100 so that whole percentages of whole
// limits stay exact (100 at 10% is 110, not 110.00000000000001).
func NewGrant(value map[string]any, overagePercent float64) (*Grant, error) {
	if value == nil {
		return nil, errors.New("grant value is missing")
	}
	typ, _ := value["type"].(string)
	v, ok := value["value"]
	if !ok {
		return nil, errors.New(`grant value has no "value"`)
	}
	if math.IsNaN(overagePercent) || math.IsInf(overagePercent, 0) || overagePercent < 0 {
		return nil, fmt.Errorf("overagePercent must be a number >= 0, got %v", overagePercent)
	}
	if typ != GrantNumber && overagePercent != 0 {
		return nil, fmt.Errorf("overagePercent applies to number grants only, not %q", typ)
	}
	g := &Grant{Type: typ, Raw: value}
	var valueTerm *ast.Term
	switch typ {
	case GrantNumber:
		n, ok := toFloat(v)
		if !ok {
			return nil, fmt.Errorf("number grant value must be a number, got %T", v)
		}
		if n < 0 && n != -1 {
			return nil, fmt.Errorf("number grant value must be >= 0 or -1 (unlimited), got %v", n)
		}
		g.Number, g.OveragePercent = n, overagePercent
		if n == -1 {
			g.Unlimited = true
		} else {
			g.HardCap = n * (100 + overagePercent) / 100
		}
		hardCap := ast.NullTerm()
		if !g.Unlimited {
			hardCap = numberTerm(g.HardCap)
		}
		g.term = ast.ObjectTerm(
			ast.Item(kType, ast.StringTerm(GrantNumber)),
			ast.Item(kValue, numberTerm(n)),
			ast.Item(kUnlimited, ast.BooleanTerm(g.Unlimited)),
			ast.Item(kOveragePercent, numberTerm(overagePercent)),
			ast.Item(kHardCap, hardCap),
		)
		return g, nil
	case GrantBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("boolean grant value must be a boolean, got %T", v)
		}
		g.Bool = b
		valueTerm = ast.BooleanTerm(b)
	case GrantObject:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("object grant value must be an object, got %T", v)
		}
		av, err := ast.InterfaceToValue(m)
		if err != nil {
			return nil, fmt.Errorf("object grant value: %w", err)
		}
		g.Object = m
		valueTerm = ast.NewTerm(av)
	default:
		return nil, fmt.Errorf(`grant type must be "number", "boolean" or "object", got %q`, typ)
	}
	g.term = ast.ObjectTerm(
		ast.Item(kType, ast.StringTerm(typ)),
		ast.Item(kValue, valueTerm),
	)
	return g, nil
}

// Term returns the grant's input term (built by NewGrant): number grants
// carry {"type","value","unlimited","overagePercent","hardCap"} (hardCap
// null when unlimited), others {"type","value"}.
func (g *Grant) Term() *ast.Term { return g.term }

// Limited reports whether the grant is a number with a finite hard cap.
func (g *Grant) Limited() bool { return g.Type == GrantNumber && !g.Unlimited }

func toFloat(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int32:
		f = float64(n)
	case int64:
		f = float64(n)
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return 0, false
		}
		f = x
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}
