package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// errTooLarge means a response to be filtered exceeds MaxFilteredResponse.
var errTooLarge = errors.New("gateway: the response is larger than the filtering buffer")

// statusWriter records the status sent to the caller. Informational (1xx)
// responses of the upstream are not passed on: their headers would reach
// the caller unfiltered, and ReverseProxy clears the response headers
// after each, which would drop the gateway's evidence headers; those
// (evidence) are set again on the final response.
type statusWriter struct {
	http.ResponseWriter
	status   int
	evidence http.Header
}

func newStatusWriter(w http.ResponseWriter) *statusWriter {
	ev := http.Header{}
	for k, v := range w.Header() {
		if isTongxing(k) {
			ev[k] = v
		}
	}
	return &statusWriter{ResponseWriter: w, evidence: ev}
}

func (w *statusWriter) WriteHeader(code int) {
	if code < 200 || w.status != 0 {
		return
	}
	w.status = code
	h := w.ResponseWriter.Header()
	for k, v := range w.evidence {
		h[k] = v
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// forward sends an allowed call to the upstream and records its result.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, c *call, up *url.URL) {
	claims := &CallerClaims{
		Issuer: g.cfg.Issuer, Subject: c.caller.ID, Audience: c.target,
		IssuedAt: c.start.Unix(), Expiry: c.start.Add(CallerTokenLifetime).Unix(), ID: newJTI(),
		Department: c.caller.Department, Service: c.caller.Service, Client: c.caller.Client,
		Purpose: c.purpose, Resource: c.match.Resource.ID, Fields: c.decision.Fields,
		Method: r.Method, Path: c.rest, Query: r.URL.RawQuery, BodySM3: fmtHex(c.bodySM3), TimeNano: c.start.UnixNano(),
		Digest: fmtHex(c.digest), AuditIndex: c.index,
	}
	if c.caller.Token != nil {
		claims.Act = c.caller.Token.Act
	}
	began := time.Now()
	tok, err := g.cfg.Signer.Sign(claims)
	g.m.since(stepCallerToken, began)
	if err != nil {
		g.log.ErrorContext(r.Context(), "gateway: sign caller token", "err", err)
		g.finish(r, c, http.StatusInternalServerError)
		writeDenial(w, newDenial(http.StatusInternalServerError, "the call could not be signed; it was not forwarded"))
		return
	}
	out := *up
	out.RawPath = up.Path + c.rest
	p, err := url.PathUnescape(out.RawPath)
	if err != nil {
		g.finish(r, c, http.StatusBadRequest)
		writeDenial(w, newDenial(http.StatusBadRequest, "the request path is not a valid escaped path"))
		return
	}
	out.Path = p
	out.RawQuery = r.URL.RawQuery
	hdr := cleanHeaders(r.Header)
	hdr.Set(HeaderCaller, tok)
	hdr.Set(HeaderTimestamp, w.Header().Get(HeaderTimestamp))
	hdr.Set(HeaderAuditIndex, strconv.FormatUint(c.index, 10))
	hdr.Set(HeaderResource, c.match.Resource.ID)
	if c.purpose != "" {
		hdr.Set(HeaderPurpose, c.purpose)
	}
	if c.decision.FilterFields {
		hdr.Set("Accept-Encoding", "identity") // the response must be readable to be filtered
	}
	var upstreamErr error
	proxy := &httputil.ReverseProxy{
		Transport: g.cfg.Transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = &out
			pr.Out.Host = out.Host
			pr.Out.Header = hdr
			// The body was read whole: it goes with a length, never chunked,
			// and the caller's trailers (which would bypass cleanHeaders)
			// are not forwarded.
			pr.Out.Trailer, pr.Out.TransferEncoding = nil, nil
			pr.Out.Body = io.NopCloser(bytes.NewReader(c.body))
			pr.Out.ContentLength = int64(len(c.body))
			pr.Out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(c.body)), nil }
			if len(c.body) == 0 && r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
				pr.Out.Body, pr.Out.GetBody = http.NoBody, nil
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			dropFields(resp.Header, false)
			// Trailers come with the end of the body: none pass a field
			// filter, no Tongxing-* one passes at all.
			dropFields(resp.Trailer, c.decision.FilterFields)
			resp.Body = &trailerGuard{ReadCloser: resp.Body, resp: resp, all: c.decision.FilterFields}
			if c.decision.FilterFields {
				return g.minimise(resp, c.decision.Fields)
			}
			return nil
		},
		ErrorHandler: func(rw http.ResponseWriter, req *http.Request, err error) {
			upstreamErr = err
			status, detail := http.StatusBadGateway, "the upstream could not be reached or answered badly"
			var ne net.Error
			switch {
			case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
				status, detail = http.StatusGatewayTimeout, "the upstream did not answer in time"
			case errors.Is(err, ErrNotFilterable):
				detail = "the upstream's response cannot be minimised to the allowed fields, so it is withheld"
			case errors.Is(err, errTooLarge):
				detail = fmt.Sprintf("the upstream's response exceeds %d bytes and cannot be minimised, so it is withheld", g.cfg.MaxFilteredResponse)
			}
			writeDenial(rw, newDenial(status, detail))
		},
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.UpstreamTimeout)
	defer cancel()
	sw := newStatusWriter(w)
	began = time.Now()
	defer func() {
		// ReverseProxy aborts the handler (http.ErrAbortHandler) when the
		// body cannot be copied after the status was sent: the upstream
		// stalled past the timeout or broke, or the caller left. The call
		// still gets its result entry, not with the status sent.
		if v := recover(); v != nil {
			status := http.StatusBadGateway
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				status = http.StatusGatewayTimeout
			}
			g.finish(r, c, status, fmt.Sprintf("the response was cut off after status %d was sent", sw.status))
			panic(v)
		}
	}()
	proxy.ServeHTTP(sw, r.WithContext(ctx))
	g.m.upstream.WithLabelValues(c.target).Observe(time.Since(began).Seconds())
	if upstreamErr != nil {
		g.log.WarnContext(r.Context(), "gateway: upstream call failed", "department", c.target, "resource", c.match.Resource.ID, "err", upstreamErr)
	}
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	g.finish(r, c, sw.status)
}

