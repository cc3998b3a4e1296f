package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/endpoint"
)

// Admin is the sysadmin's policy-bundle API. Its fields are required but
// for Unsigned and Logger.
type Admin struct {
	// Loader loads the activated bundle into the engine; its Store,
	// Verifier and Engine are the ones the API activates with.
	Loader *Loader
	// Guard admits the officers who may manage bundles (the server passes
	// the sysadmin role's guard).
	Guard func(http.Handler) http.Handler
	// Audit records an activation by actor from source, or a refused one
	// when refusal is not nil (a is then what is known of the bundle). An
	// activation it cannot record fails the request, though the bundle
	// stays active.
	Audit func(ctx context.Context, actor, source string, a *Active, refusal error) error
	// Unsigned says that the process runs an unsigned development policy:
	// activations are refused (409).
	Unsigned bool
	// Logger receives the causes of 5xx answers (nil: slog.Default()).
	Logger *slog.Logger
}

// BundleJSON is the body of GET and PUT /authz/v1/bundle.
type BundleJSON struct {
	Revision    string    `json:"revision"`
	SHA256      string    `json:"sha256,omitempty"`
	ActivatedAt time.Time `json:"activated_at,omitempty"`
	ActivatedBy string    `json:"activated_by,omitempty"`
	// Loaded is the revision this replica evaluates with.
	Loaded string `json:"loaded"`
}

// Routes registers the API on mux, every endpoint behind the guard:
//
//	PUT /authz/v1/bundle   activate a signed bundle (the body, .tar.gz, at most MaxBundleSize)
//	GET /authz/v1/bundle   the active bundle and the revision this replica evaluates with
//
// A bundle is verified against the policy-signer key and compiled before
// it is stored; every replica loads it within its poll interval. Refused
// bundles are audited too, and answered 422 (does not verify or compile)
// or 409 (cannot be stored), naming the field "bundle".
func (a *Admin) Routes(mux *http.ServeMux) {
	o := &endpoint.Options{Log: a.Logger}
	mux.Handle("PUT /authz/v1/bundle", a.Guard(endpoint.Call(o, a.put)))
	mux.Handle("GET /authz/v1/bundle", a.Guard(endpoint.Call(o, a.get)))
}

// BundleError is a refused bundle: its status, the request field at
// fault ("bundle" when the bundle itself is refused, else empty) and why.
type BundleError struct {
	Status int
	Field  string
	Err    error
}

// Error returns why the bundle was refused.
func (e *BundleError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *BundleError) Unwrap() error { return e.Err }

// HTTPStatus returns the status of the refusal.
func (e *BundleError) HTTPStatus() int { return e.Status }

// FieldName returns the field at fault.
func (e *BundleError) FieldName() string { return e.Field }

func (a *Admin) put(r *http.Request) (*endpoint.Reply, error) {
	p, _ := access.PrincipalFrom(r.Context())
	who := p.Actor()
	if a.Unsigned {
		return nil, &BundleError{Status: http.StatusConflict, Err: errors.New("this server runs an unsigned development policy (gateway.policy_dir); bundles cannot be activated")}
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBundleSize+1))
	if err != nil || len(raw) > MaxBundleSize {
		return nil, &BundleError{Status: http.StatusRequestEntityTooLarge, Err: fmt.Errorf("the bundle exceeds %d bytes", MaxBundleSize)}
	}
	ctx := r.Context()
	b, err := Read(bytes.NewReader(raw), a.Loader.Verifier)
	if err == nil {
		_, err = Load(ctx, b)
	}
	if err != nil {
		return nil, a.refuse(r, who, raw, &BundleError{Status: http.StatusUnprocessableEntity, Field: "bundle", Err: err})
	}
	act, err := a.Loader.Store.Activate(ctx, b.Manifest.Revision, raw, who)
	if err != nil {
		return nil, a.refuse(r, who, raw, &BundleError{Status: http.StatusConflict, Field: "bundle", Err: err})
	}
	if err := a.Audit(ctx, who, r.RemoteAddr, act, nil); err != nil {
		return nil, err
	}
	if _, err := a.Loader.LoadActive(ctx); err != nil {
		return nil, err
	}
	return endpoint.OK(BundleJSON{Revision: act.Revision, SHA256: act.SHA256, ActivatedAt: act.ActivatedAt, ActivatedBy: act.ActivatedBy, Loaded: a.loaded()}), nil
}

// refuse audits a refused bundle and returns the refusal.
func (a *Admin) refuse(r *http.Request, who string, raw []byte, refusal *BundleError) error {
	sum := sha256.Sum256(raw)
	if err := a.Audit(r.Context(), who, r.RemoteAddr, &Active{Revision: "?", SHA256: hex.EncodeToString(sum[:])}, refusal); err != nil {
		a.logger().ErrorContext(r.Context(), "audit: bundle refusal", "err", err)
	}
	return refusal
}

func (a *Admin) get(r *http.Request) (*endpoint.Reply, error) {
	info := BundleJSON{Loaded: a.loaded()}
	act, err := a.Loader.Store.Active(r.Context())
	if err != nil && !errors.Is(err, ErrNoBundle) {
		return nil, err
	}
	if act != nil {
		info.Revision, info.SHA256, info.ActivatedAt, info.ActivatedBy = act.Revision, act.SHA256, act.ActivatedAt, act.ActivatedBy
	}
	return endpoint.OK(info), nil
}

// loaded is the revision the engine evaluates with, or "".
func (a *Admin) loaded() string {
	if p := a.Loader.Engine.Current(); p != nil {
		return p.Revision()
	}
	return ""
}

func (a *Admin) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.Default()
	}
	return a.Logger
}
