// Package problem writes and reads RFC 9457 problem details
// (application/problem+json), the error body of every Tongxing HTTP API.
//
// Domain packages return errors; their HTTP handlers turn them into a
// [Details] with [From], which takes the status, field and message from an
// error that implements [HTTPError] and hides everything else behind a generic
// 500 that is logged, not shown.
package problem

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// Details is an RFC 9457 problem. Field names the request field at fault, when
// there is one; InvalidParams carries it in the form RFC 9457 §3 shows.
type Details struct {
	Type          string         `json:"type"`
	Title         string         `json:"title"`
	Status        int            `json:"status"`
	Detail        string         `json:"detail,omitempty"`
	Instance      string         `json:"instance,omitempty"`
	Field         string         `json:"field,omitempty"`
	InvalidParams []InvalidParam `json:"invalid-params,omitempty"`
}

// InvalidParam names one invalid request parameter and why.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Error implements error so a decoded problem can be returned by clients.
func (d *Details) Error() string {
	if d.Detail != "" {
		return fmt.Sprintf("%s (HTTP %d): %s", d.Title, d.Status, d.Detail)
	}
	return fmt.Sprintf("%s (HTTP %d)", d.Title, d.Status)
}

// HTTPError is implemented by errors that know their HTTP status. Detail is
// shown to the client, so it must not carry secrets.
type HTTPError interface {
	error
	HTTPStatus() int
}

// FieldError is implemented by errors about one request field.
type FieldError interface {
	error
	FieldName() string
}

// Error is a ready-made [HTTPError] with an optional field.
type Error struct {
	Status int
	Field  string
	Detail string
	Err    error // optional cause, for errors.Is; not shown to clients
}

// Error returns the detail, prefixed by the field if any.
func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Detail
	}
	return e.Detail
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus returns e.Status.
func (e *Error) HTTPStatus() int { return e.Status }

// FieldName returns e.Field.
func (e *Error) FieldName() string { return e.Field }

// BadRequest returns a 400 error about field.
func BadRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// New returns a problem for status with the given detail.
func New(status int, detail string) *Details {
	return &Details{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}

// From converts err into a problem. Errors that are not [HTTPError] become a
// 500 whose detail does not reveal the error; the caller logs it.
func From(err error) *Details {
	var d *Details
	if errors.As(err, &d) {
		return d
	}
	var he HTTPError
	if !errors.As(err, &he) {
		return New(http.StatusInternalServerError, "internal error")
	}
	p := New(he.HTTPStatus(), he.Error())
	var fe FieldError
	if errors.As(err, &fe) && fe.FieldName() != "" {
		p.Field = fe.FieldName()
		p.InvalidParams = []InvalidParam{{Name: fe.FieldName(), Reason: fe.Error()}}
	}
	return p
}

// RetryAfterError is implemented by errors that tell the client when to try
// again, such as a 429 from a rate limit; [WriteError] sends it as the
// Retry-After header (RFC 9110 §10.2.3).
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// RetryAfterSeconds rounds d up to whole seconds, at least 1, as
// Retry-After takes.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Write sends p as the response.
func Write(w http.ResponseWriter, p *Details) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteError converts err with [From] and sends it, logging 5xx errors with
// their real cause on log (which may be nil). An error that is a
// [RetryAfterError] also sets the Retry-After header.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := From(err)
	var ra RetryAfterError
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(ra.RetryAfter())))
	}
	if p.Status >= 500 && log != nil {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p.Instance = r.URL.Path
	Write(w, p)
}

// Read decodes a problem body from resp if it has one, or describes the
// response otherwise. It reads at most 64 KiB.
func Read(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var p Details
	if err := json.Unmarshal(body, &p); err == nil && p.Status != 0 {
		return &p
	}
	return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, body)
}

// DecodeJSON decodes a JSON request body of at most limit bytes into v,
// rejecting unknown fields and trailing data, and strings that are not valid
// UTF-8 or hold unpaired UTF-16 surrogate escapes (which encoding/json would
// silently turn into U+FFFD), naming the field. The errors it returns are
// 400s (413 for an oversized body).
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("request body exceeds %d bytes", limit), Err: err}
		}
		return &Error{Status: http.StatusBadRequest, Detail: "could not read the request body", Err: err}
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return &Error{Status: http.StatusBadRequest, Field: ute.Field, Detail: fmt.Sprintf("wrong JSON type %s", ute.Value), Err: err}
		}
		return &Error{Status: http.StatusBadRequest, Detail: "malformed JSON body: " + err.Error(), Err: err}
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Detail: "trailing data after the JSON body"}
	}
	return nil
}

// WriteJSON sends v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
