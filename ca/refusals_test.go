package ca_test

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
)

// memAuditor keeps the CA's audit events.
type memAuditor struct {
	mu  sync.Mutex
	evs []ca.AuditEvent
}

func (m *memAuditor) Record(_ context.Context, ev ca.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evs = append(m.evs, ev)
	return nil
}

// refusals returns the recorded refused enrolments.
func (m *memAuditor) refusals() []ca.AuditEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ca.AuditEvent
	for _, ev := range m.evs {
		if ev.Action == "ca.certificate.enrol" && ev.Outcome == "failure" {
			out = append(out, ev)
		}
	}
	return out
}

// post sends body to POST /ca/v1/certificates from addr.
func (f *apiFixture) post(t testing.TB, addr string, body any) *httptest.ResponseRecorder {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/ca/v1/certificates", strings.NewReader(string(b)))
	req.RemoteAddr = addr
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, req)
	return w
}

// TestRefusalFlood is finding 7 of issue 9: 20,000 junk enrolment requests
// from one address get 429s after a burst and add a handful of audit
// entries, each naming the source; another address is not affected, and a
// valid request from the flooding address is answered once its bucket has
// refilled.
func TestRefusalFlood(t *testing.T) {
	au := &memAuditor{}
	f := newAPIFixture(t, catest.WithCA(ca.WithAuditor(au)))
	const attacker = "203.0.113.7:40000"
	csr := string(catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))))
	counts := map[int]int{}
	for i := range 20000 {
		var body any = ca.EnrolRequestJSON{CSR: csr, EnrolmentCode: fmt.Sprintf("guess%027d", i)}
		if i%2 == 1 {
			body = ca.EnrolRequestJSON{CSR: "junk", EnrolmentCode: "x"}
		}
		w := f.post(t, attacker, body)
		counts[w.Code]++
		if w.Code == http.StatusTooManyRequests && counts[w.Code] == 1 {
			p := problemOf(t, w, http.StatusTooManyRequests)
			if w.Header().Get("Retry-After") == "" || !strings.Contains(p.Detail, "try again") {
				t.Errorf("429 without Retry-After: %v %+v", w.Header(), p)
			}
		}
	}
	if counts[http.StatusTooManyRequests] < 19900 || counts[http.StatusCreated] != 0 {
		t.Fatalf("statuses %v, want at most a burst of refusals and 429s after", counts)
	}
	evs := au.refusals()
	if len(evs) > 5 {
		t.Fatalf("%d audit entries for one flood, want a handful", len(evs))
	}
	for _, ev := range evs {
		if ev.Source != attacker {
			t.Errorf("audit entry without the source address: %+v", ev)
		}
	}
	f.Clock.Set(f.Clock.Now().Add(2 * time.Minute))
	if err := f.CA.FlushRefusals(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	evs = au.refusals()
	last := evs[len(evs)-1]
	if !strings.Contains(last.Reasons[0], "19999 more refused enrolment requests from 203.0.113.7") {
		t.Errorf("summary entry %+v", last)
	}

	t.Run("ok/other-address-unaffected", func(t *testing.T) {
		code := f.createCode(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
		if w := f.post(t, "198.51.100.1:1", ca.EnrolRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))), EnrolmentCode: code.Code}); w.Code != http.StatusCreated {
			t.Fatalf("valid request from another address: %d %s", w.Code, w.Body)
		}
		au.mu.Lock()
		last := au.evs[len(au.evs)-1]
		au.mu.Unlock()
		if last.Action != "ca.certificate.issue" || last.Source != "198.51.100.1:1" {
			t.Errorf("issue entry %+v, want the source address", last)
		}
	})
	t.Run("ok/bucket-refills", func(t *testing.T) {
		code := f.createCode(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
		if w := f.post(t, attacker, ca.EnrolRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))), EnrolmentCode: code.Code}); w.Code != http.StatusCreated {
			t.Fatalf("valid request after two quiet minutes: %d %s", w.Code, w.Body)
		}
	})
	t.Run("fail/same-ipv6-64-shares-a-bucket", func(t *testing.T) {
		for i := range 25 {
			f.post(t, fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), ca.EnrolRequestJSON{CSR: "junk", EnrolmentCode: "x"})
		}
		if w := f.post(t, "[2001:db8:1:2:ffff::1]:443", ca.EnrolRequestJSON{CSR: "junk", EnrolmentCode: "x"}); w.Code != http.StatusTooManyRequests {
			t.Fatalf("another address of the same /64: %d", w.Code)
		}
	})
}

// TestValidEnrolmentsNotThrottled: a source whose requests succeed never
// meets the refusal limit, however many it sends.
func TestValidEnrolmentsNotThrottled(t *testing.T) {
	f := newAPIFixture(t, catest.WithCA(ca.WithRefusalLimits(ca.RefusalLimits{Burst: 2, Every: time.Hour})))
	const client = "192.0.2.50:1000"
	for i := range 40 {
		code := f.createCode(t, "service", ca.Subject{Department: "tax", Service: fmt.Sprintf("svc%d", i), DNSNames: []string{fmt.Sprintf("svc%d.tax.example", i)}})
		if w := f.post(t, client, ca.EnrolRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256())))), EnrolmentCode: code.Code}); w.Code != http.StatusCreated {
			t.Fatalf("valid enrolment %d: %d %s", i, w.Code, w.Body)
		}
	}
	// Two refusals spend the budget; then even a valid code waits.
	for range 2 {
		f.post(t, client, ca.EnrolRequestJSON{CSR: "junk", EnrolmentCode: "x"})
	}
	code := f.createCode(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
	if w := f.post(t, client, ca.EnrolRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))), EnrolmentCode: code.Code}); w.Code != http.StatusTooManyRequests {
		t.Fatalf("a source over its refusal budget: %d, want 429", w.Code)
	}
}

// TestRefusalSourcesBounded: with more sources than the table holds, every
// refusal is still accounted for in the audit log (first entries plus
// counts), and nothing grows without bound.
func TestRefusalSourcesBounded(t *testing.T) {
	au := &memAuditor{}
	f := newAPIFixture(t, catest.WithCA(ca.WithAuditor(au), ca.WithRefusalLimits(ca.RefusalLimits{MaxSources: 16})))
	const sources, each = 300, 3
	for i := range sources {
		for range each {
			f.post(t, fmt.Sprintf("10.9.%d.%d:1", i/256, i%256), ca.EnrolRequestJSON{CSR: "junk", EnrolmentCode: "x"})
		}
	}
	if err := f.CA.FlushRefusals(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, ev := range au.refusals() {
		var n int
		if _, err := fmt.Sscanf(ev.Reasons[0], "%d more refused", &n); err == nil {
			total += n
		} else {
			total++
		}
	}
	if total != sources*each {
		t.Fatalf("audit log accounts for %d refusals, want %d", total, sources*each)
	}
}
