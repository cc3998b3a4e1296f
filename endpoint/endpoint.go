package endpoint

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tongxing/tongxing/problem"
)

// Reply is the answer of a call that succeeded.
type Reply struct {
	// Status is the HTTP status; 0 means 200 OK.
	Status int
	// Header holds headers to send, such as Location or Cache-Control;
	// may be nil.
	Header http.Header
	// Body is sent as indented JSON (application/json), unless Write is
	// set.
	Body any
	// Write, when not nil, writes the body itself once the status and
	// Header (which then names the Content-Type) are sent. An error it
	// returns can no longer change the status: it is logged.
	Write func(w io.Writer) error
}

// OK returns a 200 reply with body.
func OK(body any) *Reply { return &Reply{Status: http.StatusOK, Body: body} }

// Created returns a 201 reply with body and, when location is not empty,
// the Location header.
func Created(location string, body any) *Reply {
	r := &Reply{Status: http.StatusCreated, Body: body}
	if location != "" {
		r.With("Location", location)
	}
	return r
}

// With sets header key to value and returns r.
func (r *Reply) With(key, value string) *Reply {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Header.Set(key, value)
	return r
}

// NoStore forbids caching the reply (Cache-Control: no-store), for
// answers that carry a secret or a state that changes, and returns r.
func (r *Reply) NoStore() *Reply { return r.With("Cache-Control", "no-store") }

// Options are what the endpoints of one API share. The zero value logs to
// slog.Default() and does nothing before answering.
type Options struct {
	// Log receives the causes of 5xx answers (which the client does not
	// see) and the errors of bodies that fail after the status was sent.
	// nil means slog.Default().
	Log *slog.Logger
	// Before, when not nil, runs once the outcome of a request is known
	// and before anything is written, with the status about to be sent
	// and the time since the request reached the endpoint. If it fails,
	// its error is answered instead: for a record that must be durable
	// before the answer, such as an audit entry of the request.
	Before func(r *http.Request, status int, elapsed time.Duration) error
	// BadBody, when not nil, is given the error of a body that cannot be
	// read, decoded or validated, and returns the error to answer: for
	// callers that count or record refusals.
	BadBody func(r *http.Request, err error) error
}

// Validator is implemented by request bodies that check themselves; the
// adapter calls Validate after decoding, and a failure is answered like a
// body that does not decode.
type Validator interface {
	Validate() error
}

// Func serves one call: r is the request and in its decoded JSON body.
type Func[In any] func(r *http.Request, in In) (*Reply, error)

// JSON returns a handler for calls with a JSON body of at most limit
// bytes, decoded into In by [problem.DecodeJSON]: unknown fields, trailing
// data and broken UTF-8 are 400s naming the field, a larger body 413.
func JSON[In any](o *Options, limit int64, f Func[In]) http.Handler {
	return handler(o, func(w http.ResponseWriter, r *http.Request) (*Reply, error) {
		var in In
		if err := decode(w, r, o, limit, &in); err != nil {
			return nil, err
		}
		return f(r, in)
	})
}

// OptionalJSON is [JSON] for calls whose body may be left out: a request
// without one (Content-Length 0) gets the zero In.
func OptionalJSON[In any](o *Options, limit int64, f Func[In]) http.Handler {
	return handler(o, func(w http.ResponseWriter, r *http.Request) (*Reply, error) {
		var in In
		if r.ContentLength != 0 {
			if err := decode(w, r, o, limit, &in); err != nil {
				return nil, err
			}
		}
		return f(r, in)
	})
}

// Call returns a handler for calls that read no body (GET, mostly): f
// reads what it needs from r, its path values and its query.
func Call(o *Options, f func(r *http.Request) (*Reply, error)) http.Handler {
	return handler(o, func(_ http.ResponseWriter, r *http.Request) (*Reply, error) { return f(r) })
}

// decode reads the body into in and validates it, passing a failure to
// o.BadBody.
func decode(w http.ResponseWriter, r *http.Request, o *Options, limit int64, in any) error {
	err := problem.DecodeJSON(w, r, limit, in)
	if err == nil {
		if v, ok := in.(Validator); ok { // in is a *In: In's methods count too
			err = v.Validate()
		}
	}
	if err != nil && o != nil && o.BadBody != nil {
		err = o.BadBody(r, err)
	}
	return err
}

// handler runs call and writes its outcome.
func handler(o *Options, call func(http.ResponseWriter, *http.Request) (*Reply, error)) http.Handler {
	if o == nil {
		o = &Options{}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reply, err := call(w, r)
		if err == nil && reply == nil {
			err = errors.New("endpoint: call returned neither a reply nor an error")
		}
		status := http.StatusOK
		if err != nil {
			status = problem.From(err).Status
		} else if reply.Status != 0 {
			status = reply.Status
		}
		if o.Before != nil {
			if berr := o.Before(r, status, time.Since(start)); berr != nil {
				reply, err = nil, berr
			}
		}
		if err != nil {
			problem.WriteError(w, r, o.log(), err)
			return
		}
		write(w, r, o.log(), status, reply)
	})
}

func write(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, reply *Reply) {
	for k, vs := range reply.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if reply.Write == nil {
		problem.WriteJSON(w, status, reply.Body)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := reply.Write(w); err != nil {
		log.ErrorContext(r.Context(), "response failed after its status was sent", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

func (o *Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.Default()
	}
	return o.Log
}
