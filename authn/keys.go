package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/authn/sm2jws"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/store"
)

// Key parameters.
const (
	// RSAKeyBits is the size of new RS256 keys.
	RSAKeyBits = 2048
	// KeyPrePublication is how long a new signing key is published in the
	// key sets before [Provider.Rotate] may start signing with it: twice
	// the max-age the key set endpoints send, so that caches have seen it.
	KeyPrePublication = 2 * jwksMaxAge
	// jwksMaxAge is the Cache-Control max-age of the key set endpoints.
	jwksMaxAge = 5 * time.Minute
	// keyCacheTTL is how long a replica uses its copy of the key states
	// before reading them again (so that a rotation made by another replica
	// takes effect within it).
	keyCacheTTL = 10 * time.Second
	// maxJWTSize bounds tokens the provider verifies (access tokens,
	// id_token_hint).
	maxJWTSize = 16 << 10
)

// Key states in authn_keys.
const (
	keyNext    = "next"
	keyCurrent = "current"
	keyRetired = "retired"
	keyExpired = "expired"
)

// signingAlgs are the algorithms the provider keeps keys for.
var signingAlgs = []string{AlgRS256, AlgES256, AlgSM2}

// pubKey is a published signing key.
type pubKey struct {
	kid, alg, state string
	jwk             json.RawMessage
	pub             crypto.PublicKey
	created         time.Time
	publishUntil    time.Time // zero unless retired
}

type keyring struct {
	loaded  time.Time
	keys    []*pubKey // published keys, by alg then creation
	current map[string]*pubKey
	byKid   map[string]*pubKey
}

// keyStore keeps the signing keys in authn_keys. Private keys are either
// stored in the row, sealed by the kms.KeySealer (with kms/softkms: PKCS#8
// EncryptedPrivateKeyInfo, PBES2 with PBKDF2-HMAC-SM3 and SM4-CBC under the
// key passphrase), or in the key manager, by name.
type keyStore struct {
	db     *store.DB
	km     kms.KeyManager // ES256 and SM2 keys go here when set
	sealer kms.KeySealer
	now    func() time.Time
	retain time.Duration // how long a retired key stays published

	mu      sync.Mutex
	ring    *keyring
	signers map[string]crypto.Signer // by kid
}

// newKID returns a key ID: the algorithm in lower case, the UTC date and 12
// random hex digits, e.g. "rs256-20260512-9f3a1c0b2d4e".
func newKID(alg string, now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(alg) + "-" + now.UTC().Format("20060102") + "-" + hex.EncodeToString(b[:])
}

// generated is new key material not yet stored.
type generated struct {
	kid, alg string
	jwk      []byte
	pem      []byte // encrypted private key, or nil
	kmsName  string // or the key manager name
	signer   crypto.Signer
}

// generate makes a new key for alg. ES256 and SM2 keys are created in the
// key manager when there is one; RSA keys are always encrypted into the row.
func (ks *keyStore) generate(ctx context.Context, alg string) (*generated, error) {
	g := &generated{kid: newKID(alg, ks.now()), alg: alg}
	var err error
	switch alg {
	case AlgRS256:
		if g.signer, err = kms.RSA2048.GenerateKey(); err != nil {
			return nil, fmt.Errorf("authn: %w", err)
		}
		if g.pem, err = ks.sealer.SealKey(ctx, g.signer); err != nil {
			return nil, fmt.Errorf("authn: seal RSA key: %w", err)
		}
	case AlgES256, AlgSM2:
		suite := kms.Intl
		if alg == AlgSM2 {
			suite = kms.GM
		}
		if ks.km != nil {
			g.kmsName = "oidc-" + g.kid
			if g.signer, err = ks.km.CreateKey(ctx, g.kmsName, suite); err != nil {
				return nil, fmt.Errorf("authn: create %s key in key manager: %w", alg, err)
			}
		} else {
			if g.signer, err = suite.GenerateKey(nil); err != nil {
				return nil, err
			}
			if g.pem, err = ks.sealer.SealKey(ctx, g.signer); err != nil {
				return nil, fmt.Errorf("authn: seal %s key: %w", alg, err)
			}
		}
	default:
		return nil, fmt.Errorf("authn: no keys for algorithm %s", quote(alg))
	}
	if g.jwk, err = marshalJWK(alg, g.kid, g.signer.Public()); err != nil {
		return nil, err
	}
	return g, nil
}

