package store

import (
	"errors"
	"fmt"
)

// Error codes shared by every layer. The web package maps each to one HTTP status.
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	ELIMIT        = "limit"
	EUNAUTHORIZED = "unauthorized"
	EINTERNAL     = "internal"
	// EUNAVAILABLE is a write the server cannot make for now (its disk is
	// full, or PostgreSQL is out of reach); the same request succeeds later.
	EUNAVAILABLE = "unavailable"
)

// Error is the application error: a machine-readable code, a message meant for
// the user, and optionally the input field it is about.
type Error struct {
	Code    string
	Message string
	Field   string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error about one input field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error inside err, EUNAVAILABLE for a
// write refused for lack of disk space, EINTERNAL for any other error, and ""
// for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	case isUnavailable(err):
		return EUNAVAILABLE
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the user-facing message of err. Internal errors are
// never shown to users: their message is "Internal error"; a full disk's is
// DiskFullMessage.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	case isDiskFull(err):
		return DiskFullMessage
	case isUnreachable(err):
		return DatabaseUnavailableMessage
	default:
		return "Internal error"
	}
}

// ErrorField returns the input field err is about, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
