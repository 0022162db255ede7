package rpc

import (
	"errors"
	"fmt"
)

// Error is an error that crosses the connection: a handler's error arrives on
// the calling side as *Error. Handlers may return *Error to choose the Code;
// any other error arrives with CodeError and its text as Message.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes used by this package; applications may add their own.
const (
	CodeError         = "error"          // a handler returned a plain error
	CodeBadRequest    = "bad_request"    // the request body did not decode
	CodeUnknownMethod = "unknown_method" // no handler serves the method
	CodeInternal      = "internal"       // the handler panicked or its result did not encode
)

func (e *Error) Error() string {
	if e.Code == "" || e.Code == CodeError {
		return e.Message
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Code)
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// UnknownMethod is the error a Handler returns for a method it does not serve.
func UnknownMethod(method string) *Error {
	return Errorf(CodeUnknownMethod, "unknown method %q: the other side may run another dcres version", method)
}

// toWire turns a handler's error into the *Error sent back.
func toWire(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeError, Message: err.Error()}
}

var (
	// ErrClosed is Conn.Err after Close: the connection was closed by
	// this side.
	ErrClosed = errors.New("connection closed by this side")
	// ErrConnLost is wrapped by every error of an operation that failed
	// because the connection ended, and by Conn.Err after a loss.
	ErrConnLost = errors.New("connection lost")
)