// finish appends the result entry, linked to the decision entry. The
// response is complete by then; the append runs in the background (at
// most maxBackground at once, beyond that in the handler) so that the
// caller does not wait for it, and deferred where the recorder can, so
// that it shares the next decision entry's commit instead of delaying it.
// [Gateway.Wait] waits for those appends.
func (g *Gateway) finish(r *http.Request, c *call, status int, reasons ...string) {
	e := g.entry(r, c)
	idx := c.index
	e.Action, e.Outcome, e.DecisionIndex = ActionResult, strconv.Itoa(status), &idx
	e.Reasons = reasons
	e.Latency = g.cfg.Now().Sub(c.start)
	if e.Latency < 0 {
		e.Latency = 0
	}
	ctx := context.WithoutCancel(r.Context())
	appendResult := g.cfg.Recorder.Append
	if d, ok := g.cfg.Recorder.(deferredRecorder); ok {
		appendResult = d.AppendDeferred
	}
	record := func() {
		if _, err := appendResult(ctx, e); err != nil {
			g.log.ErrorContext(ctx, "gateway: could not record the result of a forwarded call", "decision_index", c.index, "status", status, "err", err)
		}
	}
	select {
	case g.background <- struct{}{}:
		g.pending.Add(1)
		go func() {
			defer func() { <-g.background; g.pending.Done() }()
			record()
		}()
	default:
		record()
	}
}

// Wait waits until the result entries being appended in the background
// are durable, or ctx ends. Call it after the listener has shut down and
// before the audit log closes.
func (g *Gateway) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { g.pending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("gateway: result entries still being recorded: %w", ctx.Err())
	}
}

// minimise replaces a response body with only the allowed fields. Error
// responses keep only the standard problem members.
func (g *Gateway) minimise(resp *http.Response, fields []string) error {
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return fmt.Errorf("%w: content encoding %s", ErrNotFilterable, enc)
	}
	keep := fields
	if resp.StatusCode >= 300 {
		keep = []string{"type", "title", "status", "detail", "instance"}
	}
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified || resp.Request.Method == http.MethodHead {
		return nil
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return fmt.Errorf("%w: content type %q", ErrNotFilterable, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, g.cfg.MaxFilteredResponse+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if int64(len(body)) > g.cfg.MaxFilteredResponse {
		return errTooLarge
	}
	out, err := FilterFields(body, keep)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Etag")
	resp.Header.Del("Content-Md5")
	return nil
}

// dropFields deletes every Tongxing-* field of h, or every field if all.
func dropFields(h http.Header, all bool) {
	for k := range h {
		if all || isTongxing(k) {
			delete(h, k)
		}
	}
}

// trailerGuard drops the upstream's trailers that must not reach the
// caller once they have arrived, which is when the body ends (the
// transport fills resp.Trailer then, and ReverseProxy copies it after the
// body).
type trailerGuard struct {
	io.ReadCloser
	resp *http.Response
	all  bool
}

func (b *trailerGuard) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		dropFields(b.resp.Trailer, b.all)
	}
	return n, err
}

func fmtHex(b []byte) string { return fmt.Sprintf("%x", b) }
