package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emmansun/gmsm/sm3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/problem"
)

// Audit actions of the gateway.
const (
	ActionCall         = "gateway.call"
	ActionResult       = "gateway.call.result"
	ActionEvidenceRead = "gateway.evidence.read"
)

// Defaults of [Config].
const (
	DefaultMaxBody             = 1 << 20
	DefaultMaxFilteredResponse = 4 << 20
	DefaultUpstreamTimeout     = 30 * time.Second
	DefaultIdentityCacheTTL    = 5 * time.Second
)

// Stamp is a timestamp token over a request digest.
type Stamp struct {
	Token  []byte    // DER
	Serial string    // lower-case hex serial number
	Time   time.Time // genTime
}

// Stamper timestamps an SM3 digest; the server's adapter calls the
// in-process TSA.
type Stamper interface {
	Stamp(ctx context.Context, sm3Digest []byte) (*Stamp, error)
}

// StampKeeper appends an audit entry together with the timestamp token it
// references (its TimestampToken field), both durable in one commit, and
// returns the entry's index; *auditlog.Log is one.
type StampKeeper interface {
	AppendWithToken(ctx context.Context, e auditlog.Entry, der []byte) (uint64, error)
}

// stampRef is how an audit entry references stamp st.
func stampRef(st *Stamp) string { return "tsa:serial:" + st.Serial }

// Recorder appends an audit entry and returns its index only once it is
// durable; *auditlog.Log is one.
type Recorder interface {
	Append(ctx context.Context, e auditlog.Entry) (uint64, error)
}

// deferredRecorder is a Recorder that can let an entry nobody waits on
// share a later commit; *auditlog.Log is one.
type deferredRecorder interface {
	AppendDeferred(ctx context.Context, e auditlog.Entry) (uint64, error)
}

// PolicySource gives the current policy; *authz.Engine is one. nil means
// no policy is loaded, and every call is refused with 503.
type PolicySource interface {
	Current() *authz.Policy
}

