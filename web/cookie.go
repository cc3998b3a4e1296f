package web

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/emmansun/gmsm/sm3"
)

// MaxCookieSize bounds a signed cookie value.
const MaxCookieSize = 3 << 10

// ErrCookie is returned by [Signer.Decode] for a value it did not sign.
var ErrCookie = errors.New("web: cookie not signed by this server")

// Signer signs small JSON values kept in cookies (a session's state) with
// HMAC-SM3 under a server key, so that a browser can hold them without
// being able to change them. Values are readable by the browser: put no
// secrets in them. Each purpose gets its own derived key.
type Signer struct{ key []byte }

// NewSigner returns a signer under key (at least 16 bytes) for purpose.
func NewSigner(key []byte, purpose string) (*Signer, error) {
	if len(key) < 16 {
		return nil, errors.New("web: cookie key shorter than 16 bytes")
	}
	m := hmac.New(sm3.New, key)
	m.Write([]byte("tongxing web cookie\x00" + purpose))
	return &Signer{key: m.Sum(nil)}, nil
}

// Encode returns v as JSON, base64url, a dot and its MAC.
func (s *Signer) Encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	body := base64.RawURLEncoding.EncodeToString(b)
	out := body + "." + s.mac(body)
	if len(out) > MaxCookieSize {
		return "", errors.New("web: cookie value too large")
	}
	return out, nil
}

// Decode checks value's MAC and unmarshals it into v.
func (s *Signer) Decode(value string, v any) error {
	if len(value) > MaxCookieSize {
		return ErrCookie
	}
	body, mac, ok := strings.Cut(value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.mac(body))) {
		return ErrCookie
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return ErrCookie
	}
	if err := json.Unmarshal(b, v); err != nil {
		return ErrCookie
	}
	return nil
}

func (s *Signer) mac(body string) string {
	m := hmac.New(sm3.New, s.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
