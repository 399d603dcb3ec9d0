package events

import (
	"encoding/json"
	"testing"
)

// The examples of RFC 8785 (§3.2.2 and Appendix B) and edge cases of the
// scheme: the canonical bytes must match exactly.
func TestCanonicalMatchesRFC8785(t *testing.T) {
	for in, want := range map[string]string{
		// RFC 8785 §3.2.2's sample, numbers and literals.
		`{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}`: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		// §3.2.3: sorted by UTF-16 code units.
		`{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}`: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		`[-0, 1e21, 1e-7, 123456789012345680000, 0.1]`: `[0,1e+21,1e-7,123456789012345680000,0.1]`,
		`{"b": {"z": 1, "a": [{}]}, "a": "<&>"}`:       `{"a":"<&>","b":{"a":[{}],"z":1}}`,
	} {
		var v any
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			t.Fatal(err)
		}
		got, err := Canonical(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("Canonical(%s)\n got %s\nwant %s", in, got, want)
		}
	}
}