// Config configures a [Gateway]. Registry, Policy, Stamper, Recorder,
// Revocation, Signer and Transport are required.
type Config struct {
	Registry *department.Registry
	// TrustDomain of SPIFFE IDs in service certificates.
	TrustDomain string
	Policy      PolicySource
	Stamper     Stamper
	Recorder    Recorder
	// Evidence serves /gateway/v1/evidence; nil turns the endpoint off.
	Evidence EvidenceReader
	// Stamps appends each call's decision entry with its timestamp token
	// kept beside it, for review (optional: nil appends through Recorder
	// and keeps only the reference in the entry).
	Stamps StampKeeper
	// Tokens verifies bearer tokens; nil accepts certificates only.
	Tokens     TokenVerifier
	Revocation RevocationChecker
	// Signer signs Tongxing-Caller tokens; Issuer is their iss.
	Signer *CallerSigner
	Issuer string
	// Transport reaches the upstreams (see [NewTransport]).
	Transport http.RoundTripper
	// CitizenKey keys citizen pseudonyms and audit hashes (the deployment's
	// pseudonym key). Without it calls naming a citizen are refused.
	CitizenKey []byte
	// MaxBody bounds request bodies where the resource sets no max_body
	// (default 1 MiB). MaxFilteredResponse bounds a response filtered to
	// its allowed fields (default 4 MiB). UpstreamTimeout bounds a call to
	// an upstream, response body included (default 30s).
	MaxBody             int64
	MaxFilteredResponse int64
	UpstreamTimeout     time.Duration
	// CallerLimit and ResourceLimit are the default rates per caller
	// identity and per resource id (zero: unlimited); the overrides are
	// keyed by caller identity or department id (callers) and resource id.
	CallerLimit       Limit
	ResourceLimit     Limit
	CallerOverrides   map[string]Limit
	ResourceOverrides map[string]Limit
	// IdentityCacheTTL is how long a verified token or a certificate's
	// revocation status is reused (default 5s; negative: never).
	IdentityCacheTTL time.Duration
	Logger           *slog.Logger
	// Registerer receives the gateway's metrics (nil: none registered).
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Gateway is the policy enforcement point. It is safe for concurrent use.
type Gateway struct {
	cfg       Config
	upstreams map[string]*url.URL
	id        *identifier
	callers   *limiters
	resources *limiters
	log       *slog.Logger
	m         metrics

	background chan struct{} // slots for result appends in the background
	pending    sync.WaitGroup
}

// maxBackground bounds the result entries appended in the background.
const maxBackground = 4096

type metrics struct {
	calls       *prometheus.CounterVec
	unavailable *prometheus.CounterVec
	policyErr   prometheus.Counter
	limited     *prometheus.CounterVec
	upstream    *prometheus.HistogramVec
	step        *prometheus.HistogramVec
	steps       map[string]prometheus.Observer // step's series, resolved once
}

// The steps of a call timed in tongxing_gateway_step_duration_seconds.
const (
	stepIdentify    = "identify"     // the caller's certificate or token
	stepDecide      = "decide"       // the policy decision
	stepTimestamp   = "timestamp"    // the timestamp token over the request digest
	stepAudit       = "audit"        // the decision entry made durable
	stepCallerToken = "caller_token" // signing Tongxing-Caller
)

// since observes the time since start as step and returns now.
func (m *metrics) since(step string, start time.Time) time.Time {
	now := time.Now()
	m.steps[step].Observe(now.Sub(start).Seconds())
	return now
}

// New checks cfg and returns the gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.Registry == nil || cfg.Policy == nil || cfg.Stamper == nil || cfg.Recorder == nil || cfg.Revocation == nil || cfg.Signer == nil || cfg.Transport == nil {
		return nil, errors.New("gateway: Registry, Policy, Stamper, Recorder, Revocation, Signer and Transport are required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxFilteredResponse <= 0 {
		cfg.MaxFilteredResponse = DefaultMaxFilteredResponse
	}
	if cfg.UpstreamTimeout <= 0 {
		cfg.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if cfg.IdentityCacheTTL == 0 {
		cfg.IdentityCacheTTL = DefaultIdentityCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: cfg, upstreams: map[string]*url.URL{}, log: cfg.Logger, background: make(chan struct{}, maxBackground)}
	for _, d := range cfg.Registry.All() {
		if d.Upstream == "" {
			continue
		}
		u, err := url.Parse(d.Upstream)
		if err != nil {
			return nil, fmt.Errorf("gateway: upstream of %s: %w", d.ID, err)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		g.upstreams[d.ID] = u
	}
	g.id = &identifier{registry: cfg.Registry, trustDomain: cfg.TrustDomain, tokens: cfg.Tokens, revocation: cfg.Revocation,
		cacheTTL: cfg.IdentityCacheTTL, now: cfg.Now, certs: map[string]cached[error]{}, toks: map[[32]byte]cached[*authnToken]{}}
	g.callers = newLimiters(cfg.CallerLimit, cfg.CallerOverrides, cfg.Now)
	g.resources = newLimiters(cfg.ResourceLimit, cfg.ResourceOverrides, cfg.Now)
	g.m = metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tongxing_gateway_calls_total",
			Help: "Gateway calls by target department and outcome (allow, deny, refused before the policy, unavailable)."}, []string{"department", "outcome"}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tongxing_gateway_unavailable_total",
			Help: "Calls refused with 503 because a dependency failed (tsa, audit, policy): nothing was forwarded."}, []string{"dependency"}),
		policyErr: prometheus.NewCounter(prometheus.CounterOpts{Name: "tongxing_gateway_policy_errors_total",
			Help: "Policy evaluations that failed and so denied (alert on any)."}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tongxing_gateway_rate_limited_total",
			Help: "Calls refused with 429, by limit (caller, resource)."}, []string{"limit"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tongxing_gateway_upstream_duration_seconds",
			Help: "Latency of forwarded calls by department.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"department"}),
		step: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tongxing_gateway_step_duration_seconds",
			Help:    "Time a call spends in each step before it is forwarded: identify, decide, timestamp, audit (the decision entry made durable), caller_token.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 16)}, []string{"step"}),
	}
	g.m.steps = map[string]prometheus.Observer{}
	for _, step := range []string{stepIdentify, stepDecide, stepTimestamp, stepAudit, stepCallerToken} {
		g.m.steps[step] = g.m.step.WithLabelValues(step)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{g.m.calls, g.m.unavailable, g.m.policyErr, g.m.limited, g.m.upstream, g.m.step} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("gateway: metrics: %w", err)
			}
		}
	}
	return g, nil
}

