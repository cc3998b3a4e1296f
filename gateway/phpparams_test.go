package gateway

import (
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca/ident"
)

// PHP reads a query parameter name with its leading spaces dropped, cut at
// a NUL byte, and an unclosed '[' read as '_': "%20id_number",
// "id_number%00x" and "id[number" are all $_GET["id_number"], and the last
// value given wins. The gateway records (and the policy checks) the first
// citizen; a PHP upstream serves the second, whose access log never shows
// the call.
func TestPHPParamNamesRefused(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Now = func() time.Time { return time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC) } })
	for _, path := range []string{
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&id[number=" + otherID,
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&id%5Bnumber=" + otherID,
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&%20id_number=" + otherID,
		"/gw/renshe/v1/pensions?id_number=" + idNumber + "&id_number%00x=" + otherID,
		"/gw/renshe/v1/insurance/" + idNumber + "?id[number=" + otherID,
	} {
		before := len(e.log.all())
		w := e.call(t, "tax", "GET", path, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, "")
		if w.Code != 400 {
			named := ""
			for _, en := range e.log.all()[before:] {
				if en.Action == ActionCall {
					named = en.CitizenHash
				}
			}
			t.Errorf("%s: %d, forwarded and recorded for %s only (the first citizen: %v)", path, w.Code, named,
				named == NamedCitizenHash(citizenKey, ident.Pseudonym(citizenKey, idNumber)))
			if w.Code == 200 {
				<-e.hits
				<-e.bodies
			}
		}
	}
}
