package acmeca

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/smallstep/certificates/acme"
	acmeapi "github.com/smallstep/certificates/acme/api"
	acmenosql "github.com/smallstep/certificates/acme/db/nosql"
	apilog "github.com/smallstep/certificates/api/log"
	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"

	"github.com/tongxing/tongxing/ca"
)

// Prefix is the URL path under which the ACME server is mounted.
const Prefix = "/acme/"

// MaxRequestBody is the largest ACME request body read (a JWS; the biggest,
// finalize, carries a CSR of at most ca.MaxCSRSize bytes).
const MaxRequestBody = 64 << 10

// Server is the ACME server of the configured departments. Create it with
// [New], mount it with [Server.Routes] or [Server.Handler], release it with
// [Server.Close]. It is safe for concurrent use.
type Server struct {
	opts    *options
	ca      *ca.Authority
	cas     *CAS
	hints   *accountHints
	state   *db.DB
	acmeDB  acme.DB
	auth    *authority.Authority
	client  acme.Client
	linker  acme.Linker
	router  http.Handler
	closeFn func() error
}

// New builds the ACME server over a: one step-ca ACME provisioner per
// department (named by its slug, ID "acme/SLUG"), with a's intl root as
// step-ca's root and [CAS] as its issuer. It opens the state store named by
// [WithStateDir] or [WithPostgres]; ctx bounds that and its values are kept
// for the CA calls (see [NewCAS]).
func New(ctx context.Context, a *ca.Authority, opts ...Option) (*Server, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	hints := newAccountHints()
	cas, err := newCAS(ctx, a, o, hints)
	if err != nil {
		return nil, err
	}
	roots, issuing, err := intlChain(a)
	if err != nil {
		return nil, err
	}
	state, err := openState(ctx, o)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			state.Shutdown()
		}
	}()
	acmeDB, err := acmenosql.New(state)
	if err != nil {
		return nil, fmt.Errorf("acmeca: ACME state: %w", err)
	}
	provs, err := provisioners(o, cas.profile.Validity)
	if err != nil {
		return nil, err
	}
	cfg := &config.Config{
		AuthorityConfig: &config.AuthConfig{Provisioners: provs},
	}
	auth, err := authority.NewEmbedded(
		authority.WithConfig(cfg),
		authority.WithQuietInit(),
		authority.WithX509RootCerts(roots...),
		authority.WithX509IntermediateCerts(issuing...),
		authority.WithX509CAService(cas),
		authority.WithDatabase(&authDB{DB: state, ca: a, ctx: cas.ctx}),
	)
	if err != nil {
		return nil, fmt.Errorf("acmeca: step-ca authority: %w", err)
	}
	s := &Server{
		opts:   o,
		ca:     a,
		cas:    cas,
		hints:  hints,
		state:  state,
		acmeDB: acmeDB,
		auth:   auth,
		client: newChallengeClient(o.dial),
		linker: acme.NewLinker("localhost", strings.Trim(Prefix, "/")),
	}
	r := chi.NewRouter()
	r.Route(strings.TrimSuffix(Prefix, "/"), func(r chi.Router) { acmeapi.Route(r) })
	s.router = r
	s.closeFn = auth.Shutdown // closes state too
	ok = true
	return s, nil
}

// provisioners returns one ACME provisioner per department. Certificates
// last validity (the profile's); renewal through step-ca is disabled and the
// smallstep provisioner extension is not requested (Tongxing's profile makes
// the certificate anyway).
func provisioners(o *options, validity time.Duration) (provisioner.List, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("acmeca: profile %s has no validity", o.profile)
	}
	minDur := 5 * time.Minute
	if validity < minDur {
		minDur = validity
	}
	disable := true
	var list provisioner.List
	for _, d := range o.departments {
		p := &provisioner.ACME{
			ID:         "acme/" + d,
			Type:       provisioner.TypeACME.String(),
			Name:       d,
			RequireEAB: o.eab,
			Challenges: []provisioner.ACMEChallenge{provisioner.HTTP_01, provisioner.DNS_01, provisioner.TLS_ALPN_01},
			Claims: &provisioner.Claims{
				MinTLSDur:                  &provisioner.Duration{Duration: minDur},
				MaxTLSDur:                  &provisioner.Duration{Duration: validity},
				DefaultTLSDur:              &provisioner.Duration{Duration: validity},
				DisableRenewal:             &disable,
				DisableSmallstepExtensions: &disable,
			},
		}
		list = append(list, p)
	}
	return list, nil
}

// Routes mounts the ACME server on mux under [Prefix] ("/acme/").
func (s *Server) Routes(mux *http.ServeMux) { mux.Handle(Prefix, s.Handler()) }

