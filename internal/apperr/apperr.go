// Package apperr defines the domain errors every service returns and the
// one place they become API error codes. Services say what went wrong in
// user terms; the API layer never needs to know about SQL or ent.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Code is an API error code, carried in GraphQL extensions.code.
type Code string

// Error codes of the API contract.
const (
	BadUserInput    Code = "BAD_USER_INPUT"
	NotFound        Code = "NOT_FOUND"
	Conflict        Code = "CONFLICT"
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	// RateLimited refuses a caller that failed too often; RetryAfter says
	// when to try again.
	RateLimited Code = "RATE_LIMITED"
	// Unavailable is a transient failure (the request ran out of time,
	// the database did not answer): the same request may succeed later.
	Unavailable Code = "UNAVAILABLE"
	Internal    Code = "INTERNAL"
)

// Error is a domain error safe to show to the caller.
type Error struct {
	Code    Code
	Message string
	// Field names the offending input field for BadUserInput.
	Field string
	// Details are shown to the caller in extensions (e.g. the list of
	// compile errors of a policy, each with row and column).
	Details map[string]any
	// Err is the cause, for logs only; never shown.
	Err error
	// RetryAfter, when set, is how long the caller should wait before
	// trying again (HTTP Retry-After).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid reports bad input in one field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf reports a missing (or other organization's) object.
func NotFoundf(format string, args ...any) *Error {
	return &Error{Code: NotFound, Message: fmt.Sprintf(format, args...)}
}

// Conflictf reports a request that contradicts current state.
func Conflictf(format string, args ...any) *Error {
	return &Error{Code: Conflict, Message: fmt.Sprintf(format, args...)}
}

// Forbiddenf reports a caller without the right.
func Forbiddenf(format string, args ...any) *Error {
	return &Error{Code: Forbidden, Message: fmt.Sprintf(format, args...)}
}

// Unauthenticatedf reports a missing or bad credential.
func Unauthenticatedf(format string, args ...any) *Error {
	return &Error{Code: Unauthenticated, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
