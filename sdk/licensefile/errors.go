package licensefile

import "fmt"

// Code classifies an Error.
type Code string

// Error codes.
const (
	// CodeArmor: the text is not one armored license file (no BEGIN or END
	// line, or more than one file).
	CodeArmor Code = "ARMOR"
	// CodeBase64: the armored body, enc or sig is not canonical base64.
	CodeBase64 Code = "BASE64"
	// CodeJSON: the envelope or the signed dataset is not the JSON
	// expected.
	CodeJSON Code = "JSON"
	// CodeAlg: the envelope's alg is not base64+ed25519.
	CodeAlg Code = "ALG"
	// CodeJWKS: the JWKS given to Verify is unusable (malformed, no
	// Ed25519 key, a bad key, a duplicate kid).
	CodeJWKS Code = "JWKS"
	// CodeUnknownKey: the file's kid is not among the trusted keys.
	CodeUnknownKey Code = "UNKNOWN_KEY"
	// CodeSignature: the signature does not verify with the trusted key.
	CodeSignature Code = "SIGNATURE"
	// CodeDataset: the signed dataset is inconsistent (no exp, exp before
	// iat, a grant that does not match its entitlement, ...).
	CodeDataset Code = "DATASET"
	// CodeClock: the clock is more than ClockSkew before the file's iat.
	CodeClock Code = "CLOCK"
	// CodePolicy: the file's custom modules do not compile with this
	// version of the default policy.
	CodePolicy Code = "POLICY"
	// CodeNotVerified: Decide was called before Verify succeeded.
	CodeNotVerified Code = "NOT_VERIFIED"
	// CodeRequest: the question is malformed (requested negative, not
	// finite or too large; a context that is not JSON-like).
	CodeRequest Code = "REQUEST"
)

// Error is every error this package returns. Match a class with
// errors.Is(err, licensefile.ErrSignature) (or any Err* below), or read
// Code with errors.As.
type Error struct {
	Code    Code
	Message string // what is wrong, for people
	Err     error  // the cause, if any

	sentinel bool
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "license file: " + e.Message + ": " + e.Err.Error()
	}
	return "license file: " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the class sentinels (ErrArmor, ...) by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.sentinel && t.Code == e.Code
}

func sentinel(c Code, msg string) *Error { return &Error{Code: c, Message: msg, sentinel: true} }

// Sentinels for errors.Is, one per Code.
var (
	ErrArmor       = sentinel(CodeArmor, "bad armor")
	ErrBase64      = sentinel(CodeBase64, "bad base64")
	ErrJSON        = sentinel(CodeJSON, "bad JSON")
	ErrAlg         = sentinel(CodeAlg, "unknown alg")
	ErrJWKS        = sentinel(CodeJWKS, "bad JWKS")
	ErrUnknownKey  = sentinel(CodeUnknownKey, "unknown signing key")
	ErrSignature   = sentinel(CodeSignature, "bad signature")
	ErrDataset     = sentinel(CodeDataset, "bad dataset")
	ErrClock       = sentinel(CodeClock, "clock before the file's issue time")
	ErrPolicy      = sentinel(CodePolicy, "policy does not compile")
	ErrNotVerified = sentinel(CodeNotVerified, "not verified")
	ErrRequest     = sentinel(CodeRequest, "bad request")
)

func errf(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}