// marshalJWK returns the public JWK of pub (RFC 7517; SM2 in the form of
// package sm2jws).
func marshalJWK(alg, kid string, pub crypto.PublicKey) ([]byte, error) {
	if alg == AlgSM2 {
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("authn: SM2 key is %T", pub)
		}
		j, err := sm2jws.NewJWK(ec, kid)
		if err != nil {
			return nil, err
		}
		return json.Marshal(j)
	}
	b, err := jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("authn: encode %s JWK: %w", alg, err)
	}
	return b, nil
}

// parseJWK returns the public key of a stored JWK.
func parseJWK(alg string, raw []byte) (crypto.PublicKey, error) {
	if alg == AlgSM2 {
		var j sm2jws.JWK
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, err
		}
		return j.PublicKey()
	}
	var j jose.JSONWebKey
	if err := j.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	switch k := j.Key.(type) {
	case *rsa.PublicKey:
		if alg == AlgRS256 {
			return k, nil
		}
	case *ecdsa.PublicKey:
		if alg == AlgES256 && k.Curve.Params().Name == "P-256" {
			return k, nil
		}
	}
	return nil, fmt.Errorf("authn: stored %s JWK holds a %T", alg, j.Key)
}

func (ks *keyStore) insert(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (sql.Result, error)
}, g *generated, state string, now int64) error {
	var kmsName sql.NullString
	if g.kmsName != "" {
		kmsName = sql.NullString{String: g.kmsName, Valid: true}
	}
	var activated sql.NullInt64
	if state == keyCurrent {
		activated = sql.NullInt64{Int64: now, Valid: true}
	}
	_, err := q.Exec(ctx, `INSERT INTO authn_keys (kid, alg, state, public_jwk, private_pem, kms_name, created_at, activated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, g.kid, g.alg, state, string(g.jwk), g.pem, kmsName, now, activated)
	return err
}

// ensure makes sure every algorithm has a current and a next key. Several
// replicas may run it at once: the partial unique indexes let one win.
func (ks *keyStore) ensure(ctx context.Context) error {
	for _, alg := range signingAlgs {
		have := map[string]bool{}
		rows, err := ks.db.Query(ctx, "SELECT state FROM authn_keys WHERE alg = ? AND state IN ('current', 'next')", alg)
		if err != nil {
			return fmt.Errorf("authn: read keys: %w", err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return fmt.Errorf("authn: read keys: %w", err)
			}
			have[s] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("authn: read keys: %w", err)
		}
		now := ks.now().UnixNano()
		if !have[keyCurrent] {
			if have[keyNext] {
				_, err = ks.db.Exec(ctx, "UPDATE authn_keys SET state = 'current', activated_at = ? WHERE alg = ? AND state = 'next'", now, alg)
				have[keyNext] = false
			} else {
				var g *generated
				if g, err = ks.generate(ctx, alg); err == nil {
					err = ks.insert(ctx, ks.db, g, keyCurrent, now)
				}
			}
			if err != nil && !store.IsUniqueViolation(err) {
				return fmt.Errorf("authn: create current %s key: %w", alg, err)
			}
		}
		if !have[keyNext] {
			g, err := ks.generate(ctx, alg)
			if err == nil {
				err = ks.insert(ctx, ks.db, g, keyNext, now)
			}
			if err != nil && !store.IsUniqueViolation(err) {
				return fmt.Errorf("authn: create next %s key: %w", alg, err)
			}
		}
	}
	ks.invalidate()
	return nil
}

func (ks *keyStore) invalidate() {
	ks.mu.Lock()
	ks.ring = nil
	ks.mu.Unlock()
}

// keys returns the published keys, reading them again when the copy is
// older than keyCacheTTL (or maxAge, when smaller).
func (ks *keyStore) keys(ctx context.Context, maxAge time.Duration) (*keyring, error) {
	now := ks.now()
	ks.mu.Lock()
	r := ks.ring
	ks.mu.Unlock()
	if r != nil && now.Sub(r.loaded) < min(maxAge, keyCacheTTL) && now.Sub(r.loaded) >= 0 {
		return r, nil
	}
	r = &keyring{loaded: now, current: map[string]*pubKey{}, byKid: map[string]*pubKey{}}
	rows, err := ks.db.Query(ctx, `SELECT kid, alg, state, public_jwk, created_at, publish_until FROM authn_keys
		WHERE state IN ('next', 'current', 'retired') ORDER BY alg, created_at`)
	if err != nil {
		return nil, fmt.Errorf("authn: read keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k       pubKey
			jwk     string
			created int64
			until   sql.NullInt64
		)
		if err := rows.Scan(&k.kid, &k.alg, &k.state, &jwk, &created, &until); err != nil {
			return nil, fmt.Errorf("authn: read keys: %w", err)
		}
		k.created = time.Unix(0, created)
		if until.Valid {
			k.publishUntil = time.Unix(0, until.Int64)
		}
		if k.state == keyRetired && !k.publishUntil.After(now) {
			continue
		}
		k.jwk = json.RawMessage(jwk)
		if k.pub, err = parseJWK(k.alg, k.jwk); err != nil {
			return nil, fmt.Errorf("authn: key %s: %w", quote(k.kid), err)
		}
		r.keys = append(r.keys, &k)
		r.byKid[k.kid] = &k
		if k.state == keyCurrent {
			r.current[k.alg] = &k
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("authn: read keys: %w", err)
	}
	ks.mu.Lock()
	ks.ring = r
	ks.mu.Unlock()
	return r, nil
}

// signer returns the private key of kid, decrypting or fetching it once.
func (ks *keyStore) signer(ctx context.Context, k *pubKey) (crypto.Signer, error) {
	ks.mu.Lock()
	s, ok := ks.signers[k.kid]
	ks.mu.Unlock()
	if ok {
		return s, nil
	}
	var (
		pemData []byte
		kmsName sql.NullString
	)
	if err := ks.db.QueryRow(ctx, "SELECT private_pem, kms_name FROM authn_keys WHERE kid = ?", k.kid).Scan(&pemData, &kmsName); err != nil {
		return nil, fmt.Errorf("authn: load key %s: %w", quote(k.kid), err)
	}
	var err error
	switch {
	case kmsName.Valid:
		if ks.km == nil {
			return nil, fmt.Errorf("authn: key %s is in a key manager, and none is configured", quote(k.kid))
		}
		s, err = ks.km.Signer(ctx, kmsName.String)
	default:
		s, err = ks.sealer.OpenKey(ctx, pemData)
	}
	if err != nil {
		return nil, fmt.Errorf("authn: key %s: %w", quote(k.kid), err)
	}
	if !publicEqual(s.Public(), k.pub) {
		return nil, fmt.Errorf("authn: key %s: private key does not match the published public key", quote(k.kid))
	}
	ks.mu.Lock()
	ks.signers[k.kid] = s
	ks.mu.Unlock()
	return s, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	if !ok {
		return false
	}
	if ea, ok := a.(*ecdsa.PublicKey); ok {
		// SM2 public keys from different sources may carry different curve
		// values that describe the same curve; compare the points.
		eb, ok := b.(*ecdsa.PublicKey)
		return ok && ea.Curve.Params().Name == eb.Curve.Params().Name && ea.X.Cmp(eb.X) == 0 && ea.Y.Cmp(eb.Y) == 0
	}
	return e.Equal(b)
}

// current returns the signing key of alg and its private key.
func (ks *keyStore) current(ctx context.Context, alg string) (*pubKey, crypto.Signer, error) {
	r, err := ks.keys(ctx, keyCacheTTL)
	if err != nil {
		return nil, nil, err
	}
	k := r.current[alg]
	if k == nil {
		return nil, nil, fmt.Errorf("authn: no current %s key", alg)
	}
	s, err := ks.signer(ctx, k)
	if err != nil {
		return nil, nil, err
	}
	return k, s, nil
}

// sign mints a JWT with golang-jwt: header {alg, kid, typ}.
func (ks *keyStore) sign(ctx context.Context, alg, typ string, claims jwt.Claims) (string, error) {
	k, s, err := ks.current(ctx, alg)
	if err != nil {
		return "", err
	}
	return signWith(k.kid, alg, typ, s, claims)
}

func signWith(kid, alg, typ string, s crypto.Signer, claims jwt.Claims) (string, error) {
	var m jwt.SigningMethod
	switch alg {
	case AlgRS256:
		m = jwt.SigningMethodRS256
	case AlgES256:
		if _, ok := s.(*ecdsa.PrivateKey); ok {
			m = jwt.SigningMethodES256
		} else {
			m = es256Signer{}
		}
	case AlgSM2:
		m = sm2jws.SigningMethodSM2
	default:
		return "", fmt.Errorf("authn: cannot sign with %s", quote(alg))
	}
	t := jwt.NewWithClaims(m, claims)
	t.Header["kid"] = kid
	if typ != "" {
		t.Header["typ"] = typ
	}
	tok, err := t.SignedString(s)
	if err != nil {
		return "", fmt.Errorf("authn: sign %s token: %w", alg, err)
	}
	return tok, nil
}

// es256Signer is the golang-jwt ES256 method for a crypto.Signer that is
// not an *ecdsa.PrivateKey (a key in a hardware key manager). The signer's
// ASN.1 signature is converted to the 64-byte r || s of RFC 7518 §3.4.
type es256Signer struct{}

func (es256Signer) Alg() string { return AlgES256 }

func (es256Signer) Sign(signingString string, key any) ([]byte, error) {
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, jwt.ErrInvalidKeyType
	}
	sum := sha256.Sum256([]byte(signingString))
	der, err := s.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var r, ss big.Int
	in, inner := cryptobyte.String(der), cryptobyte.String(nil)
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() || !inner.ReadASN1Integer(&r) || !inner.ReadASN1Integer(&ss) || !inner.Empty() ||
		r.Sign() <= 0 || ss.Sign() <= 0 || r.BitLen() > 256 || ss.BitLen() > 256 {
		return nil, errors.New("authn: signer returned a malformed ECDSA signature")
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	ss.FillBytes(out[32:])
	if pub, ok := s.Public().(*ecdsa.PublicKey); !ok || jwt.SigningMethodES256.Verify(signingString, out, pub) != nil {
		return nil, errors.New("authn: signer's ES256 signature does not verify")
	}
	return out, nil
}

func (es256Signer) Verify(signingString string, sig []byte, key any) error {
	return jwt.SigningMethodES256.Verify(signingString, sig, key)
}

// jwtHeader is the protected header of a token the provider verifies.
type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// verify checks that token is signed by one of the published keys (any
// state) and decodes its claims into claims. It checks no claim.
func (ks *keyStore) verify(ctx context.Context, token string, claims jwt.Claims) (*jwtHeader, error) {
	if len(token) > maxJWTSize {
		return nil, fmt.Errorf("token is %d bytes, limit %d", len(token), maxJWTSize)
	}
	h64, _, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errors.New("token is not a compact JWS")
	}
	raw, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return nil, fmt.Errorf("token header: %w", err)
	}
	var h jwtHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("token header: %w", err)
	}
	r, err := ks.keys(ctx, keyCacheTTL)
	if err != nil {
		return nil, err
	}
	k := r.byKid[h.Kid]
	if k == nil {
		// Another replica may have made the key since this copy was read.
		if r, err = ks.keys(ctx, time.Second); err != nil {
			return nil, err
		}
		if k = r.byKid[h.Kid]; k == nil {
			return nil, fmt.Errorf("unknown key ID %s", quote(h.Kid))
		}
	}
	if h.Alg != k.alg {
		return nil, fmt.Errorf("alg %s does not match key %s", quote(h.Alg), quote(k.kid))
	}
	if k.alg == AlgSM2 {
		j, err := sm2jws.NewJWK(k.pub.(*ecdsa.PublicKey), k.kid)
		if err != nil {
			return nil, err
		}
		set, err := sm2jws.NewStaticKeySet(j)
		if err != nil {
			return nil, err
		}
		payload, err := set.VerifySignature(ctx, token)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(payload, claims); err != nil {
			return nil, fmt.Errorf("token claims: %w", err)
		}
		return &h, nil
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{k.alg}), jwt.WithoutClaimsValidation())
	if _, err := p.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return k.pub, nil }); err != nil {
		return nil, err
	}
	return &h, nil
}

// jwks returns the JWK Set of the published keys of the given algorithms.
func (ks *keyStore) jwks(ctx context.Context, algs ...string) ([]byte, error) {
	r, err := ks.keys(ctx, keyCacheTTL)
	if err != nil {
		return nil, err
	}
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for _, k := range r.keys {
		if slices.Contains(algs, k.alg) {
			set.Keys = append(set.Keys, k.jwk)
		}
	}
	return json.Marshal(set)
}

// rotate retires the current key of each algorithm in algs, promotes the
// next one and makes a new next key. It refuses, changing nothing, when a
// next key is younger than KeyPrePublication.
func (ks *keyStore) rotate(ctx context.Context, algs []string) error {
	if err := ks.ensure(ctx); err != nil {
		return err
	}
	now := ks.now()
	type pair struct{ cur, next string }
	plan := map[string]pair{}
	for _, alg := range algs {
		if !slices.Contains(signingAlgs, alg) {
			return fmt.Errorf("%w: no keys for algorithm %s", ErrConfig, quote(alg))
		}
		var p pair
		var nextCreated int64
		if err := ks.db.QueryRow(ctx, "SELECT kid FROM authn_keys WHERE alg = ? AND state = 'current'", alg).Scan(&p.cur); err != nil {
			return fmt.Errorf("authn: read current %s key: %w", alg, err)
		}
		if err := ks.db.QueryRow(ctx, "SELECT kid, created_at FROM authn_keys WHERE alg = ? AND state = 'next'", alg).Scan(&p.next, &nextCreated); err != nil {
			return fmt.Errorf("authn: read next %s key: %w", alg, err)
		}
		if age := now.Sub(time.Unix(0, nextCreated)); age < KeyPrePublication {
			return fmt.Errorf("%w: %s key %s published %s ago, needs %s", ErrRotationTooSoon, alg, p.next, age.Round(time.Second), KeyPrePublication)
		}
		plan[alg] = p
	}
	fresh := map[string]*generated{}
	for _, alg := range algs {
		g, err := ks.generate(ctx, alg)
		if err != nil {
			return err
		}
		fresh[alg] = g
	}
	err := ks.db.InTx(ctx, func(tx *store.Tx) error {
		n := now.UnixNano()
		for _, alg := range algs {
			p := plan[alg]
			c, err := affected(tx.Exec(ctx, `UPDATE authn_keys SET state = 'retired', retired_at = ?, publish_until = ?
				WHERE kid = ? AND state = 'current'`, n, now.Add(ks.retain).UnixNano(), p.cur))
			if err != nil {
				return err
			}
			if c != 1 {
				return fmt.Errorf("%s key %s is no longer current (concurrent rotation)", alg, p.cur)
			}
			if _, err := tx.Exec(ctx, "UPDATE authn_keys SET state = 'current', activated_at = ? WHERE kid = ? AND state = 'next'", n, p.next); err != nil {
				return err
			}
			if err := ks.insert(ctx, tx, fresh[alg], keyNext, n); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE authn_keys SET state = 'expired', private_pem = NULL
			WHERE state = 'retired' AND publish_until <= ?`, n)
		return err
	})
	if err != nil {
		return fmt.Errorf("authn: rotate keys: %w", err)
	}
	ks.invalidate()
	return nil
}

// currentSince returns when the current key of alg became current (when
// it was made, for the first key).
func (ks *keyStore) currentSince(ctx context.Context, alg string) (time.Time, error) {
	var activated int64
	err := ks.db.QueryRow(ctx, "SELECT COALESCE(activated_at, created_at) FROM authn_keys WHERE alg = ? AND state = 'current'", alg).Scan(&activated)
	return time.Unix(0, activated), err
}
