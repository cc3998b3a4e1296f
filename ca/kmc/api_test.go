package kmc

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store/storetest"
)

func TestDualAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		t.Run("ok/enrol", func(t *testing.T) {
			signKey := catest.SM2Key(t)
			w := f.do(t, "POST", "/ca/v1/kmc/dual", "", DualRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, signKey))), EnrolmentCode: f.Code(t, SignProfile, enterprise)})
			if w.Code != http.StatusCreated {
				t.Fatalf("POST /ca/v1/kmc/dual: %d %s", w.Code, w.Body)
			}
			res, encKey, err := ParseDualResponse(signKey, w.Body.Bytes())
			if err != nil {
				t.Fatalf("ParseDualResponse: %v", err)
			}
			if !encKey.PublicKey.Equal(res.EncCertificate.PublicKey) || len(res.SignChain) != 1 || len(res.EncChain) != 1 {
				t.Fatalf("dual response: %+v", res)
			}
			if loc := w.Header().Get("Location"); loc != "/ca/v1/certificates/"+res.SignSerial {
				t.Errorf("Location %q", loc)
			}
			if f.count(t, "SELECT COUNT(*) FROM kmc_escrow WHERE enc_serial = ?", res.EncSerial) != 1 {
				t.Error("no escrow row")
			}
		})

		used := f.Code(t, SignProfile, enterprise)
		if _, err := f.kmc.EnrolDual(context.Background(), catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))), used); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			body   func(t *testing.T) any
			status int
			field  string
		}{
			{name: "fail/malformed-json", status: 400, body: func(*testing.T) any { return "{" }},
			{name: "fail/unknown-field", status: 400, body: func(*testing.T) any { return `{"csr":"x","enrolment_code":"y","profile":"enterprise"}` }},
			{name: "fail/wrong-type", status: 400, field: "csr", body: func(*testing.T) any { return `{"csr":1}` }},
			{name: "fail/trailing-json", status: 400, body: func(*testing.T) any { return `{"csr":"x"} {}` }},
			{name: "fail/no-csr", status: 400, field: "csr", body: func(t *testing.T) any {
				return DualRequestJSON{EnrolmentCode: f.Code(t, SignProfile, enterprise)}
			}},
			{name: "fail/oversized", status: 413, body: func(*testing.T) any {
				return DualRequestJSON{CSR: strings.Repeat("A", maxDualBody), EnrolmentCode: "x"}
			}},
			{name: "fail/ecdsa-csr", status: 400, field: "csr", body: func(t *testing.T) any {
				return DualRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256())))), EnrolmentCode: f.Code(t, SignProfile, enterprise)}
			}},
			{name: "fail/unknown-code", status: 403, field: "enrolment_code", body: func(t *testing.T) any {
				return DualRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))), EnrolmentCode: "nope"}
			}},
			{name: "fail/used-code", status: 409, field: "enrolment_code", body: func(t *testing.T) any {
				return DualRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))), EnrolmentCode: used}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				catest.Problem(t, f.do(t, "POST", "/ca/v1/kmc/dual", "", tt.body(t)), tt.status, tt.field)
			})
		}
	})
}

func TestRecoveryAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		e := f.enrol(t, enterprise)
		newKey := catest.SM2Key(t)
		deliverTo := string(pemPublicKey(t, &newKey.PublicKey))
		tok := f.tokens

		// Role enforcement on every officer endpoint.
		for _, ep := range []struct{ method, path string }{
			{"POST", "/ca/v1/kmc/recoveries"},
			{"GET", "/ca/v1/kmc/recoveries"},
			{"GET", "/ca/v1/kmc/recoveries/rcv_0000000000000000"},
			{"POST", "/ca/v1/kmc/recoveries/rcv_0000000000000000/approve"},
			{"POST", "/ca/v1/kmc/recoveries/rcv_0000000000000000/reject"},
			{"POST", "/ca/v1/kmc/recoveries/rcv_0000000000000000/deliver"},
		} {
			t.Run("fail/no-token"+ep.path+"/"+ep.method, func(t *testing.T) {
				catest.Problem(t, f.do(t, ep.method, ep.path, "", nil), 401, "")
			})
			t.Run("fail/auditor"+ep.path+"/"+ep.method, func(t *testing.T) {
				catest.Problem(t, f.do(t, ep.method, ep.path, f.auditor, nil), 403, "")
			})
		}

		for _, tt := range []struct {
			name   string
			body   any
			status int
			field  string
		}{
			{"fail/bad-serial", RecoveryRequestJSON{EncSerial: "zz", Reason: "r", DeliverTo: deliverTo}, 400, "enc_serial"},
			{"fail/unknown-serial", RecoveryRequestJSON{EncSerial: "abcdef", Reason: "r", DeliverTo: deliverTo}, 404, "enc_serial"},
			{"fail/no-reason", RecoveryRequestJSON{EncSerial: e.res.EncSerial, DeliverTo: deliverTo}, 400, "reason"},
			{"fail/ecdsa-deliver-to", RecoveryRequestJSON{EncSerial: e.res.EncSerial, Reason: "r", DeliverTo: string(pemPublicKey(t, &catest.ECKey(t, elliptic.P256()).PublicKey))}, 400, "deliver_to"},
			{"fail/missing-deliver-to", RecoveryRequestJSON{EncSerial: e.res.EncSerial, Reason: "r"}, 400, "deliver_to"},
			{"fail/malformed-json", "[", 400, ""},
			{"fail/oversized", RecoveryRequestJSON{EncSerial: e.res.EncSerial, Reason: strings.Repeat("r", maxRecoveryBody)}, 413, ""},
		} {
			t.Run("request/"+tt.name, func(t *testing.T) {
				catest.Problem(t, f.do(t, "POST", "/ca/v1/kmc/recoveries", tok[alice], tt.body), tt.status, tt.field)
			})
		}

		w := f.do(t, "POST", "/ca/v1/kmc/recoveries", tok[alice], RecoveryRequestJSON{EncSerial: e.res.EncSerial, Reason: "token lost", DeliverTo: deliverTo})
		if w.Code != http.StatusCreated {
			t.Fatalf("POST /ca/v1/kmc/recoveries: %d %s", w.Code, w.Body)
		}
		var rec RecoveryJSON
		if err := json.Unmarshal(w.Body.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.ID == "" || rec.Status != StatusRequested || rec.RequestedBy != alice || rec.RequiredApprovals != RequiredApprovals || rec.DeliverTo != deliverTo {
			t.Fatalf("created recovery: %s", w.Body)
		}
		base := "/ca/v1/kmc/recoveries/" + rec.ID

		steps := []struct {
			name   string
			method string
			path   string
			token  string
			body   any
			status int
		}{
			{"fail/requester-approves", "POST", base + "/approve", tok[alice], nil, 403},
			{"fail/deliver-unapproved", "POST", base + "/deliver", tok[alice], nil, 409},
			{"fail/approve-with-unknown-field", "POST", base + "/approve", tok[bob], `{"x":1}`, 400},
			{"ok/bob-approves", "POST", base + "/approve", tok[bob], nil, 200},
			{"fail/bob-approves-again", "POST", base + "/approve", tok[bob], `{}`, 409},
			{"fail/deliver-one-approval", "POST", base + "/deliver", tok[bob], nil, 409},
			{"ok/carol-approves", "POST", base + "/approve", tok[carol], nil, 200},
			{"fail/unknown-recovery", "POST", "/ca/v1/kmc/recoveries/rcv_0000000000000000/deliver", tok[alice], nil, 404},
			{"fail/malformed-id", "POST", "/ca/v1/kmc/recoveries/x'--/deliver", tok[alice], nil, 404},
		}
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				w := f.do(t, s.method, s.path, s.token, s.body)
				if s.status >= 400 {
					catest.Problem(t, w, s.status, "")
				} else if w.Code != s.status {
					t.Fatalf("%d, want %d: %s", w.Code, s.status, w.Body)
				}
			})
		}

		t.Run("ok/deliver", func(t *testing.T) {
			w := f.do(t, "POST", base+"/deliver", tok[alice], nil)
			if w.Code != http.StatusOK {
				t.Fatalf("deliver: %d %s", w.Code, w.Body)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			var d DeliveryJSON
			if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			k, err := sm2.ParseEnvelopedPrivateKey(newKey, d.EnvelopedKey)
			if err != nil || k.D.Cmp(e.encKey.D) != 0 {
				t.Fatalf("delivered key: %v", err)
			}
			if d.EncCertificate != pemCert(e.res.EncCertificate) || d.Recovery.Status != StatusDelivered {
				t.Errorf("delivery: %s", w.Body)
			}
		})
		t.Run("fail/deliver-twice", func(t *testing.T) {
			catest.Problem(t, f.do(t, "POST", base+"/deliver", tok[bob], nil), 409, "")
		})
		t.Run("ok/get-with-events", func(t *testing.T) {
			w := f.do(t, "GET", base, tok[carol], nil)
			if w.Code != http.StatusOK {
				t.Fatalf("GET: %d %s", w.Code, w.Body)
			}
			var got RecoveryJSON
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			var whats []string
			for _, ev := range got.Events {
				whats = append(whats, ev.What)
			}
			want := "recovery-requested approval-refused delivery-refused approved approval-refused delivery-refused approved delivered delivery-refused"
			if strings.Join(whats, " ") != want {
				t.Errorf("events %q\nwant   %q", strings.Join(whats, " "), want)
			}
			if got.Status != StatusDelivered || len(got.Approvals) != 2 || got.ClosedBy != alice {
				t.Errorf("recovery %s", w.Body)
			}
		})
		t.Run("ok/list", func(t *testing.T) {
			for status, n := range map[string]int{"": 1, "delivered": 1, "requested": 0} {
				w := f.do(t, "GET", "/ca/v1/kmc/recoveries?status="+status, tok[bob], nil)
				var got struct{ Recoveries []RecoveryJSON }
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 || len(got.Recoveries) != n {
					t.Errorf("list status=%q: %d %v %s", status, w.Code, err, w.Body)
				}
			}
			catest.Problem(t, f.do(t, "GET", "/ca/v1/kmc/recoveries?status=bogus", tok[bob], nil), 400, "status")
		})
		t.Run("fail/get-unknown", func(t *testing.T) {
			catest.Problem(t, f.do(t, "GET", "/ca/v1/kmc/recoveries/rcv_0123456789abcdef", tok[bob], nil), 404, "")
		})
		t.Run("ok/reject", func(t *testing.T) {
			w := f.do(t, "POST", "/ca/v1/kmc/recoveries", tok[bob], RecoveryRequestJSON{EncSerial: e.res.EncSerial, Reason: "second", DeliverTo: deliverTo})
			var r RecoveryJSON
			if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			catest.Problem(t, f.do(t, "POST", "/ca/v1/kmc/recoveries/"+r.ID+"/reject", tok[carol], RejectJSON{Comment: "a\x01b"}), 400, "comment")
			w = f.do(t, "POST", "/ca/v1/kmc/recoveries/"+r.ID+"/reject", tok[carol], RejectJSON{Comment: "no case"})
			if w.Code != 200 || !strings.Contains(w.Body.String(), `"status": "rejected"`) {
				t.Fatalf("reject: %d %s", w.Code, w.Body)
			}
		})
	})
}

