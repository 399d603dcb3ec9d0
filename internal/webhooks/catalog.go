package webhooks

import (
	"slices"
	"strings"

	"github.com/entitled/entitled/internal/apperr"
)

// TestEventType is the type of sendTestWebhook's deliveries; it is no
// event of the log.
const TestEventType = "webhook.test"

// Actions is the catalogue of event types an endpoint may subscribe to:
// every action of the event log (docs/webhooks.md shows each one's body).
var Actions = []string{
	"license.created", "license.updated", "license.deleted",
	"license_entitlement.set", "license_entitlement.removed",
	"entitlement.created", "entitlement.updated", "entitlement.deleted",
	"instance.created", "instance.updated", "instance.deleted", "instance.expiring",
	"policy.created", "policy.updated", "policy.deleted",
	"api_key.created", "api_key.revoked",
	"usage.reset", "usage.threshold_crossed",
	"webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.deleted", "webhook_endpoint.secret_rotated",
	"signing_key.created", "signing_key.rotated",
	"license_file.issued",
}

// maxEventTypes bounds an endpoint's filter.
const maxEventTypes = 100

// eventTypes checks an endpoint's filter and returns it without
// duplicates: each entry an action of the catalogue, a resource's
// prefix ("license.*") or webhook.test; empty means every event.
func eventTypes(field string, in []string) ([]string, error) {
	if len(in) > maxEventTypes {
		return nil, apperr.Invalid(field, "lists %d entries; at most %d allowed (an empty list receives every event)", len(in), maxEventTypes)
	}
	out := make([]string, 0, len(in))
	for _, t := range in {
		if !knownType(t) {
			return nil, apperr.Invalid(field, "%q is not an event type: use an action such as %q, a prefix such as %q, or %q (an empty list receives every event)",
				t, "license.updated", "license.*", TestEventType)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func knownType(t string) bool {
	if t == TestEventType || slices.Contains(Actions, t) {
		return true
	}
	prefix, ok := strings.CutSuffix(t, ".*")
	if !ok || prefix == "" {
		return false
	}
	for _, a := range Actions {
		if strings.HasPrefix(a, prefix+".") {
			return true
		}
	}
	return false
}

// matches reports whether an endpoint with the filter types receives an
// event of the action.
func matches(types []string, action string) bool {
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		if t == action {
			return true
		}
		if prefix, ok := strings.CutSuffix(t, "*"); ok && strings.HasPrefix(action, prefix) {
			return true
		}
	}
	return false
}
