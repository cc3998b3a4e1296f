package authn

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tongxing/tongxing/store"
)

// Client authentication methods at the token endpoint (OpenID Connect
// Discovery token_endpoint_auth_methods_supported).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	// AuthNone marks a public client (a browser or native application that
	// cannot keep a secret); such clients must use PKCE.
	AuthNone = "none"
)

// Subject identifier types (OpenID Connect Core 1.0 §8).
const (
	SubjectPairwise = "pairwise"
	SubjectPublic   = "public"
)

// ID token signing algorithms.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgSM2   = "SM2" // sm2jws.Alg
)

// Limits on client registrations.
const (
	maxClientIDLen     = 64
	maxClientNameLen   = 200
	maxRedirectURIs    = 20
	maxRedirectURILen  = 2048
	maxClientScopes    = 32
	maxSectorLen       = 253
	maxClientConfigLen = 64 << 10
)

var clientIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ClientConfig registers one client (a department portal). The server fills
// it from YAML; `AddClient` stores one in the database. Only SecretHash
// (from [GenerateClientSecret] or [HashClientSecret]) is kept, never the
// secret.
type ClientConfig struct {
	// ID is the client_id: 1 to 64 characters from [A-Za-z0-9._-],
	// starting with a letter or digit.
	ID string `yaml:"id" json:"id"`
	// Name is shown on the login and consent pages. Required.
	Name string `yaml:"name" json:"name"`
	// Department is the department running the portal, shown with Name.
	Department string `yaml:"department" json:"department,omitempty"`
	// RedirectURIs are matched exactly (no prefix or wildcard matching).
	// Each must be an absolute https URL without fragment or user info, or
	// http on a loopback host (127.0.0.1, [::1], localhost) for
	// development. At least one, at most 20.
	RedirectURIs []string `yaml:"redirect_uris" json:"redirect_uris"`
	// TokenEndpointAuthMethod is client_secret_basic (default),
	// client_secret_post, private_key_jwt (with JWKS), tls_client_auth
	// (with one TLSClientAuth* field), or none for a public client, which
	// must then use PKCE.
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method" json:"token_endpoint_auth_method,omitempty"`
	// SecretHash is the stored form of the client secret (see
	// [HashClientSecret]); required for client_secret_basic and
	// client_secret_post, forbidden otherwise.
	SecretHash string `yaml:"secret_hash" json:"secret_hash,omitempty"`
	// Scopes the client may obtain; openid is always included. Default:
	// every scope the provider supports. Scopes requested beyond these are
	// dropped from the grant.
	Scopes []string `yaml:"scopes" json:"scopes,omitempty"`
	// MinACR is the least assurance level (acr) the client accepts; a
	// session below it forces a new login. Default urn:tongxing:loa:2.
	MinACR string `yaml:"min_acr" json:"min_acr,omitempty"`
	// SubjectType is pairwise (default) or public.
	SubjectType string `yaml:"subject_type" json:"subject_type,omitempty"`
	// SectorIdentifier is the host name that pairwise subjects are
	// computed for. Default: the host of the redirect URIs, which must then
	// all share one host. Clients with the same sector see the same sub.
	SectorIdentifier string `yaml:"sector_identifier" json:"sector_identifier,omitempty"`
	// IDTokenSignedResponseAlg is RS256 (default), ES256 or SM2.
	IDTokenSignedResponseAlg string `yaml:"id_token_signed_response_alg" json:"id_token_signed_response_alg,omitempty"`
	// TargetDepartments makes the client a department service: the target
	// departments (identifiers of 1 to 256 printable characters without
	// spaces, such as "dept:civil-affairs") it may obtain access tokens for
	// with the client credentials grant and token exchange. Only a
	// confidential client with a Department may have them, at most 32. A
	// department service needs no redirect URIs; without them a pairwise
	// one needs a SectorIdentifier. Default: none (not a service).
	TargetDepartments []string `yaml:"target_departments" json:"target_departments,omitempty"`
	// PostLogoutRedirectURIs are where RP-initiated logout may send the
	// browser back to (OpenID Connect RP-Initiated Logout 1.0 §3), matched
	// exactly; the same rules as RedirectURIs, at most 20. Default: none
	// (the provider shows its own signed-out page).
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris" json:"post_logout_redirect_uris,omitempty"`
	// BackchannelLogoutURI receives logout tokens when a session the
	// client took part in ends (OpenID Connect Back-Channel Logout 1.0
	// §2.2): https, or http on a loopback host. Logout tokens always carry
	// sid. Default: none.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri" json:"backchannel_logout_uri,omitempty"`
	// JWKS is the client's JWK Set (JSON text, at most 16 KiB and 10
	// keys) for private_key_jwt: RSA keys of at least 2048 bits (RS256, or
	// PS256 if the key's alg says so), P-256 keys (ES256) and SM2 keys
	// (sm2jws, kid required). Only the inline form; jwks_uri is not
	// supported.
	JWKS string `yaml:"jwks" json:"jwks,omitempty"`
	// TLSClientAuthSubjectDN and the TLSClientAuthSAN* fields identify
	// the client's TLS certificate for tls_client_auth (RFC 8705 §2.1.2);
	// exactly one is set. The subject DN is compared with the RFC 4514
	// string Go's pkix.Name.String gives, e.g. "CN=svc,O=Civil Affairs,C=CN";
	// SAN values match exactly.
	TLSClientAuthSubjectDN string `yaml:"tls_client_auth_subject_dn" json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS    string `yaml:"tls_client_auth_san_dns" json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI    string `yaml:"tls_client_auth_san_uri" json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP     string `yaml:"tls_client_auth_san_ip" json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail  string `yaml:"tls_client_auth_san_email" json:"tls_client_auth_san_email,omitempty"`
}