func TestRequestDual(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		srv := httptest.NewServer(f.mux)
		defer srv.Close()
		ctx := context.Background()
		code := f.Code(t, SignProfile, ca.Subject{Organization: catest.OrgName, USCC: catest.USCC, Name: agentName})

		t.Run("ok/pair", func(t *testing.T) {
			signKey := catest.SM2Key(t)
			res, encKey, err := RequestDual(ctx, srv.Client(), srv.URL+"/", code, signKey)
			if err != nil {
				t.Fatalf("RequestDual: %v", err)
			}
			if !encKey.PublicKey.Equal(res.EncCertificate.PublicKey) || !signKey.PublicKey.Equal(res.SignCertificate.PublicKey) {
				t.Fatal("keys do not match the certificates")
			}
			if res.EncCertificate.Subject.CommonName != agentName {
				t.Errorf("enc CN %q", res.EncCertificate.Subject.CommonName)
			}
			if f.count(t, "SELECT COUNT(*) FROM kmc_escrow WHERE enc_serial = ?", res.EncSerial) != 1 {
				t.Error("no escrow row")
			}
		})
		t.Run("fail/code-reused", func(t *testing.T) {
			_, key, err := RequestDual(ctx, srv.Client(), srv.URL, code, catest.SM2Key(t))
			var p *problem.Details
			if !errors.As(err, &p) || p.Status != 409 || p.Field != "enrolment_code" || key != nil {
				t.Fatalf("reused code: %v", err)
			}
		})
		t.Run("fail/unreachable", func(t *testing.T) {
			if _, _, err := RequestDual(ctx, nil, "http://127.0.0.1:1", code, catest.SM2Key(t)); err == nil {
				t.Fatal("no error from an unreachable server")
			}
		})
		t.Run("fail/no-key", func(t *testing.T) {
			if _, _, err := RequestDual(ctx, nil, srv.URL, code, nil); err == nil {
				t.Fatal("no error without a key")
			}
		})
	})
}