// NewTransport returns the tuned upstream transport: TLS 1.2+ with the
// gateway's client certificate, upstream certificates verified against
// roots, HTTP/2 when the upstream offers it, a large idle pool per host,
// and dial, handshake and response-header timeouts.
func NewTransport(clientCert tls.Certificate, roots *x509.CertPool, responseHeaderTimeout time.Duration) *http.Transport {
	if responseHeaderTimeout <= 0 {
		responseHeaderTimeout = DefaultUpstreamTimeout
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, Certificates: []tls.Certificate{clientCert}},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
	}
}

// Handler returns the gateway's routes: /gw/{department}/{path...},
// GET /gateway/v1/keys, GET /gateway/v1/evidence/{index} and GET /healthz.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/gw/", g.serveCall)
	mux.HandleFunc("GET /gateway/v1/keys", g.serveKeys)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		problem.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if g.cfg.Evidence != nil {
		mux.HandleFunc("GET /gateway/v1/evidence/{index}", g.serveEvidence)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusNotFound, "no such endpoint: calls go to /gw/{department}/{path}"))
	})
	return mux
}

// Routes registers the gateway's routes on the main listener: GET
// /gateway/v1/keys, the published key set that verifies Tongxing-Caller
// tokens (also on the gateway's own listener, see [Gateway.Handler]).
func (g *Gateway) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /gateway/v1/keys", g.serveKeys)
}

func (g *Gateway) serveKeys(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(g.cfg.Signer.KeySet())
}

// denial is the problem body of a refused call.
type denial struct {
	problem.Details
	Reasons        []string `json:"reasons,omitempty"`
	PolicyRevision string   `json:"policy_revision,omitempty"`
	AuditIndex     *uint64  `json:"audit_index,omitempty"`
}

func writeDenial(w http.ResponseWriter, d *denial) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(d.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(d)
}

func newDenial(status int, detail string) *denial {
	return &denial{Details: *problem.New(status, detail)}
}

// call is one request through the gateway.
type call struct {
	start      time.Time
	target     string
	rest       string // escaped path below /gw/TARGET
	caller     *Caller
	policy     *authz.Policy
	match      *authz.Match
	purpose    string
	body       []byte
	bodySM3    []byte
	citizen    authz.Citizen
	citizenTag string     // audit citizen hash
	query      url.Values // the parsed query, which is forwarded as given
	resource   string     // audit description
	decision   *authz.Decision
	digest     []byte
	stamp      *Stamp
	index      uint64
}

