package timestamp

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/timestamp/internal/der"
)

// Media types of RFC 3161 §3.4.
const (
	ContentTypeQuery = "application/timestamp-query"
	ContentTypeReply = "application/timestamp-reply"
)

// Handler returns the HTTP interface of RFC 3161 §3.4, to be mounted at
// POST /tsa. Every request that reaches the protocol gets HTTP 200 and an
// application/timestamp-reply body, granted or rejected (the TimeStampResp
// carries the failure reason; clients that stop at a 4xx would lose it).
// Requests that do not reach the protocol get an RFC 9457 problem body:
//   - a method other than POST: 405, with Allow: POST;
//   - a Content-Type other than application/timestamp-query: 415;
//   - a body over MaxRequestSize (16 KiB): 413;
//   - a body that cannot be read: 400.
func (a *Authority) Handler() http.Handler {
	return http.HandlerFunc(a.serveHTTP)
}

// Routes registers [Authority.Handler] on mux at /tsa.
func (a *Authority) Routes(mux *http.ServeMux) { mux.Handle("/tsa", a.Handler()) }

func (a *Authority) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		problem.WriteError(w, r, a.log, &problem.Error{Status: http.StatusMethodNotAllowed, Detail: "use POST with an application/timestamp-query body"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != ContentTypeQuery {
		problem.WriteError(w, r, a.log, &problem.Error{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("Content-Type %q is not %s", r.Header.Get("Content-Type"), ContentTypeQuery)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.stats.rejections.Add(1)
			problem.WriteError(w, r, a.log, &problem.Error{Status: http.StatusRequestEntityTooLarge,
				Detail: fmt.Sprintf("time-stamp query exceeds %d bytes", MaxRequestSize), Err: err})
			return
		}
		problem.WriteError(w, r, a.log, &problem.Error{Status: http.StatusBadRequest, Detail: "cannot read the request body", Err: err})
		return
	}
	resp := a.Respond(r.Context(), body)
	var head, token []byte
	if resp.Status == StatusGranted && len(resp.StatusString) == 0 && resp.FailInfo == 0 {
		// The common answer is the token behind a few bytes of header:
		// write the two, rather than copying the token into a new buffer.
		head, token = grantedHeader(len(resp.Token)), resp.Token
	} else if head, err = resp.Marshal(); err != nil {
		problem.WriteError(w, r, a.log, err) // hidden 500, logged
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentTypeReply)
	h.Set("Content-Length", strconv.Itoa(len(head)+len(token)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err == nil && token != nil {
		_, _ = w.Write(token)
	}
}

// grantedStatus is the DER PKIStatusInfo of a plain grant: SEQUENCE {
// INTEGER 0 }.
var grantedStatus = []byte{der.TagSequence, 3, der.TagInteger, 1, 0}

// grantedHeader returns the bytes of a granted TimeStampResp that come
// before a token of n bytes: the outer SEQUENCE header and the status.
func grantedHeader(n int) []byte {
	b := make([]byte, 0, der.HeaderSize(len(grantedStatus)+n)+len(grantedStatus))
	b = der.AppendHeader(b, der.TagSequence, len(grantedStatus)+n)
	return append(b, grantedStatus...)
}
