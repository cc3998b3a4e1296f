package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"

	"github.com/tongxing/tongxing/timestamp"
)

// digestDomain starts every request description that is digested.
const digestDomain = "tongxing-gateway-request-v1"

// CallerTokenType is the JWS typ of Tongxing-Caller tokens.
const CallerTokenType = "tongxing-caller+jwt"

// CallerTokenLifetime is how long a Tongxing-Caller token is valid.
const CallerTokenLifetime = 60 * time.Second

// Limits of what the verifier parses.
const (
	// MaxCallerTokenLen bounds Tongxing-Caller.
	MaxCallerTokenLen = 16 << 10
	// MaxTimestampHeaderLen bounds Tongxing-Timestamp (base64).
	MaxTimestampHeaderLen = 16 << 10
)

// RequestDigest returns the SM3 digest of a request description (see the
// package documentation for the exact bytes).
func RequestDigest(method, department, path, rawQuery string, bodySM3 []byte, caller string, at time.Time) []byte {
	var b bytes.Buffer
	for _, s := range []string{digestDomain, method, department, path, rawQuery, hex.EncodeToString(bodySM3), caller, strconv.FormatInt(at.UnixNano(), 10)} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	d := sm3.Sum(b.Bytes())
	return d[:]
}

// CallerClaims are the claims of a Tongxing-Caller token.
type CallerClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"` // the verified caller: SPIFFE ID or client:ID
	Audience string `json:"aud"` // the called department
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
	ID       string `json:"jti"`
	// Department, Service and Client describe the caller.
	Department string `json:"dept"`
	Service    string `json:"svc,omitempty"`
	Client     string `json:"client_id,omitempty"`
	// Act is the acting service of a token-exchange call.
	Act string `json:"act,omitempty"`
	// Purpose and Resource are what the policy allowed.
	Purpose  string   `json:"purpose,omitempty"`
	Resource string   `json:"resource"`
	Fields   []string `json:"fields,omitempty"`
	// The digest inputs: method, path, raw query, SM3 of the body, time.
	Method   string `json:"htm"`
	Path     string `json:"path"`
	Query    string `json:"query"`
	BodySM3  string `json:"bh"`
	TimeNano int64  `json:"t"`
	// Digest is the request digest (hex), the timestamp token's imprint.
	Digest string `json:"rd"`
	// AuditIndex is the decision entry in the audit log.
	AuditIndex uint64 `json:"audit_index"`
}

// CallerSigner signs Tongxing-Caller tokens with an ECDSA P-256 key.
type CallerSigner struct {
	signer jose.Signer
	jwk    jose.JSONWebKey
}

// NewCallerSigner returns a signer with key, whose certificate chain
// (leaf first) is published in the JWKS as x5c. The key id is the RFC 7638
// thumbprint of the public key.
func NewCallerSigner(key crypto.Signer, chain []*x509.Certificate) (*CallerSigner, error) {
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("gateway: the caller-token key must be ECDSA P-256")
	}
	jwk := jose.JSONWebKey{Key: pub, Algorithm: string(jose.ES256), Use: "sig", Certificates: chain}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: cryptosigner.Opaque(key)},
		(&jose.SignerOptions{}).WithType(CallerTokenType).WithHeader("kid", jwk.KeyID))
	if err != nil {
		return nil, err
	}
	return &CallerSigner{signer: s, jwk: jwk}, nil
}

// Sign returns the compact JWS of c.
func (s *CallerSigner) Sign(c *CallerClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	jws, err := s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("gateway: sign caller token: %w", err)
	}
	return jws.CompactSerialize()
}

// KeySet returns the published key set (the public key with its chain).
func (s *CallerSigner) KeySet() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.jwk}}
}

func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ReplayCache remembers token ids until they expire. It is safe for
// concurrent use.
type ReplayCache interface {
	// Seen records id (valid until exp) and reports whether it was
	// recorded before.
	Seen(id string, exp time.Time) bool
}

// MemoryReplayCache is an in-process ReplayCache bounded by expiry: ids are
// dropped once their token has expired.
type MemoryReplayCache struct {
	mu   sync.Mutex
	ids  map[string]time.Time
	now  func() time.Time
	last time.Time
}

// NewMemoryReplayCache returns an empty cache on clock now (nil:
// time.Now).
func NewMemoryReplayCache(now func() time.Time) *MemoryReplayCache {
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayCache{ids: map[string]time.Time{}, now: now}
}

// Seen implements ReplayCache.
func (c *MemoryReplayCache) Seen(id string, exp time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.last) > time.Second {
		for k, e := range c.ids {
			if now.After(e) {
				delete(c.ids, k)
			}
		}
		c.last = now
	}
	if _, ok := c.ids[id]; ok {
		return true
	}
	c.ids[id] = exp
	return false
}

// Errors of [Verifier.Verify]; each is wrapped with the detail.
var (
	ErrNoEvidence      = errors.New("gateway: no Tongxing-Caller or Tongxing-Timestamp header")
	ErrCallerToken     = errors.New("gateway: Tongxing-Caller token invalid")
	ErrReplay          = errors.New("gateway: Tongxing-Caller token replayed")
	ErrRequestMismatch = errors.New("gateway: request does not match its evidence")
	ErrTimestamp       = errors.New("gateway: Tongxing-Timestamp invalid")
)

