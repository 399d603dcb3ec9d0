package facts

import (
	"testing"

	"github.com/entitled/entitled/ent/entitlement"
	"github.com/entitled/entitled/policy"
)

// The input document's entitlement types are policy's constants (policy
// imports no ent); they must be exactly the values the schema stores.
func TestEntitlementTypesMatchTheSchema(t *testing.T) {
	want := map[entitlement.Type]string{
		entitlement.TypeBOOLEAN: policy.EntitlementBoolean,
		entitlement.TypeNUMBER:  policy.EntitlementNumber,
		entitlement.TypeCONFIG:  policy.EntitlementConfig,
	}
	for typ, constant := range want {
		if string(typ) != constant {
			t.Errorf("schema type %q, policy constant %q", typ, constant)
		}
		if err := entitlement.TypeValidator(entitlement.Type(constant)); err != nil {
			t.Errorf("the schema refuses policy's %q: %v", constant, err)
		}
	}
	if err := entitlement.TypeValidator("OTHER"); err == nil {
		t.Error("the schema accepts a type policy does not know")
	}
}