func (g *Gateway) serveCall(w http.ResponseWriter, r *http.Request) {
	c := &call{start: g.cfg.Now()}
	path := r.URL.EscapedPath()
	target, rest, _ := strings.Cut(strings.TrimPrefix(path, "/gw/"), "/")
	rest = "/" + rest
	c.target, c.rest = target, rest
	up, ok := g.upstreams[target]
	if !ok {
		g.refuse(w, c, http.StatusNotFound, fmt.Sprintf("department %q takes no calls through the gateway", target))
		return
	}
	began := time.Now()
	caller, err := g.id.identify(r, target)
	g.m.since(stepIdentify, began)
	if err != nil {
		g.refuseErr(w, r, c, err)
		return
	}
	c.caller = caller
	if ok, wait := g.allowCaller(caller); !ok {
		g.limited(w, c, "caller", wait)
		return
	}
	purpose, err := ParsePurpose(r.Header)
	if err != nil {
		g.refuseErr(w, r, c, err)
		return
	}
	c.purpose = purpose
	if strings.Contains(r.URL.RawQuery, ";") {
		// Go reads a ';' as part of a value and drops the pair, other
		// servers read it as a separator: the policy and the upstream
		// could see different parameters.
		g.refuse(w, c, http.StatusBadRequest, "the query contains ';', which servers read differently; separate parameters with '&' and escape ';' in values as %3B")
		return
	}
	// The query is forwarded as given: a pair Go cannot read would be
	// dropped here (and by the policy) but read by a lenient upstream.
	if c.query, err = url.ParseQuery(r.URL.RawQuery); err != nil {
		g.refuse(w, c, http.StatusBadRequest, fmt.Sprintf("the query cannot be read unambiguously (%v); escape '%%' as %%25", err))
		return
	}
	c.policy = g.cfg.Policy.Current()
	if c.policy == nil {
		g.unavailable(w, r, c, "policy", "no policy bundle is loaded")
		return
	}
	if m, ok := c.policy.Catalogue().Match(target, r.Method, rest); ok {
		c.match = m
		if ok, wait := g.resources.allow(m.Resource.ID); !ok {
			g.limited(w, c, "resource", wait)
			return
		}
	}
	if !g.readBody(w, r, c) {
		return
	}
	if !g.citizenOf(w, r, c) {
		return
	}
	c.resource = g.describe(c, r)
	in := &authz.Input{
		Caller:  authz.Caller{Department: caller.Department, Service: caller.Service, Client: caller.Client, ID: caller.ID, Via: caller.Via},
		Target:  target,
		Purpose: purpose,
		Citizen: c.citizen,
		Time:    c.start,
		Method:  r.Method,
		Path:    c.policyPath(),
	}
	if c.match != nil {
		in.ResourceID = c.match.Resource.ID
	}
	began = time.Now()
	c.decision = c.policy.Decide(r.Context(), in)
	g.m.since(stepDecide, began)
	if c.decision.Allow && c.match == nil {
		// Only catalogued resources can be forwarded (routes, limits and
		// minimisation come from the catalogue), whatever a policy says.
		c.decision.Allow, c.decision.FilterFields, c.decision.Fields = false, false, nil
		c.decision.Reasons = append([]string{"the request matches no resource of the catalogue; only catalogued resources are forwarded"}, c.decision.Reasons...)
	}
	if c.decision.Error != nil {
		g.m.policyErr.Inc()
		g.log.ErrorContext(r.Context(), "gateway: policy evaluation failed; denying", "revision", c.decision.Revision, "err", c.decision.Error)
	}
	if !g.evidence(w, r, c) {
		return
	}
	w.Header().Set(HeaderTimestamp, base64.StdEncoding.EncodeToString(c.stamp.Token))
	w.Header().Set(HeaderAuditIndex, strconv.FormatUint(c.index, 10))
	w.Header().Set(HeaderRevision, c.decision.Revision)
	if !c.decision.Allow {
		g.m.calls.WithLabelValues(target, "deny").Inc()
		d := newDenial(http.StatusForbidden, "denied by policy: "+firstOr(c.decision.Reasons, "no rule grants the call"))
		d.Reasons, d.PolicyRevision, d.AuditIndex = c.decision.Reasons, c.decision.Revision, &c.index
		writeDenial(w, d)
		return
	}
	g.m.calls.WithLabelValues(target, "allow").Inc()
	g.forward(w, r, c, up)
}

func firstOr(l []string, def string) string {
	if len(l) > 0 {
		return l[0]
	}
	return def
}

func (g *Gateway) allowCaller(c *Caller) (bool, time.Duration) {
	key := c.ID
	if _, ok := g.cfg.CallerOverrides[key]; !ok {
		if _, ok := g.cfg.CallerOverrides[c.Department]; ok {
			key = c.Department
		}
	}
	return g.callers.allow(key)
}

