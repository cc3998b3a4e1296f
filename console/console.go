package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/web"
	"github.com/tongxing/tongxing/web/rp"
)

//go:embed templates/*.html
var templates embed.FS

// ClientID is the console's client at the provider.
const ClientID = "tongxing-console"

// Officers is the officer registry; *access.Officers is one.
type Officers interface {
	List(ctx context.Context) ([]*access.Officer, error)
	Proposals(ctx context.Context, status string) ([]*access.Proposal, error)
	Propose(ctx context.Context, p *access.Principal, req access.ProposalRequest) (*access.Proposal, string, error)
	Approve(ctx context.Context, p *access.Principal, id string) (*access.Proposal, string, error)
	// SignOutConsole ends every console session of the officer p names
	// started no later than at.
	SignOutConsole(ctx context.Context, p *access.Principal, at time.Time) error
}

// AuditLog is what the auditor's pages read; *auditlog.Log is one.
type AuditLog interface {
	Search(ctx context.Context, q auditlog.Query) (*auditlog.Page, error)
	Entry(ctx context.Context, index uint64) (auditlog.Entry, error)
	LatestCheckpoint(ctx context.Context) (*auditlog.Checkpoint, error)
	Checkpoints(ctx context.Context, before uint64, limit int) ([]*auditlog.Checkpoint, error)
	InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error)
	Export(ctx context.Context, w io.Writer, q auditlog.Query) (*auditlog.ExportReport, error)
	// Token returns the timestamp token an entry references, if kept.
	Token(ctx context.Context, ref string) ([]byte, error)
}

// Certificates is the registration desk's view of the CA; *ca.Authority
// with its inventory is one (see [CA]).
type Certificates interface {
	Certificate(ctx context.Context, serial string) (*ca.Record, error)
	Certificates(ctx context.Context, f ca.Filter) ([]*ca.Record, error)
	SetStatus(ctx context.Context, ch ca.StatusChange) (*ca.Record, error)
	CreateCode(ctx context.Context, req ca.NewCodeRequest) (string, *ca.Code, error)
}

// Deps are what the console needs; every field is required except Logger.
type Deps struct {
	// Issuer is the provider's issuer URL; the console lives at
	// Issuer + "/console".
	Issuer string
	// Provider reaches the provider (rp.InProcess of the server's handler).
	Provider http.RoundTripper
	// Key signs the console's cookies and CSRF tokens (at least 16 bytes,
	// the same on every replica).
	Key      []byte
	Officers Officers
	Recorder access.Auditor
	Audit    AuditLog
	// Checkpoints verifies the log's signature on checkpoints.
	Checkpoints note.Verifier
	// TSARoots are the trust anchors of checkpoint timestamp tokens.
	TSARoots *smx509.CertPool
	CA       Certificates
	// Accounts is the sign-on administration API (authn's /authn/v1:
	// Provider.AdminRoutes on a mux of its own, whose guard admits the
	// principal in the request's context). It is never mounted for the
	// network: the console calls it in-process after its own role check.
	Accounts http.Handler
	// Policies is the gateway policy (optional: nil without a gateway).
	Policies Policies
	// Bundles is the policy-bundle API (authz.Admin's routes, PUT
	// /authz/v1/bundle, on a mux of its own whose guard admits the
	// sysadmin principal in the request's context), called in-process
	// like Accounts (optional: nil turns uploads off).
	Bundles http.Handler
	// Recovery is the KMC's key recovery.
	Recovery KeyRecovery
	Registry *department.Registry
	Logger   *slog.Logger
}

// Console serves /console. Build it with [New].
type Console struct {
	d      Deps
	prefix string
	// issuerPath is the issuer URL's path, below which the provider's
	// endpoints live.
	issuerPath string
	site       *web.Site
	rp         *rp.RP
	cookies    *web.Signer
	csrf       *web.CSRF
	idle       time.Duration
	fresh      time.Duration
	lifetime   time.Duration
	now        func() time.Time
}

// Option changes a default of [New].
type Option func(*Console)

// WithIdleTimeout ends a console session unused for d (default 15 min).
func WithIdleTimeout(d time.Duration) Option { return func(c *Console) { c.idle = d } }

// WithFreshAuth sets how recent a sign-in must be before revocation, key
// recovery and officer changes (default 5 min).
func WithFreshAuth(d time.Duration) Option { return func(c *Console) { c.fresh = d } }

// New returns the console.
func New(d Deps, opts ...Option) (*Console, error) {
	c := &Console{d: d, idle: 15 * time.Minute, fresh: 5 * time.Minute, lifetime: 8 * time.Hour, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	if d.Officers == nil || d.Recorder == nil || d.Audit == nil || d.CA == nil || d.Recovery == nil || d.Accounts == nil || d.Registry == nil || d.Provider == nil || d.Checkpoints == nil || d.TSARoots == nil {
		return nil, errors.New("console: missing dependency")
	}
	if c.d.Logger == nil {
		c.d.Logger = slog.Default()
	}
	c.issuerPath = strings.TrimRight(pathOf(d.Issuer), "/")
	c.prefix = c.issuerPath + "/console"
	var err error
	if c.cookies, err = web.NewSigner(d.Key, "console"); err != nil {
		return nil, err
	}
	if c.csrf, err = web.NewCSRF(d.Key); err != nil {
		return nil, err
	}
	if c.rp, err = rp.New(d.Issuer, ClientID, strings.TrimRight(d.Issuer, "/")+"/console/callback", "tx_console_login", d.Provider, c.cookies); err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"dept": c.deptName, "console": func() string { return c.prefix },
		"list": func(v ...string) []string { return v },
		// pathseg makes free text (a user name) one URL path segment:
		// html/template leaves "/", "?" and "#" in a path as they are.
		"pathseg": url.PathEscape}
	if c.site, err = web.New(templates, []string{"templates/*.html"}, "console.brand", messages, funcs, c.d.Logger); err != nil {
		return nil, err
	}
	return c, nil
}

// Client is the console's registration at the provider: a public client
// (PKCE) whose only redirect is the console's callback, at least
// urn:tongxing:loa:3, public subjects (the account ID, which officers are
// bound to).
func Client(issuer string) (id, name, redirect, minACR string) {
	return ClientID, "通行管理控制台 Tongxing officer console", strings.TrimRight(issuer, "/") + "/console/callback", "urn:tongxing:loa:3"
}

// Routes registers the console on mux.
func (c *Console) Routes(mux *http.ServeMux) {
	h := web.Under(mux, c.prefix)
	h("GET /{$}", c.home)
	h("GET /signin", c.signin)
	h("GET /callback", c.callback)
	h("POST /signout", c.signout)
	c.auditRoutes(h)
	c.raRoutes(h)
	c.recoveryRoutes(h)
	c.adminRoutes(h)
	c.userRoutes(h)
	c.policyRoutes(h)
	c.proposalRoutes(h)
}

// deptName returns a department's name in lang for its ID, the ID itself
// when it is not registered.
func (c *Console) deptName(lang, id string) string {
	if id == "" {
		return "—"
	}
	d, err := c.d.Registry.Lookup(id)
	if err != nil {
		return id
	}
	if lang == "en" && d.NameEN != "" {
		return d.NameEN
	}
	return d.Name
}

func pathOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
		if j := strings.IndexByte(u, '/'); j >= 0 {
			return u[j:]
		}
		return ""
	}
	return u
}