// Handler returns the handler of every path under [Prefix]. Links in ACME
// responses use the request's Host with scheme https, so it must be served
// over TLS. Request bodies are cut at [MaxRequestBody].
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxRequestBody {
		ae := acme.NewDetailedError(acme.ErrorMalformedType, "request body of %d bytes; at most %d are read", r.ContentLength, MaxRequestBody)
		ae.Status = http.StatusRequestEntityTooLarge
		ae.Render(w, r)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBody)
	}
	ctx := authority.NewContext(r.Context(), s.auth)
	ctx = acme.NewContext(ctx, s.acmeDB, s.client, s.linker, nil)
	ctx = apilog.WithErrorLogger(ctx, s.logError)
	r = r.WithContext(ctx)
	if r.Method == http.MethodPost {
		if s.refuseNewOrder(w, r) {
			return
		}
		if release := s.holdFinalize(ctx, r.URL); release != nil {
			defer release()
		}
	}
	s.router.ServeHTTP(w, r)
}

// logError logs an error answer: server errors at Error with their cause,
// client errors at Debug. Causes never hold keys: step-ca keeps request data
// in separate fields, which are not logged.
func (s *Server) logError(_ http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		status = sc.StatusCode()
	}
	level := slog.LevelDebug
	if status >= http.StatusInternalServerError {
		level = slog.LevelError
	}
	s.opts.log.Log(r.Context(), level, "ACME request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
}

// holdFinalize records, for a finalize request, the account owning the order
// (see accountHints). It returns nil for other requests and unknown orders,
// which step-ca then refuses by itself.
func (s *Server) holdFinalize(ctx context.Context, u *url.URL) (release func()) {
	dept, orderID, ok := finalizePath(u.EscapedPath())
	if !ok || !s.opts.hasDepartment(dept) {
		return nil
	}
	o, err := s.acmeDB.GetOrder(ctx, orderID)
	if err != nil || o.AccountID == "" {
		return nil
	}
	var dnsNames, ips []string
	for _, id := range o.Identifiers {
		switch id.Type {
		case acme.DNS:
			dnsNames = append(dnsNames, id.Value)
		case acme.IP:
			ips = append(ips, id.Value)
		}
	}
	return s.hints.hold(hintKey(dept, dnsNames, ips), o.AccountID)
}

// finalizePath splits /acme/DEPT/order/ID/finalize.
func finalizePath(escaped string) (dept, orderID string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(escaped, Prefix), "/")
	if len(parts) != 4 || parts[1] != "order" || parts[3] != "finalize" || parts[2] == "" {
		return "", "", false
	}
	dept, err := url.PathUnescape(parts[0])
	if err != nil {
		return "", "", false
	}
	id, err := url.PathUnescape(parts[2])
	if err != nil {
		return "", "", false
	}
	return dept, id, true
}

// DirectoryURL returns the directory URL of a department for a server whose
// base URL is base, e.g. https://pki.example:8443/acme/tax/directory.
func DirectoryURL(base, department string) string {
	return strings.TrimSuffix(base, "/") + Prefix + url.PathEscape(department) + "/directory"
}

// ExternalAccountKey is an external account binding key: what an ACME
// client passes as its EAB key ID and HMAC key (lego: --eab --kid --hmac).
type ExternalAccountKey struct {
	KeyID      string
	HMACKey    []byte // secret: hand it to the department only
	Department string
	Reference  string
	CreatedAt  time.Time
}

// HMACKeyBase64 is the HMAC key in the unpadded base64url form ACME clients
// take.
func (k *ExternalAccountKey) HMACKeyBase64() string {
	return base64.RawURLEncoding.EncodeToString(k.HMACKey)
}

// ErrUnknownDepartment is returned for a department that is not configured.
var ErrUnknownDepartment = errors.New("acmeca: unknown department")

// NewExternalAccountKey creates a single-use external account binding key
// for department; reference, if not empty, is a unique label of the key
// (e.g. the service it is meant for). Keys are usable whether or not
// [WithExternalAccountBinding] is set, but checked only when it is.
func (s *Server) NewExternalAccountKey(ctx context.Context, department, reference string) (*ExternalAccountKey, error) {
	if !s.opts.hasDepartment(department) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDepartment, department)
	}
	if len(reference) > 256 {
		return nil, errors.New("acmeca: EAB reference longer than 256 bytes")
	}
	k, err := s.acmeDB.CreateExternalAccountKey(ctx, "acme/"+department, reference)
	if err != nil {
		return nil, fmt.Errorf("acmeca: create EAB key for %s: %w", department, err)
	}
	return &ExternalAccountKey{KeyID: k.ID, HMACKey: k.HmacKey, Department: department, Reference: k.Reference, CreatedAt: k.CreatedAt}, nil
}

// CAS returns the server's certificate authority service.
func (s *Server) CAS() *CAS { return s.cas }

// Close releases the state store. Requests in flight must have finished.
func (s *Server) Close() error {
	if s.closeFn == nil {
		return nil
	}
	err := s.closeFn()
	s.closeFn = nil
	return err
}