// Evidence is what a verified call's headers prove.
type Evidence struct {
	Claims        CallerClaims
	TimestampTime time.Time
	TSASerial     string
}

// Verifier checks the evidence headers an upstream receives, with
// Tongxing's published keys alone: the gateway's JWKS and the CA
// certificates that anchor the TSA. It is safe for concurrent use.
type Verifier struct {
	// Keys is the gateway's published key set (GET /gateway/v1/keys).
	Keys jose.JSONWebKeySet
	// Audience is the upstream's department id, required; tokens for
	// another are refused.
	Audience string
	// TSARoots and TSAIntermediates anchor the timestamp token (the gm
	// root and issuing CA).
	TSARoots, TSAIntermediates *smx509.CertPool
	// Replay refuses a token id seen before; nil skips the check, which
	// only an offline verifier (verify-evidence) should do.
	Replay ReplayCache
	// PathPrefix is the path below which the upstream is mounted (the path
	// of its upstream URL), removed before comparing with the token.
	PathPrefix string
	// Now is the clock (nil: time.Now). Skew allowed on iat/exp: 5s.
	Now func() time.Time
	// IgnoreExpiry accepts expired tokens, for checking stored evidence
	// after the fact.
	IgnoreExpiry bool
}

// Verify checks a request as the upstream received it, with its body:
// the Tongxing-Caller signature (a key of Keys, ES256, typ), audience,
// lifetime and jti (not replayed); that method, path, query and the SM3 of
// body are those the token names and that the digest recomputed from them
// is the token's; that Tongxing-Audit-Index, if given, is the decision
// entry the token names; and that Tongxing-Timestamp is a valid timestamp
// token from a TSA chaining to TSARoots whose imprint is that digest.
func (v *Verifier) Verify(method, escapedPath, rawQuery string, h http.Header, body []byte) (*Evidence, error) {
	tok, ts := h.Get(HeaderCaller), h.Get(HeaderTimestamp)
	if tok == "" || ts == "" {
		return nil, ErrNoEvidence
	}
	c, err := v.parseCallerToken(tok)
	if err != nil {
		return nil, err
	}
	p := escapedPath
	if v.PathPrefix != "" && v.PathPrefix != "/" {
		if len(p) < len(v.PathPrefix) || p[:len(v.PathPrefix)] != v.PathPrefix {
			return nil, fmt.Errorf("%w: path %q is not below %q", ErrRequestMismatch, p, v.PathPrefix)
		}
		p = p[len(v.PathPrefix):]
	}
	bh := sm3.Sum(body)
	switch {
	case c.Method != method:
		return nil, fmt.Errorf("%w: method %s, token says %s", ErrRequestMismatch, method, c.Method)
	case c.Path != p:
		return nil, fmt.Errorf("%w: path %q, token says %q", ErrRequestMismatch, p, c.Path)
	case c.Query != rawQuery:
		return nil, fmt.Errorf("%w: query %q, token says %q", ErrRequestMismatch, rawQuery, c.Query)
	case c.BodySM3 != hex.EncodeToString(bh[:]):
		return nil, fmt.Errorf("%w: body digest differs", ErrRequestMismatch)
	}
	if ai := h.Get(HeaderAuditIndex); ai != "" && ai != strconv.FormatUint(c.AuditIndex, 10) {
		return nil, fmt.Errorf("%w: %s %q, token says %d", ErrRequestMismatch, HeaderAuditIndex, ai, c.AuditIndex)
	}
	digest := RequestDigest(c.Method, c.Audience, c.Path, c.Query, bh[:], c.Subject, time.Unix(0, c.TimeNano))
	if hex.EncodeToString(digest) != c.Digest {
		return nil, fmt.Errorf("%w: recomputed digest differs from the token's", ErrRequestMismatch)
	}
	info, err := v.verifyTimestamp(ts, digest)
	if err != nil {
		return nil, err
	}
	if v.Replay != nil && v.Replay.Seen(c.ID, time.Unix(c.Expiry, 0).Add(5*time.Second)) {
		return nil, fmt.Errorf("%w: jti %s", ErrReplay, c.ID)
	}
	return &Evidence{Claims: *c, TimestampTime: info.GenTime, TSASerial: info.SerialNumber.Text(16)}, nil
}

