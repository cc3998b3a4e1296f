package gateway

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkCall measures one call through the gateway handler in-process:
// identity (mTLS state given), catalogue match, policy decision, SM3
// digest, a real SM2 timestamp token, an in-memory audit log, the caller
// token and forwarding to a TLS test upstream. It shows the gateway's own
// CPU cost without durable storage; see test/load for the full picture.
func BenchmarkCall(b *testing.B) {
	e := newEnv(b)
	tls := e.pki.leaf(b, "tax", "api")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest("GET", "/gw/gongan/v1/statistics/population", nil)
		r.TLS = tls
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		<-e.hits
		<-e.bodies
	}
	b.StopTimer()
	e.g.Wait(b.Context())
}
