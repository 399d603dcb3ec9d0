package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// A validator for the subset of JSON Schema draft 2020-12 that
// input.schema.json uses; TestSchemaUsesKnownKeywords keeps it honest.
var schemaKeywords = map[string]bool{
	"$schema": true, "$id": true, "title": true, "description": true, "$defs": true,
	"type": true, "required": true, "properties": true, "additionalProperties": true,
	"$ref": true, "enum": true, "const": true, "oneOf": true, "anyOf": true,
	"minimum": true, "format": true, "items": true,
}

func loadSchema(t testing.TB) map[string]any {
	t.Helper()
	var s map[string]any
	if err := json.Unmarshal(InputSchema(), &s); err != nil {
		t.Fatalf("input.schema.json: %v", err)
	}
	return s
}

// checkSchema returns the violations of doc (decoded JSON: map[string]any,
// []any, float64, string, bool, nil) against the schema, sorted.
func checkSchema(root map[string]any, doc any) []string {
	var errs []string
	validate(root, root, doc, "", &errs)
	sort.Strings(errs)
	return errs
}

func validate(root, s map[string]any, v any, path string, errs *[]string) {
	fail := func(format string, args ...any) {
		p := path
		if p == "" {
			p = "/"
		}
		*errs = append(*errs, p+": "+fmt.Sprintf(format, args...))
	}
	if ref, ok := s["$ref"].(string); ok {
		def, _ := root["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		if def == nil {
			fail("unresolvable $ref %s", ref)
			return
		}
		validate(root, def, v, path, errs)
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.ContainsFunc(types, func(ty string) bool { return hasType(v, ty) }) {
			fail("%s is not of type %v", jsonType(v), types)
			return
		}
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return reflect.DeepEqual(x, v) }) {
		fail("%v is not one of %v", v, e)
	}
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, v) {
		fail("%v is not %v", v, c)
	}
	if m, ok := s["minimum"].(float64); ok {
		if n, isNum := v.(float64); isNum && n < m {
			fail("%v is less than %v", n, m)
		}
	}
	if f, ok := s["format"].(string); ok && f == "date-time" {
		if str, isStr := v.(string); isStr {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				fail("%q is not an RFC 3339 date-time", str)
			}
		}
	}
	for _, kw := range []string{"oneOf", "anyOf"} {
		alts, ok := s[kw].([]any)
		if !ok {
			continue
		}
		n := 0
		for _, a := range alts {
			var sub []string
			validate(root, a.(map[string]any), v, path, &sub)
			if len(sub) == 0 {
				n++
			}
		}
		if (kw == "oneOf" && n != 1) || (kw == "anyOf" && n == 0) {
			fail("matches %d of the %s alternatives", n, kw)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := obj[r]; !ok {
				fail("required property %q is missing", r)
			}
		}
		for k, x := range obj {
			if ps, ok := props[k].(map[string]any); ok {
				validate(root, ps, x, path+"/"+k, errs)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("property %q is not allowed", k)
				}
			case map[string]any:
				validate(root, ap, x, path+"/"+k, errs)
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if is, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				validate(root, is, x, fmt.Sprintf("%s/%d", path, i), errs)
			}
		}
	}
}

func asStrings(x any) []string {
	var out []string
	if arr, ok := x.([]any); ok {
		for _, s := range arr {
			out = append(out, s.(string))
		}
	}
	return out
}

func hasType(v any, ty string) bool {
	switch ty {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	return false
}

func jsonType(v any) string {
	for _, ty := range []string{"null", "boolean", "string", "integer", "number", "object", "array"} {
		if hasType(v, ty) {
			return ty
		}
	}
	return fmt.Sprintf("%T", v)
}

func TestSchemaUsesKnownKeywords(t *testing.T) {
	var walk func(x any, path string, inProps bool)
	walk = func(x any, path string, inProps bool) {
		switch x := x.(type) {
		case map[string]any:
			for k, v := range x {
				if !inProps && !schemaKeywords[k] {
					t.Errorf("%s: keyword %q is not supported by the test validator", path, k)
				}
				switch k {
				case "properties", "$defs":
					walk(v, path+"/"+k, true)
				case "enum", "const", "required", "type":
				default:
					walk(v, path+"/"+k, false)
				}
			}
		case []any:
			for i, v := range x {
				walk(v, fmt.Sprintf("%s/%d", path, i), false)
			}
		}
	}
	s := loadSchema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	walk(s, "", false)
}

// TestCasesMatchInputSchema validates every input of testdata/cases.yaml:
// well-formed ones must match the schema, the deliberately malformed ones
// (schemaInvalid: true) must not.
func TestCasesMatchInputSchema(t *testing.T) {
	root := loadSchema(t)
	valid := 0
	for _, c := range loadCases(t) {
		doc := jsonRoundTrip(t, c.Input)
		errs := checkSchema(root, doc)
		switch {
		case c.SchemaInvalid && len(errs) == 0:
			t.Errorf("%s: marked schemaInvalid but matches the schema", c.Name)
		case !c.SchemaInvalid && len(errs) > 0:
			t.Errorf("%s: %s", c.Name, strings.Join(errs, "; "))
		case !c.SchemaInvalid:
			valid++
		}
	}
	if valid < 30 {
		t.Errorf("only %d valid inputs", valid)
	}
}

func TestSchemaRejects(t *testing.T) {
	root := loadSchema(t)
	for _, bad := range []string{
		`{"now": "2026-11-28T12:00:00Z", "request": {"requested": 1, "context": {}, "instance": "ghost"}}`,
		`{"now": "2026-11-28T12:00:00Z", "request": {"requested": 1}}`,
		`{"now": "tomorrow", "request": {"requested": 1, "context": {}}}`,
		`{"now": "2026-11-28T12:00:00Z", "request": {"requested": 1, "context": {}}, "grant": {"type": "boolean", "value": 1}}`,
		`{"now": "2026-11-28T12:00:00Z", "request": {"requested": 1, "context": {}}, "extra": 1}`,
	} {
		var doc any
		if err := json.Unmarshal([]byte(bad), &doc); err != nil {
			t.Fatal(err)
		}
		if errs := checkSchema(root, doc); len(errs) == 0 {
			t.Errorf("accepted %s", bad)
		}
	}
}

func jsonRoundTrip(t testing.TB, x any) any {
	t.Helper()
	bs, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(bs, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}