// VerifyRequest is Verify on r, reading its body (at most maxBody bytes)
// and putting it back for the handler.
func (v *Verifier) VerifyRequest(r *http.Request, maxBody int64) (*Evidence, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > maxBody {
			return nil, fmt.Errorf("%w: body longer than %d bytes", ErrRequestMismatch, maxBody)
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return v.Verify(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header, body)
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// ParseCallerToken checks a Tongxing-Caller token's signature, typ,
// audience and lifetime and returns its claims. It does NOT check replay
// or the request; Verify does.
func (v *Verifier) ParseCallerToken(tok string) (*CallerClaims, error) {
	return v.parseCallerToken(tok)
}

func (v *Verifier) parseCallerToken(tok string) (*CallerClaims, error) {
	if len(tok) > MaxCallerTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrCallerToken, MaxCallerTokenLen)
	}
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCallerToken, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrCallerToken)
	}
	hdr := jws.Signatures[0].Protected
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ != CallerTokenType {
		return nil, fmt.Errorf("%w: typ %q", ErrCallerToken, typ)
	}
	keys := v.Keys.Key(hdr.KeyID)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: key %q is not a published gateway key", ErrCallerToken, hdr.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrCallerToken, err)
	}
	var c CallerClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrCallerToken, err)
	}
	now := v.now()
	switch {
	case v.Audience == "":
		return nil, errors.New("gateway: Verifier.Audience is required: without it a token sent to another department would pass")
	case c.Audience != v.Audience:
		return nil, fmt.Errorf("%w: audience %q, want %q", ErrCallerToken, c.Audience, v.Audience)
	case c.ID == "" || c.Subject == "" || c.Digest == "":
		return nil, fmt.Errorf("%w: jti, sub and rd are required", ErrCallerToken)
	case !v.IgnoreExpiry && now.After(time.Unix(c.Expiry, 0).Add(5*time.Second)):
		return nil, fmt.Errorf("%w: expired at %s", ErrCallerToken, time.Unix(c.Expiry, 0).UTC().Format(time.RFC3339))
	case !v.IgnoreExpiry && time.Unix(c.IssuedAt, 0).After(now.Add(5*time.Second)):
		return nil, fmt.Errorf("%w: issued in the future", ErrCallerToken)
	case c.Expiry-c.IssuedAt > int64(CallerTokenLifetime/time.Second):
		return nil, fmt.Errorf("%w: lifetime longer than %s", ErrCallerToken, CallerTokenLifetime)
	}
	return &c, nil
}

// ParseTimestampHeader decodes Tongxing-Timestamp (standard base64 of the
// DER token).
func ParseTimestampHeader(v string) ([]byte, error) {
	if len(v) > MaxTimestampHeaderLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrTimestamp, MaxTimestampHeaderLen)
	}
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(der) == 0 {
		return nil, fmt.Errorf("%w: not base64", ErrTimestamp)
	}
	return der, nil
}

func (v *Verifier) verifyTimestamp(h string, digest []byte) (*timestamp.Info, error) {
	der, err := ParseTimestampHeader(h)
	if err != nil {
		return nil, err
	}
	if v.TSARoots == nil {
		return nil, fmt.Errorf("%w: no TSA roots configured", ErrTimestamp)
	}
	info, err := timestamp.VerifyToken(der, timestamp.VerifyOptions{Digest: digest, Roots: v.TSARoots, Intermediates: v.TSAIntermediates})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTimestamp, err)
	}
	if info.Hash != timestamp.SM3 {
		return nil, fmt.Errorf("%w: imprint is not SM3", ErrTimestamp)
	}
	return info, nil
}

// CallerKeyService is the service name of the certificate that vouches
// for the key signing Tongxing-Caller tokens (department "tongxing").
const CallerKeyService = "gateway-caller"

// CheckKeys checks that every key of set, a gateway JWKS however it was
// obtained, is vouched for by its x5c chain: the chain verifies to roots
// (Tongxing's intl root) at now, its first certificate holds the key and
// names spiffe://TRUST-DOMAIN/dept/tongxing/svc/gateway-caller. A key set
// from a file or a plain-HTTP fetch is then as good as one fetched over
// TLS from the server.
func CheckKeys(set jose.JSONWebKeySet, roots *x509.CertPool, trustDomain string, now time.Time) error {
	if len(set.Keys) == 0 {
		return errors.New("gateway: the key set holds no key")
	}
	want := "spiffe://" + trustDomain + "/dept/tongxing/svc/" + CallerKeyService
	for _, k := range set.Keys {
		if len(k.Certificates) == 0 {
			return fmt.Errorf("gateway: key %q carries no certificate chain (x5c)", k.KeyID)
		}
		leaf := k.Certificates[0]
		pub, ok := k.Key.(*ecdsa.PublicKey)
		if !ok || !pub.Equal(leaf.PublicKey) {
			return fmt.Errorf("gateway: key %q is not the key of its certificate", k.KeyID)
		}
		inter := x509.NewCertPool()
		for _, c := range k.Certificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("gateway: key %q: its certificate does not chain to the root: %w", k.KeyID, err)
		}
		if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
			return fmt.Errorf("gateway: key %q: its certificate names %v, not %s", k.KeyID, leaf.URIs, want)
		}
	}
	return nil
}

// FetchKeys reads the gateway's JWKS from url (GET /gateway/v1/keys of a
// Tongxing server) with client, at most 256 KiB.
func FetchKeys(ctx context.Context, client *http.Client, url string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return set, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return set, fmt.Errorf("gateway: fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return set, fmt.Errorf("gateway: fetch keys: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return set, err
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return set, fmt.Errorf("gateway: keys: %w", err)
	}
	return set, nil
}