func TestParseDualResponse(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	signKey := catest.SM2Key(t)
	w := f.do(t, "POST", "/ca/v1/kmc/dual", "", DualRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, signKey))), EnrolmentCode: f.Code(t, SignProfile, enterprise)})
	if w.Code != http.StatusCreated {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var good DualJSON
	if err := json.Unmarshal(w.Body.Bytes(), &good); err != nil {
		t.Fatal(err)
	}
	other := f.enrol(t, enterprise)
	otherJSON := DualJSON{
		SignCertificate: pemCert(other.res.SignCertificate), EncCertificate: pemCert(other.res.EncCertificate),
		SignSerial: other.res.SignSerial, EncSerial: other.res.EncSerial, CSRResponse: other.res.CSRResponse,
	}
	tests := []struct {
		name string
		key  *sm2.PrivateKey
		mod  func(j *DualJSON)
		ok   bool
	}{
		{name: "ok/as-served", key: signKey, mod: func(*DualJSON) {}, ok: true},
		{name: "fail/other-signing-key", key: catest.SM2Key(t), mod: func(*DualJSON) {}},
		{name: "fail/no-csr-response", key: signKey, mod: func(j *DualJSON) { j.CSRResponse = nil }},
		{name: "fail/garbage-csr-response", key: signKey, mod: func(j *DualJSON) { j.CSRResponse = []byte{0x30, 0x00} }},
		{name: "fail/enc-cert-swapped", key: signKey, mod: func(j *DualJSON) { j.EncCertificate = otherJSON.EncCertificate }},
		{name: "fail/sign-cert-swapped", key: signKey, mod: func(j *DualJSON) { j.SignCertificate = otherJSON.SignCertificate }},
		{name: "fail/serial-mismatch", key: signKey, mod: func(j *DualJSON) { j.EncSerial = j.SignSerial }},
		{name: "fail/bad-chain", key: signKey, mod: func(j *DualJSON) { j.SignChain = []string{"junk"} }},
		{name: "fail/others-csr-response", key: signKey, mod: func(j *DualJSON) { j.CSRResponse = otherJSON.CSRResponse }},
		{name: "fail/truncated-csr-response", key: signKey, mod: func(j *DualJSON) { j.CSRResponse = j.CSRResponse[:len(j.CSRResponse)-1] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := good
			j.SignChain = append([]string(nil), good.SignChain...)
			tt.mod(&j)
			body, err := json.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			res, key, err := ParseDualResponse(tt.key, body)
			if tt.ok {
				if err != nil || !key.PublicKey.Equal(res.EncCertificate.PublicKey) {
					t.Fatalf("ParseDualResponse: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrBadResponse) || key != nil {
				t.Fatalf("err = %v, want ErrBadResponse", err)
			}
		})
	}
	t.Run("fail/oversized", func(t *testing.T) {
		if _, _, err := ParseDualResponse(signKey, bytes.Repeat([]byte(" "), MaxDualResponse+1)); !errors.Is(err, ErrBadResponse) {
			t.Fatalf("err = %v", err)
		}
	})
}
