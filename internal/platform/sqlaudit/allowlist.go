package sqlaudit

// Allowlist is every statement family that legitimately spans
// organizations, with its reason. Each entry matches a fragment of the
// normalised statement (Normalize); keep fragments specific to one family.
var Allowlist = []Exemption{}
