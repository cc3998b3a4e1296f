package gateway

import (
	"strings"
	"testing"
)

// A query parameter NAME is recorded verbatim in the audit resource
// (values are left out), so an ID number given as a name ("?<id>" or
// "?<id>=1", a common style) lands in clear in the append-only log, which
// auditors read, bundles export and the evidence endpoint hands to the
// other party: "the policy and the audit log never see a clear ID number".
func TestQueryNamesRedacted(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		"/gw/gongan/v1/statistics/population?" + otherID,
		"/gw/renshe/v1/insurance/" + idNumber + "?" + otherID + "=1",
		"/gw/renshe/v1/nowhere?" + otherID,
	} {
		before := len(e.log.all())
		w := e.call(t, "tax", "GET", path, map[string]string{HeaderPurpose: "P-IIT-VERIFY"}, "")
		if w.Code == 200 {
			<-e.hits
			<-e.bodies
		}
		for _, en := range e.log.all()[before:] {
			if c := string(mustCanon(t, en)); strings.Contains(c, otherID) {
				t.Errorf("%s (%d): clear ID number in the audit entry %s", path, w.Code, c)
			}
		}
	}
}
