package custompolicy

import "encoding/json"

// jsonMap turns a value into the JSON object ent stores.
func jsonMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}
