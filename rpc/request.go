package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Handler serves one request. The result is encoded as the response body
// (nil for none); payload travels as the response's binary payload. ctx ends
// when the connection ends.
type Handler func(ctx context.Context, req *Request) (result any, payload []byte, err error)

// Request is one incoming call.
type Request struct {
	Method  string
	Body    json.RawMessage
	Payload []byte
	Conn    *Conn // the connection it came on, e.g. to Notify the caller
}

// Decode decodes the body into v strictly: unknown fields are refused, so a
// misspelt or newer parameter is not silently ignored. The error is an *Error
// with CodeBadRequest that names the method.
func (r *Request) Decode(v any) error {
	body := r.Body
	if len(body) == 0 {
		body = []byte("null")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeBadRequest, "%s: bad parameters: %v", r.Method, err)
	}
	if dec.More() {
		return Errorf(CodeBadRequest, "%s: bad parameters: trailing data after the JSON value", r.Method)
	}
	return nil
}

// marshalBody encodes v for a frame body; nil stays empty.
func marshalBody(what string, v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rpc: %s: encode body: %w", what, err)
	}
	return b, nil
}