// readBody reads the request body up to the resource's limit.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request, c *call) bool {
	limit := g.cfg.MaxBody
	if c.match != nil && c.match.Resource.MaxBody > 0 {
		limit = c.match.Resource.MaxBody
	}
	if r.ContentLength > limit {
		g.refuse(w, c, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes, the limit of this resource", limit))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			g.refuse(w, c, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes, the limit of this resource", limit))
		} else {
			g.refuse(w, c, http.StatusBadRequest, "the request body could not be read")
		}
		return false
	}
	c.body = body
	h := sm3.Sum(body)
	c.bodySM3 = h[:]
	return true
}

// citizenOf pseudonymises the citizen a call is about: the one a
// token-exchange token acts for and the one the resource's identifying
// parameter names.
func (g *Gateway) citizenOf(w http.ResponseWriter, r *http.Request, c *call) bool {
	key := g.cfg.CitizenKey
	if st := c.caller.Token; st != nil && st.UserID != "" {
		if len(key) == 0 {
			g.unavailable(w, r, c, "policy", "no citizen key is configured; calls for a citizen cannot be recorded")
			return false
		}
		c.citizen.ActedFor = auditlog.CitizenHash(key, st.UserID)
		c.citizen.ActedForID = st.CitizenIDPseudonym
		c.citizenTag = c.citizen.ActedFor
	}
	if c.match == nil || c.match.Resource.CitizenField == nil {
		return true
	}
	f := c.match.Resource.CitizenField
	q, name := c.query, paramName(f.Name)
	for k := range q {
		switch {
		case paramName(k) != name && paramName(phpParamName(k)) != name:
		case f.In == "path":
			g.refuse(w, c, http.StatusBadRequest, fmt.Sprintf("the citizen is named in the path; query parameter %s would name another to servers that read it", k))
			return false
		case k != f.Name:
			g.refuse(w, c, http.StatusBadRequest, fmt.Sprintf("query parameter %s is also given as %s, which some servers read as the same parameter", f.Name, k))
			return false
		}
	}
	var v string
	switch f.In {
	case "path":
		v = c.match.Params[f.Name]
	case "query":
		if len(q[f.Name]) > 1 {
			g.refuse(w, c, http.StatusBadRequest, fmt.Sprintf("query parameter %s is given more than once", f.Name))
			return false
		}
		v = q.Get(f.Name)
	}
	if v == "" {
		return true
	}
	// The value is forwarded as given and its pseudonym recorded: only a
	// citizen ID number in its one written form (18 characters, check
	// character 0-9 or upper-case X) names the citizen whose access log
	// shows the call; anything else (wildcards, padding, suffixes,
	// full-width digits) could reach another record upstream.
	if err := ident.ValidateCitizenID(v); err != nil {
		g.refuse(w, c, http.StatusBadRequest, fmt.Sprintf("%s parameter %s is not a citizen ID number (GB 11643: 17 digits and a check character 0-9 or upper-case X)", f.In, f.Name))
		return false
	}
	if len(key) == 0 {
		g.unavailable(w, r, c, "policy", "no citizen key is configured; calls naming a citizen cannot be recorded")
		return false
	}
	c.citizen.Named = ident.Pseudonym(key, v)
	if c.citizenTag == "" {
		c.citizenTag = NamedCitizenHash(key, c.citizen.Named)
	}
	return true
}

// NamedCitizenHash is the audit citizen hash of a call that names a
// citizen by ID number but acts for no one: CitizenHash of "idp:" and the
// ID number's pseudonym. The citizen's access log searches for it besides
// the hash of the account.
func NamedCitizenHash(key []byte, pseudonym string) string {
	return auditlog.CitizenHash(key, "idp:"+pseudonym)
}

// policyPath is the path the policy and the audit log see: the resource's
// pattern when one matched (no parameter values, so no ID numbers), else
// the request path with long digit runs masked.
func (c *call) policyPath() string {
	if c.match != nil {
		return c.match.Resource.Path
	}
	return redactPath(c.rest)
}

