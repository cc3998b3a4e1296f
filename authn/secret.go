package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// Prefixes of the bearer secrets the provider hands out, so that secret
// scanners recognise them.
const (
	refreshTokenPrefix = "txr_"
	clientSecretPrefix = "txc_"
)

// randomToken returns n random bytes as unpadded base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand.Read does not fail on supported platforms (Go 1.24+).
		panic(fmt.Sprintf("authn: crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newID returns a random 128-bit identifier (22 base64url characters).
func newID() string { return randomToken(16) }

// newSecret returns a random 256-bit bearer secret (43 base64url
// characters).
func newSecret() string { return randomToken(32) }

// hashSecret returns SHA-256 of a bearer secret. The secrets are 256-bit
// random values, so an unsalted fast hash is enough to keep a database
// reader from using them.
func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// clientSecretHashPrefix starts a client secret hash string.
const clientSecretHashPrefix = "sha256:"

// MinClientSecretLength is the shortest client secret accepted, in bytes.
// Client secrets are stored as unsalted SHA-256 hashes, which is safe only
// for high-entropy secrets such as those of [GenerateClientSecret].
const MinClientSecretLength = 32

// GenerateClientSecret returns a new random client secret ("txc_" and 43
// base64url characters, 256 bits) and its hash for [ClientConfig.SecretHash].
func GenerateClientSecret() (secret, hash string) {
	secret = clientSecretPrefix + newSecret()
	return secret, HashClientSecret(secret)
}

// HashClientSecret returns the form of secret stored in a client
// registration: "sha256:" and the unpadded base64url SHA-256 of secret. It
// does NOT check the secret's length or entropy; [ClientConfig] validation
// does not see the secret, so use [GenerateClientSecret] for new clients.
func HashClientSecret(secret string) string {
	return clientSecretHashPrefix + base64.RawURLEncoding.EncodeToString(hashSecret(secret))
}

// checkClientSecret compares secret with a stored hash in constant time.
func checkClientSecret(hash, secret string) bool {
	want, ok := strings.CutPrefix(hash, clientSecretHashPrefix)
	if !ok || secret == "" {
		return false
	}
	got := HashClientSecret(secret)[len(clientSecretHashPrefix):]
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
