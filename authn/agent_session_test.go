package authn

import (
	"net/http"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// TestAnotherAgentEndsSession: two agents of one enterprise share a
// terminal (a service-hall kiosk). Agent 王 signs in to portal A with his
// e-cert and walks away; agent 赵 signs in with her own e-cert in the same
// browser. She is another person, so, as for any other person, 王's session
// must end (his grants revoked, his portals logged out), not be carried on
// under the same sid with 赵's sign-in.
func TestAnotherAgentEndsSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ce := newCertEnv(t, db)
		wang := ce.enterpriseCert(t) // agent testAgent
		zhao := ce.issue(t, "enterprise-sign", ca.Subject{Name: "赵六", Organization: testOrgName, USCC: testUSCC})
		pa, pb := ce.portal(portalA), ce.portal(portalB)
		b := ce.browser(t)
		f, u := pa.start()
		tw := f.finish(t, ce.certSignIn(t, b, b.get(u), wang))
		f, u = pb.start(oauth2.SetAuthURLParam("prompt", "login"))
		tz := f.finish(t, ce.certSignIn(t, b, b.get(u), zhao))
		if idClaims(t, tz.id).AgentName != "赵六" {
			t.Fatalf("second agent's agent_name %q", idClaims(t, tz.id).AgentName)
		}
		if sw, sz := idClaims(t, tw.id).SID, idClaims(t, tz.id).SID; sw == sz {
			t.Errorf("agent 赵六 carried on agent %s's session %s", testAgent, sw)
		}
		if st, _, _ := ce.userinfo(t, "get", tw.tok.AccessToken); st != http.StatusUnauthorized {
			t.Errorf("agent %s's access token at portal A after another agent signed in: %d, want 401", testAgent, st)
		}
	})
}
