// Package licensefile reads, verifies and decides from signed license
// files: what an entitled organization grants one instance, signed with
// the organization's Ed25519 key, for software that must decide without
// reaching the server (on-premises, behind firewalls, air-gapped).
//
// It is a public package for vendors: its dependencies are the standard
// library, Open Policy Agent and the repository's public policy package,
// which holds the default policy, the policy input document and the
// decision logic. A decision from a file therefore runs the same Rego as
// the server (the default policy plus the organization's custom modules the
// file carries), over the same input document, and maps it to the same
// policy.Decision. docs/offline.md describes the format byte by byte.
//
// Use:
//
//	jwks, err := licensefile.ParseJWKS(trustedJWKS) // the keys you trust, shipped with your software
//	f, err := licensefile.Parse(armored)            // the customer's license file
//	err = f.Verify(jwks)                            // signature, key, clock; prepares the policy
//	d, err := f.Decide("api-calls", &requested, map[string]any{"country": "DE"}, time.Now())
//	if d.Allowed { ... }
//
// Trust: Verify uses only the keys of the JWKS it is given, never a key
// named or carried by the file; an unknown kid is an error. Parse checks
// the armor and the envelope but does not decode the signed dataset: that
// happens in Verify, after the signature checked out, so nothing a forger
// wrote is interpreted.
//
// Time: past the dataset's exp every decision is refused with reason
// LICENSE_FILE_EXPIRED (policy.ReasonLicenseFileExpired), without
// evaluating. A clock more than ClockSkew before the dataset's iat is an
// error (ErrClock), not a pass: a machine whose clock was set back must
// not revive an expired file by making it look not yet issued.
//
// Cost: Verify compiles the file's policy once (the default policy alone is
// shared) and builds each entitlement's part of the input document once,
// so Decide does what the server's in-process decision does per request:
// it builds the request's share of the input, evaluates and maps. A File
// is safe for concurrent use once verified.
package licensefile
