package ident

import (
	"crypto/hmac"
	"encoding/hex"

	"github.com/emmansun/gmsm/sm3"
)

// Pseudonym returns HMAC-SM3(key, NormalizeCitizenID(id)) as 64 lower-case
// hex characters, which fit an X.520 serialNumber PrintableString. It lets a
// certificate identify a citizen without carrying the identity number.
//
// key is a per-deployment secret (at least 32 random bytes is advised): with
// the same key the same identity number always gives the same pseudonym, so
// relying parties of one deployment can match certificates of one person;
// without the key a pseudonym cannot be computed or linked to an identity
// number. Changing the key changes every pseudonym. The key must never be
// logged or put in errors.
//
// Pseudonym does NOT validate id and does NOT check the key's length; call
// [ValidateCitizenID] first.
func Pseudonym(key []byte, id string) string {
	mac := hmac.New(sm3.New, key)
	mac.Write([]byte(NormalizeCitizenID(id)))
	return hex.EncodeToString(mac.Sum(nil))
}