// redactPath masks every segment holding six or more digits, which may be
// an identity number, in a path that matched no resource.
func redactPath(p string) string {
	if len(p) > 512 {
		p = p[:512]
		for !utf8.ValidString(p) {
			p = p[:len(p)-1]
		}
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = redact(s)
	}
	return strings.ToValidUTF8(strings.Join(segs, "/"), "\uFFFD")
}

// redact masks s if it holds six or more digits, which may be an
// identity number.
func redact(s string) string {
	digits := 0
	for j := 0; j < len(s); j++ {
		if s[j] >= '0' && s[j] <= '9' {
			digits++
		}
	}
	if digits >= 6 {
		return "{redacted}"
	}
	return s
}

// describe is the audit Object.Resource: resource id, method, the path
// pattern below /gw/TARGET, and the query's parameter names (values are
// left out: they may be personal data; the request digest covers them).
func (g *Gateway) describe(c *call, r *http.Request) string {
	id := "-"
	if c.match != nil {
		id = c.match.Resource.ID
	}
	s := id + " " + r.Method + " /gw/" + c.target + c.policyPath()
	if q := c.query; len(q) > 0 {
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, redact(k)) // a name may be an ID number too
		}
		sort.Strings(keys)
		s += "?" + strings.Join(keys, "&")
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > auditlog.MaxResourceLen {
		s = s[:auditlog.MaxResourceLen]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// paramName is the name a lenient server may read for a query parameter
// named k: case ignored (ASP.NET), '.' and ' ' read as '_' and a "[...]"
// suffix as an array of the name (PHP; Rails and Express's qs read the
// suffix so too).
func paramName(k string) string {
	if i := strings.IndexByte(k, '['); i > 0 {
		k = k[:i]
	}
	return paramSeparators.Replace(strings.ToLower(k))
}

var paramSeparators = strings.NewReplacer(".", "_", " ", "_")

// phpParamName is how PHP reads a query parameter name before the rules
// paramName also applies: cut at a NUL byte, leading spaces dropped, and
// a '[' without a ']' after it read as '_' (so "%20id_number",
// "id_number%00x" and "id[number" are all $_GET["id_number"]).
func phpParamName(k string) string {
	if i := strings.IndexByte(k, 0); i >= 0 {
		k = k[:i]
	}
	k = strings.TrimLeft(k, " ")
	if i := strings.IndexByte(k, '['); i > 0 && !strings.Contains(k[i:], "]") {
		k = k[:i] + "_" + k[i+1:]
	}
	return k
}

// evidence digests and timestamps the call and appends its decision
// entry; on failure it has answered 503.
func (g *Gateway) evidence(w http.ResponseWriter, r *http.Request, c *call) bool {
	c.digest = RequestDigest(r.Method, c.target, c.rest, r.URL.RawQuery, c.bodySM3, c.caller.ID, c.start)
	ctx := context.WithoutCancel(r.Context())
	began := time.Now()
	st, err := g.cfg.Stamper.Stamp(ctx, c.digest)
	began = g.m.since(stepTimestamp, began)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: timestamp authority unavailable; refusing the call", "err", err)
		g.recordFailure(ctx, r, c, "503", "timestamp authority unavailable: nothing forwarded")
		g.unavailable(w, r, c, "tsa", "the timestamp authority is unavailable: the call was not forwarded")
		return false
	}
	c.stamp = st
	e := g.entry(r, c)
	e.Action = ActionCall
	if c.decision.Allow {
		e.Decision, e.Outcome = auditlog.DecisionAllow, "forwarded"
	} else {
		e.Decision, e.Outcome = auditlog.DecisionDeny, "403"
	}
	var idx uint64
	if g.cfg.Stamps != nil {
		idx, err = g.cfg.Stamps.AppendWithToken(ctx, e, st.Token)
	} else {
		idx, err = g.cfg.Recorder.Append(ctx, e)
	}
	g.m.since(stepAudit, began)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: audit log unavailable; refusing the call", "err", err)
		g.unavailable(w, r, c, "audit", "the audit log is unavailable: the call was not forwarded")
		return false
	}
	c.index = idx
	return true
}

