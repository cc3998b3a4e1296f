package signature

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/tongxing/tongxing/problem"
)

// MaxUpload is the largest request body the verification handler reads:
// the signature plus the signed file.
const MaxUpload = 64 << 20

// API is the verification API of signed filings.
type API struct {
	opts VerifyOptions
	log  *slog.Logger
}

// NewAPI returns the verification API checking signatures with opts. log
// may be nil.
func NewAPI(opts VerifyOptions, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &API{opts: opts, log: log}
}

// Routes registers the API on mux at /signature/v1/verify (see
// [API.ServeHTTP]).
func (a *API) Routes(mux *http.ServeMux) { mux.Handle("/signature/v1/verify", a) }

// ServeHTTP answers POST /signature/v1/verify. The body is
// multipart/form-data with a part "signature" (the DER .p7s) and, for
// detached signatures, a part "content" (the signed file). The answer is
// the Report as JSON (200, whatever the verdict), or Report.Text when the
// client accepts text/plain and not JSON. Errors are RFC 9457 problems:
// 405 for other methods, 415 for other media types, 413 above MaxUpload,
// 400 for a missing part.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := a.log
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		problem.WriteError(w, r, log, &problem.Error{Status: http.StatusMethodNotAllowed, Detail: "use POST with multipart/form-data"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
		problem.WriteError(w, r, log, &problem.Error{Status: http.StatusUnsupportedMediaType, Detail: "send multipart/form-data with parts signature and content"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxUpload)
	parts, err := readParts(r)
	if err != nil {
		problem.WriteError(w, r, log, err)
		return
	}
	sig, ok := parts["signature"]
	if !ok {
		problem.WriteError(w, r, log, problem.BadRequest("signature", "the signature part is missing"))
		return
	}
	rep, err := Verify(r.Context(), sig, parts["content"], a.opts)
	if err != nil {
		problem.WriteError(w, r, log, err) // configuration error: hidden 500, logged
		return
	}
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "text/plain") && !strings.Contains(accept, "json") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, rep.Text())
		return
	}
	problem.WriteJSON(w, http.StatusOK, rep)
}

// readParts reads the "signature" and "content" parts; others are refused.
func readParts(r *http.Request) (map[string][]byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, problem.BadRequest("", "malformed multipart body: %v", err)
	}
	parts := map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return parts, nil
		}
		if err != nil {
			return nil, tooLargeOr(err, "malformed multipart body")
		}
		name := p.FormName()
		if name != "signature" && name != "content" {
			return nil, problem.BadRequest(name, "unexpected part %q", name)
		}
		if _, dup := parts[name]; dup {
			return nil, problem.BadRequest(name, "part %q given twice", name)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, tooLargeOr(err, "cannot read part "+name)
		}
		parts[name] = b
	}
}

func tooLargeOr(err error, detail string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &problem.Error{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("body exceeds %d bytes", MaxUpload), Err: err}
	}
	return &problem.Error{Status: http.StatusBadRequest, Detail: detail, Err: err}
}
