package authn

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters of new password hashes (RFC 9106; the values are
// OWASP's first recommendation for argon2id: 19 MiB, 2 passes, 1 lane). On
// the reference machine (2 shared x86-64 cores) one hash takes about 30 ms.
// Stored hashes keep the parameters they were made with, so these can be
// raised later without invalidating existing passwords.
const (
	Argon2Memory  = 19 * 1024 // KiB
	Argon2Time    = 2
	Argon2Threads = 1
	Argon2SaltLen = 16
	Argon2KeyLen  = 32
)

// Limits on password hashes read from the store, so that a corrupted row
// cannot make a login allocate or compute without bound.
const (
	maxArgon2Memory = 1 << 20 // KiB (1 GiB)
	maxArgon2Time   = 16
)

// Password length limits, in bytes for the maximum and characters for the
// minimum.
const (
	MinPasswordLength = 10
	MaxPasswordLength = 1024
)

// errBadHash reports a stored hash that cannot be parsed.
var errBadHash = errors.New("authn: malformed password hash")

var phcB64 = base64.RawStdEncoding

// hashPassword returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, salt and hash in unpadded
// standard base64.
func hashPassword(password string) (string, error) {
	salt := make([]byte, Argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("authn: password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, Argon2Time, Argon2Memory, Argon2Threads, Argon2KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, Argon2Memory, Argon2Time, Argon2Threads, phcB64.EncodeToString(salt), phcB64.EncodeToString(key)), nil
}

// checkPassword reports whether password matches the PHC string encoded, in
// constant time with respect to the hash. A malformed encoded value is an
// error wrapping errBadHash.
func checkPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, errBadHash
	}
	var m, t, p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return false, errBadHash
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return false, errBadHash
		}
	}
	if m < 8 || m > maxArgon2Memory || t < 1 || t > maxArgon2Time || p < 1 || p > 255 {
		return false, errBadHash
	}
	salt, err := phcB64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return false, errBadHash
	}
	want, err := phcB64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