// entry is the audit entry of c without action, decision and outcome.
func (g *Gateway) entry(r *http.Request, c *call) auditlog.Entry {
	e := auditlog.Entry{
		Time: c.start,
		Actor: auditlog.Actor{Subject: c.caller.ID, Department: c.caller.Department, Client: c.caller.Client,
			CertSerial: c.caller.CertSerial, SourceAddr: r.RemoteAddr},
		Object:        auditlog.Object{Resource: c.resource, Department: c.target},
		RequestDigest: hex.EncodeToString(c.digest),
		CitizenHash:   c.citizenTag,
		Purpose:       c.purpose,
	}
	if c.stamp != nil {
		e.TimestampToken = stampRef(c.stamp)
	}
	if c.decision != nil {
		e.PolicyRevision = c.decision.Revision
		for _, reason := range c.decision.Reasons {
			if len(e.Reasons) == auditlog.MaxReasons {
				break
			}
			e.Reasons = append(e.Reasons, clip(reason, auditlog.MaxFieldLen))
		}
		if c.decision.Agreement != "" && len(e.Reasons) < auditlog.MaxReasons {
			e.Reasons = append(e.Reasons, clip("agreement="+c.decision.Agreement, auditlog.MaxFieldLen))
		}
	}
	if c.caller.Token != nil && c.caller.Token.Act != "" {
		e.Actor.Client = c.caller.Token.Act
	}
	return e
}

func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// recordFailure appends the entry of a call refused for an unavailable
// dependency, if the audit log takes it.
func (g *Gateway) recordFailure(ctx context.Context, r *http.Request, c *call, outcome, reason string) {
	e := g.entry(r, c)
	e.Action, e.Decision, e.Outcome = ActionCall, auditlog.DecisionDeny, outcome
	e.Reasons = append([]string{reason}, e.Reasons...)
	if len(e.Reasons) > auditlog.MaxReasons {
		e.Reasons = e.Reasons[:auditlog.MaxReasons]
	}
	if _, err := g.cfg.Recorder.Append(ctx, e); err != nil {
		g.log.WarnContext(ctx, "gateway: could not record a refused call", "err", err)
	}
}

func (g *Gateway) unavailable(w http.ResponseWriter, r *http.Request, c *call, dep, detail string) {
	g.m.unavailable.WithLabelValues(dep).Inc()
	g.m.calls.WithLabelValues(c.target, "unavailable").Inc()
	w.Header().Set("Retry-After", "5")
	writeDenial(w, newDenial(http.StatusServiceUnavailable, detail))
}

func (g *Gateway) refuse(w http.ResponseWriter, c *call, status int, detail string) {
	g.m.calls.WithLabelValues(labelOf(g, c.target), "refused").Inc()
	writeDenial(w, newDenial(status, detail))
}

// labelOf keeps unknown department names out of metric labels.
func labelOf(g *Gateway, dept string) string {
	if _, ok := g.upstreams[dept]; ok {
		return dept
	}
	return "unknown"
}

func (g *Gateway) refuseErr(w http.ResponseWriter, r *http.Request, c *call, err error) {
	var st interface{ HTTPStatus() int }
	if !errors.As(err, &st) {
		g.log.ErrorContext(r.Context(), "gateway: refusing a call", "err", err)
		g.unavailable(w, r, c, "identity", "the caller could not be checked")
		return
	}
	if st.HTTPStatus() == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tongxing-gateway"`)
	}
	detail := err.Error()
	var ie *IdentityError
	if errors.As(err, &ie) {
		detail = "caller not identified: " + ie.Reason
	}
	var fe *ForbiddenError
	if errors.As(err, &fe) {
		detail = fe.Reason
	}
	g.refuse(w, c, st.HTTPStatus(), detail)
}

func (g *Gateway) limited(w http.ResponseWriter, c *call, which string, wait time.Duration) {
	g.m.limited.WithLabelValues(which).Inc()
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	g.refuse(w, c, http.StatusTooManyRequests, fmt.Sprintf("rate limit of the %s reached; retry after %d s", which, secs))
}