// Client is a validated client registration with defaults filled in. Its
// fields must not be modified.
type Client struct {
	ClientConfig
}

// Public reports whether the client is public (authentication method none).
func (c *Client) Public() bool { return c.TokenEndpointAuthMethod == AuthNone }

// hasRedirectURI reports whether uri is registered, by exact string match.
func (c *Client) hasRedirectURI(uri string) bool { return slices.Contains(c.RedirectURIs, uri) }

// usesSecret reports whether the client authenticates with a secret.
func (c *Client) usesSecret() bool {
	return c.TokenEndpointAuthMethod == AuthClientSecretBasic || c.TokenEndpointAuthMethod == AuthClientSecretPost
}

// Service reports whether the client is a department service, allowed the
// client credentials grant and token exchange.
func (c *Client) Service() bool { return len(c.TargetDepartments) > 0 }

// allows reports whether the client may obtain scope.
func (c *Client) allows(scope string) bool { return slices.Contains(c.Scopes, scope) }

// Validate checks cfg and returns the client with defaults applied. Errors
// wrap ErrInvalidClientConfig and name the field.
func (cfg ClientConfig) Validate() (*Client, error) {
	c := &Client{ClientConfig: cfg}
	c.RedirectURIs = slices.Clone(cfg.RedirectURIs)
	c.Scopes = slices.Clone(cfg.Scopes)
	c.TargetDepartments = slices.Clone(cfg.TargetDepartments)
	c.PostLogoutRedirectURIs = slices.Clone(cfg.PostLogoutRedirectURIs)
	hosts, err := c.validateIdentity()
	if err != nil {
		return nil, err
	}
	for _, step := range []func() error{c.validateAuth, c.validateScopes, func() error { return c.validateSubject(hosts) }, c.validateTokensAndLogout} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// bad is an error of field of the client's configuration.
func (c *Client) bad(field, format string, args ...any) error {
	return &FieldError{Sentinel: ErrInvalidClientConfig, Prefix: "client " + quote(c.ID) + ": ", Field: field, Msg: fmt.Sprintf(format, args...)}
}

// validateIdentity checks id, name, department and the redirect URIs, and
// returns the hosts of the redirect URIs.
func (c *Client) validateIdentity() (map[string]bool, error) {
	if len(c.ID) > maxClientIDLen || !clientIDRE.MatchString(c.ID) {
		return nil, c.bad("id", "want 1 to %d characters from [A-Za-z0-9._-]", maxClientIDLen)
	}
	if c.Name == "" || len(c.Name) > maxClientNameLen || !utf8.ValidString(c.Name) || hasControl(c.Name) {
		return nil, c.bad("name", "want 1 to %d bytes of printable UTF-8", maxClientNameLen)
	}
	if len(c.Department) > maxClientNameLen || !utf8.ValidString(c.Department) || hasControl(c.Department) {
		return nil, c.bad("department", "want at most %d bytes of printable UTF-8", maxClientNameLen)
	}
	if (len(c.RedirectURIs) == 0 && !c.Service()) || len(c.RedirectURIs) > maxRedirectURIs {
		return nil, c.bad("redirect_uris", "want 1 to %d URIs, got %d", maxRedirectURIs, len(c.RedirectURIs))
	}
	hosts := map[string]bool{}
	for _, u := range c.RedirectURIs {
		host, err := checkRedirectURI(u)
		if err != nil {
			return nil, c.bad("redirect_uris", "%v", err)
		}
		hosts[host] = true
	}
	return hosts, nil
}

// validateAuth checks the token endpoint authentication method, what it
// needs, and the secret hash.
func (c *Client) validateAuth() error {
	switch c.TokenEndpointAuthMethod {
	case "":
		c.TokenEndpointAuthMethod = AuthClientSecretBasic
	case AuthClientSecretBasic, AuthClientSecretPost, AuthNone, AuthPrivateKeyJWT, AuthTLSClientAuth:
	default:
		return c.bad("token_endpoint_auth_method", "%s is not supported (want %s, %s, %s, %s or %s)",
			quote(c.TokenEndpointAuthMethod), AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthTLSClientAuth, AuthNone)
	}
	if field, err := c.checkClientAuthConfig(); err != nil {
		return c.bad(field, "%v", err)
	}
	if !c.usesSecret() {
		if c.SecretHash != "" {
			return c.bad("secret_hash", "only client_secret_basic and client_secret_post clients have a secret")
		}
	} else {
		h, ok := strings.CutPrefix(c.SecretHash, clientSecretHashPrefix)
		if !ok || len(h) != 43 {
			return c.bad("secret_hash", "want \"sha256:\" and 43 base64url characters (see HashClientSecret)")
		}
	}
	return nil
}

// validateScopes checks the scopes (default: all; openid always) and the
// minimum assurance level (default: password).
func (c *Client) validateScopes() error {
	if len(c.Scopes) == 0 {
		c.Scopes = slices.Clone(supportedScopes)
	}
	if len(c.Scopes) > maxClientScopes {
		return c.bad("scopes", "at most %d", maxClientScopes)
	}
	for _, s := range c.Scopes {
		if !slices.Contains(supportedScopes, s) {
			return c.bad("scopes", "%s is not supported (want some of %s)", quote(s), strings.Join(supportedScopes, " "))
		}
	}
	if !slices.Contains(c.Scopes, ScopeOpenID) {
		c.Scopes = append([]string{ScopeOpenID}, c.Scopes...)
	}
	c.Scopes = dedupe(c.Scopes)
	if c.MinACR == "" {
		c.MinACR = ACRPassword
	}
	if acrRank(c.MinACR) == 0 {
		return c.bad("min_acr", "%s is not an assurance level this provider offers (%s)", quote(c.MinACR), strings.Join(supportedACRs, " "))
	}
	return nil
}

// validateSubject checks the subject type (default pairwise) and the
// sector, which defaults to the one host of the redirect URIs.
func (c *Client) validateSubject(hosts map[string]bool) error {
	switch c.SubjectType {
	case "":
		c.SubjectType = SubjectPairwise
	case SubjectPairwise, SubjectPublic:
	default:
		return c.bad("subject_type", "%s (want %s or %s)", quote(c.SubjectType), SubjectPairwise, SubjectPublic)
	}
	if c.SectorIdentifier != "" {
		if len(c.SectorIdentifier) > maxSectorLen || strings.ContainsAny(c.SectorIdentifier, "/:@?# \t") || !utf8.ValidString(c.SectorIdentifier) {
			return c.bad("sector_identifier", "want a host name")
		}
		c.SectorIdentifier = strings.ToLower(c.SectorIdentifier)
	} else if c.SubjectType == SubjectPairwise {
		if len(hosts) != 1 {
			return c.bad("sector_identifier", "the redirect URIs name %d hosts; pairwise subjects need one, or an explicit sector_identifier", len(hosts))
		}
		for h := range hosts {
			c.SectorIdentifier = h
		}
	}
	return nil
}

// validateTokensAndLogout checks the target departments (the audiences of
// a service's tokens), the logout URIs and the ID token algorithm (default
// RS256).
func (c *Client) validateTokensAndLogout() error {
	if err := c.checkTargets(); err != nil {
		return c.bad("target_departments", "%v", err)
	}
	if len(c.PostLogoutRedirectURIs) > maxRedirectURIs {
		return c.bad("post_logout_redirect_uris", "at most %d", maxRedirectURIs)
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if _, err := checkRedirectURI(u); err != nil {
			return c.bad("post_logout_redirect_uris", "%v", err)
		}
	}
	if c.BackchannelLogoutURI != "" {
		if _, err := checkRedirectURI(c.BackchannelLogoutURI); err != nil {
			return c.bad("backchannel_logout_uri", "%v", err)
		}
	}
	switch c.IDTokenSignedResponseAlg {
	case "":
		c.IDTokenSignedResponseAlg = AlgRS256
	case AlgRS256, AlgES256, AlgSM2:
	default:
		return c.bad("id_token_signed_response_alg", "%s (want %s, %s or %s)", quote(c.IDTokenSignedResponseAlg), AlgRS256, AlgES256, AlgSM2)
	}
	return nil
}

// checkRedirectURI validates a registered redirect URI and returns its
// lower-case host name.
func checkRedirectURI(raw string) (string, error) {
	if len(raw) > maxRedirectURILen || !utf8.ValidString(raw) || hasControl(raw) || strings.ContainsAny(raw, " \\") {
		return "", fmt.Errorf("redirect URI %s: too long or contains forbidden characters", quote(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("redirect URI %s: %w", quote(raw), err)
	}
	if !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("redirect URI %s is not an absolute URL with a host", quote(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "", fmt.Errorf("redirect URI %s has a fragment", quote(raw))
	}
	if u.User != nil {
		return "", fmt.Errorf("redirect URI %s has user information", quote(raw))
	}
	host := strings.ToLower(u.Hostname())
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(host) {
			return "", fmt.Errorf("redirect URI %s: http is allowed only on a loopback host", quote(raw))
		}
	default:
		return "", fmt.Errorf("redirect URI %s: scheme %s is not https", quote(raw), quote(u.Scheme))
	}
	return host, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

func dedupe(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// clientRegistry holds clients from configuration (in memory) and from the
// database. Configured clients take precedence; their IDs cannot be
// registered in the database.
type clientRegistry struct {
	db     *store.DB
	static map[string]*Client
}

func newClientRegistry(db *store.DB, cfgs []ClientConfig) (*clientRegistry, error) {
	r := &clientRegistry{db: db, static: make(map[string]*Client, len(cfgs))}
	for _, cfg := range cfgs {
		c, err := cfg.Validate()
		if err != nil {
			return nil, err
		}
		if _, dup := r.static[c.ID]; dup {
			return nil, fmt.Errorf("%w: client %s is configured twice", ErrInvalidClientConfig, quote(c.ID))
		}
		r.static[c.ID] = c
	}
	return r, nil
}

// get returns the client id, or an error wrapping ErrClientNotFound.
func (r *clientRegistry) get(ctx context.Context, id string) (*Client, error) {
	if c, ok := r.static[id]; ok {
		return c, nil
	}
	if len(id) > maxClientIDLen || !clientIDRE.MatchString(id) {
		return nil, fmt.Errorf("%w: %s", ErrClientNotFound, quote(id))
	}
	var raw string
	err := r.db.QueryRow(ctx, "SELECT config FROM authn_clients WHERE id = ?", id).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrClientNotFound, quote(id))
	}
	if err != nil {
		return nil, fmt.Errorf("authn: load client %s: %w", quote(id), err)
	}
	var cfg ClientConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil, fmt.Errorf("authn: stored client %s: %w", quote(id), err)
	}
	c, err := cfg.Validate()
	if err != nil {
		return nil, fmt.Errorf("authn: stored client: %w", err)
	}
	return c, nil
}

// add validates and stores cfg. If cfg is confidential and has no
// SecretHash, a secret is generated and returned.
func (r *clientRegistry) add(ctx context.Context, cfg ClientConfig, now int64) (string, *Client, error) {
	var secret string
	if (cfg.TokenEndpointAuthMethod == "" || cfg.TokenEndpointAuthMethod == AuthClientSecretBasic || cfg.TokenEndpointAuthMethod == AuthClientSecretPost) && cfg.SecretHash == "" {
		secret, cfg.SecretHash = GenerateClientSecret()
	}
	c, err := cfg.Validate()
	if err != nil {
		return "", nil, err
	}
	if _, ok := r.static[c.ID]; ok {
		return "", nil, fmt.Errorf("%w: %s is in the configuration", ErrClientExists, quote(c.ID))
	}
	raw, err := json.Marshal(c.ClientConfig)
	if err != nil {
		return "", nil, fmt.Errorf("authn: encode client: %w", err)
	}
	if len(raw) > maxClientConfigLen {
		return "", nil, fmt.Errorf("%w: registration is %d bytes, limit %d", ErrInvalidClientConfig, len(raw), maxClientConfigLen)
	}
	_, err = r.db.Exec(ctx, "INSERT INTO authn_clients (id, config, created_at) VALUES (?, ?, ?)", c.ID, string(raw), now)
	if store.IsUniqueViolation(err) {
		return "", nil, fmt.Errorf("%w: %s", ErrClientExists, quote(c.ID))
	}
	if err != nil {
		return "", nil, fmt.Errorf("authn: store client %s: %w", quote(c.ID), err)
	}
	return secret, c, nil
}

// maxClientList bounds how many database clients one listing reads.
const maxClientList = 1000

// list returns the configured clients and then those in the database (at
// most maxClientList), each group by ID.
func (r *clientRegistry) list(ctx context.Context) ([]*Client, []*Client, error) {
	static := make([]*Client, 0, len(r.static))
	for _, c := range r.static {
		static = append(static, c)
	}
	slices.SortFunc(static, func(a, b *Client) int { return strings.Compare(a.ID, b.ID) })
	rows, err := r.db.Query(ctx, "SELECT config FROM authn_clients ORDER BY id LIMIT ?", maxClientList)
	if err != nil {
		return nil, nil, fmt.Errorf("authn: list clients: %w", err)
	}
	defer rows.Close()
	var stored []*Client
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, nil, fmt.Errorf("authn: list clients: %w", err)
		}
		var cfg ClientConfig
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			return nil, nil, fmt.Errorf("authn: stored client: %w", err)
		}
		c, err := cfg.Validate()
		if err != nil {
			return nil, nil, fmt.Errorf("authn: stored client: %w", err)
		}
		stored = append(stored, c)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("authn: list clients: %w", err)
	}
	return static, stored, nil
}

// Client kinds of [ClientSummary].
const (
	ClientPublic       = "public"       // authentication method none, PKCE
	ClientConfidential = "confidential" // a portal that authenticates
	ClientService      = "service"      // a department service (target departments)
)

// ClientSummary is what a client listing shows of a registration: never
// its secret hash, keys or certificate names.
type ClientSummary struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Department   string   `json:"department,omitempty"`
	Kind         string   `json:"kind"` // ClientPublic, ClientConfidential or ClientService
	AuthMethod   string   `json:"token_endpoint_auth_method"`
	RedirectURIs []string `json:"redirect_uris"`
	MinACR       string   `json:"min_acr"`
	// Configured is true for a client from the configuration file, false
	// for one registered in the database.
	Configured bool `json:"configured"`
}

func (c *Client) summary(configured bool) ClientSummary {
	kind := ClientConfidential
	switch {
	case c.Public():
		kind = ClientPublic
	case c.Service():
		kind = ClientService
	}
	return ClientSummary{ID: c.ID, Name: c.Name, Department: c.Department, Kind: kind, AuthMethod: c.TokenEndpointAuthMethod,
		RedirectURIs: slices.Clone(c.RedirectURIs), MinACR: c.MinACR, Configured: configured}
}
