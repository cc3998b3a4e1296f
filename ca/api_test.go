package ca_test

import (
	"bytes"
	"crypto/elliptic"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
)

func TestAPIEnrolErrors(t *testing.T) {
	f := newAPIFixture(t)
	for _, tt := range enrolCases() {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.setup(t, f.Fixture)
			body := ca.EnrolRequestJSON{CSR: string(req.CSR), Profile: req.Profile, EnrolmentCode: req.Code}
			w := f.do(t, "POST", "/ca/v1/certificates", "", body)
			p := problemOf(t, w, tt.status)
			if p.Field != tt.field {
				t.Errorf("problem field %q, want %q (%s)", p.Field, tt.field, p.Detail)
			}
			if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != tt.field {
				t.Errorf("invalid-params %+v", p.InvalidParams)
			}
			if p.Instance != "/ca/v1/certificates" {
				t.Errorf("instance %q", p.Instance)
			}
		})
	}
}

func TestAPIBadBodies(t *testing.T) {
	f := newAPIFixture(t)
	citizen := ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}
	tests := []struct {
		name   string
		method string
		path   string
		token  func() string
		body   any
		status int
		field  string
	}{
		{name: "fail/enrol-malformed-json", method: "POST", path: "/ca/v1/certificates", body: `{"csr":`, status: 400},
		{name: "fail/enrol-unknown-json-field", method: "POST", path: "/ca/v1/certificates", body: `{"csr":"x","enrolment_code":"y","subject":{}}`, status: 400},
		{name: "fail/enrol-wrong-json-type", method: "POST", path: "/ca/v1/certificates", body: `{"csr":5}`, status: 400, field: "csr"},
		{name: "fail/enrol-trailing-json", method: "POST", path: "/ca/v1/certificates", body: `{"csr":"x"} {}`, status: 400},
		{name: "fail/enrol-null", method: "POST", path: "/ca/v1/certificates", body: `null`, status: 400, field: "csr"},
		{name: "fail/enrol-empty-body", method: "POST", path: "/ca/v1/certificates", body: ``, status: 400},
		{name: "fail/enrol-body-too-large", method: "POST", path: "/ca/v1/certificates", body: `{"csr":"` + strings.Repeat("A", 64<<10) + `"}`, status: 413},
		{name: "fail/code-no-token", method: "POST", path: "/ca/v1/enrolment-codes", body: ca.CodeRequestJSON{Profile: "citizen", Subject: citizen}, status: 401},
		{name: "fail/code-bad-token", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return "txo_nope" }, body: ca.CodeRequestJSON{Profile: "citizen", Subject: citizen}, status: 401},
		{name: "fail/code-auditor-token", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.auditorToken }, body: ca.CodeRequestJSON{Profile: "citizen", Subject: citizen}, status: 403},
		{name: "fail/code-invalid-id-number", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: "110105194912310021"}}, status: 400, field: "subject.id_number"},
		{name: "fail/code-invalid-uscc", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "enterprise-sign", Subject: ca.Subject{Organization: catest.OrgName, USCC: "91350100M000100Y44"}}, status: 400, field: "subject.uscc"},
		{name: "fail/code-unknown-profile", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "diplomat", Subject: citizen}, status: 400, field: "profile"},
		{name: "fail/code-missing-field", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName}}, status: 400, field: "subject.id_number"},
		{name: "fail/code-bad-ttl", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "citizen", Subject: citizen, TTL: "three days"}, status: 400, field: "ttl"},
		{name: "fail/code-ttl-too-long", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "citizen", Subject: citizen, TTL: "9999h"}, status: 400, field: "ttl"},
		{name: "fail/code-wrong-json-type", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: `{"profile":"citizen","subject":{"dns_names":"a.example"}}`, status: 400, field: "subject.dns_names"},
		{name: "fail/code-name-rtl-override", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "citizen", Subject: ca.Subject{Name: "张\u202e三", IDNumber: catest.CitizenID}}, status: 400, field: "subject.name"},
		{name: "fail/code-name-zero-width-space", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "citizen", Subject: ca.Subject{Name: "张\u200b三", IDNumber: catest.CitizenID}}, status: 400, field: "subject.name"},
		{name: "fail/code-name-c1-control", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "citizen", Subject: ca.Subject{Name: "张\u0085三", IDNumber: catest.CitizenID}}, status: 400, field: "subject.name"},
		{name: "fail/code-organization-isolate", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: ca.CodeRequestJSON{Profile: "enterprise-sign", Subject: ca.Subject{Organization: catest.OrgName + "\u2067x", USCC: catest.USCC}}, status: 400, field: "subject.organization"},
		{name: "fail/code-name-invalid-utf8", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: []byte("{\"profile\":\"citizen\",\"subject\":{\"name\":\"\xe5\xbc\xa0\xff\",\"id_number\":\"" + catest.CitizenID + "\"}}"), status: 400, field: "subject.name"},
		{name: "fail/code-name-lone-surrogate", method: "POST", path: "/ca/v1/enrolment-codes", token: func() string { return f.raToken },
			body: `{"profile":"citizen","subject":{"name":"\ud800","id_number":"` + catest.CitizenID + `"}}`, status: 400, field: "subject.name"},
		{name: "fail/list-no-token", method: "GET", path: "/ca/v1/certificates", status: 401},
		{name: "fail/list-bad-status", method: "GET", path: "/ca/v1/certificates?status=expired", token: func() string { return f.raToken }, status: 400, field: "status"},
		{name: "fail/list-bad-limit", method: "GET", path: "/ca/v1/certificates?limit=0", token: func() string { return f.raToken }, status: 400, field: "limit"},
		{name: "fail/list-huge-limit", method: "GET", path: "/ca/v1/certificates?limit=1001", token: func() string { return f.raToken }, status: 400, field: "limit"},
		{name: "fail/list-unknown-profile", method: "GET", path: "/ca/v1/certificates?profile=diplomat", token: func() string { return f.raToken }, status: 400, field: "profile"},
		{name: "fail/list-subject-too-long", method: "GET", path: "/ca/v1/certificates?subject=" + strings.Repeat("x", 257), token: func() string { return f.raToken }, status: 400, field: "subject"},
		{name: "fail/get-bad-serial", method: "GET", path: "/ca/v1/certificates/not-hex", status: 400, field: "serial"},
		{name: "fail/get-unknown-serial", method: "GET", path: "/ca/v1/certificates/0123abcd", status: 404},
		{name: "fail/unknown-ca", method: "GET", path: "/ca/v1/cas/gm-nope.crt", status: 404},
		{name: "fail/ca-without-extension", method: "GET", path: "/ca/v1/cas/gm-root", status: 404},
		{name: "fail/ca-bad-extension", method: "GET", path: "/ca/v1/cas/gm-root.key", status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := ""
			if tt.token != nil {
				token = tt.token()
			}
			w := f.do(t, tt.method, tt.path, token, tt.body)
			p := problemOf(t, w, tt.status)
			if p.Field != tt.field {
				t.Errorf("problem field %q, want %q (%s)", p.Field, tt.field, p.Detail)
			}
		})
	}
}

func TestAPIEnrol(t *testing.T) {
	f := newAPIFixture(t)
	code := f.createCode(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
	if code.Profile != "citizen" || !strings.HasPrefix(code.ID, "enr_") || code.Code == "" {
		t.Fatalf("code %+v", code)
	}
	w := f.do(t, "POST", "/ca/v1/certificates", "", ca.EnrolRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))), EnrolmentCode: code.Code})
	if w.Code != http.StatusCreated || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("enrol: %d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if bytes.Contains(w.Body.Bytes(), []byte(catest.CitizenID)) {
		t.Error("enrolment response contains the ID number")
	}
	var issued ca.IssuedJSON
	if err := json.Unmarshal(w.Body.Bytes(), &issued); err != nil {
		t.Fatal(err)
	}
	if loc := w.Header().Get("Location"); loc != "/ca/v1/certificates/"+issued.Serial {
		t.Errorf("Location %q", loc)
	}
	cert := parsePEMCert(t, issued.Certificate)
	if ca.SerialHex(cert.SerialNumber) != issued.Serial {
		t.Errorf("serial %s does not match the certificate", issued.Serial)
	}
	if len(issued.Chain) != 1 || !parsePEMCert(t, issued.Chain[0]).Equal(f.Issuer(t, "gm-issuing").Cert) {
		t.Errorf("chain is not [gm-issuing]")
	}

	t.Run("ok/get-status-without-token", func(t *testing.T) {
		w := f.do(t, "GET", "/ca/v1/certificates/"+strings.ToUpper(issued.Serial), "", nil)
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		var st map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		if st["serial"] != issued.Serial || st["status"] != "valid" || len(st) != 2 {
			t.Errorf("public view %v, want only serial and status", st)
		}
		for _, leak := range []string{catest.CitizenName, "BEGIN CERTIFICATE", "subject", pseudonymOf(catest.PseudonymKey, catest.CitizenID)} {
			if strings.Contains(w.Body.String(), leak) {
				t.Errorf("public view shows %q: %s", leak, w.Body)
			}
		}
	})
	t.Run("fail/get-details-with-wrong-tokens", func(t *testing.T) {
		problemOf(t, f.do(t, "GET", "/ca/v1/certificates/"+issued.Serial, f.auditorToken, nil), http.StatusForbidden)
		problemOf(t, f.do(t, "GET", "/ca/v1/certificates/"+issued.Serial, "txo_nope", nil), http.StatusUnauthorized)
	})
	t.Run("ok/get-certificate", func(t *testing.T) {
		w := f.do(t, "GET", "/ca/v1/certificates/"+strings.ToUpper(issued.Serial), f.raToken, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		var rec ca.RecordJSON
		if err := json.Unmarshal(w.Body.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Certificate != issued.Certificate || rec.Record == nil || rec.Serial != issued.Serial || rec.Profile != "citizen" || rec.Status != ca.StatusValid {
			t.Errorf("record %+v", rec)
		}
	})
	t.Run("ok/list", func(t *testing.T) {
		for _, q := range []string{"", "?profile=citizen", "?status=valid&limit=5", "?subject=" + pseudonymOf(catest.PseudonymKey, catest.CitizenID)[:16]} {
			w := f.do(t, "GET", "/ca/v1/certificates"+q, f.raToken, nil)
			var out struct{ Certificates []ca.Record }
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &out) != nil || len(out.Certificates) != 1 || out.Certificates[0].Serial != issued.Serial {
				t.Errorf("GET /ca/v1/certificates%s: %d %s", q, w.Code, w.Body)
			}
		}
		w := f.do(t, "GET", "/ca/v1/certificates?profile=service", f.raToken, nil)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"certificates": []`) {
			t.Errorf("empty list: %d %s", w.Code, w.Body)
		}
	})
	t.Run("fail/reuse-code", func(t *testing.T) {
		w := f.do(t, "POST", "/ca/v1/certificates", "", ca.EnrolRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))), EnrolmentCode: code.Code})
		if p := problemOf(t, w, http.StatusConflict); p.Field != "enrolment_code" {
			t.Errorf("field %q", p.Field)
		}
	})
	t.Run("ok/cas", func(t *testing.T) {
		w := f.do(t, "GET", "/ca/v1/cas", "", nil)
		var out struct{ CAs []ca.IssuerJSON }
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &out) != nil {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		var names []string
		for _, c := range out.CAs {
			names = append(names, c.Name)
			if !parsePEMCert(t, c.Certificate).Equal(f.Issuer(t, c.Name).Cert) {
				t.Errorf("%s: certificate differs", c.Name)
			}
		}
		if strings.Join(names, ",") != "gm-root,gm-issuing,intl-root,intl-issuing" {
			t.Errorf("CAs %v", names)
		}
	})
	t.Run("ok/ca-certificate", func(t *testing.T) {
		for _, name := range []string{"gm-root.crt", "gm-issuing.der", "intl-issuing.pem"} {
			w := f.do(t, "GET", "/ca/v1/cas/"+name, "", nil)
			if w.Code != http.StatusOK {
				t.Fatalf("%s: %d", name, w.Code)
			}
			der := w.Body.Bytes()
			if strings.HasSuffix(name, ".pem") {
				b, _ := pem.Decode(der)
				if b == nil || w.Header().Get("Content-Type") != "application/x-pem-file" {
					t.Fatalf("%s: not PEM", name)
				}
				der = b.Bytes
			} else if w.Header().Get("Content-Type") != "application/pkix-cert" {
				t.Errorf("%s: Content-Type %q", name, w.Header().Get("Content-Type"))
			}
			c, err := smx509.ParseCertificate(der)
			if err != nil || !c.Equal(f.Issuer(t, name[:strings.LastIndexByte(name, '.')]).Cert) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

func parsePEMCert(t testing.TB, s string) *smx509.Certificate {
	t.Helper()
	b, rest := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("not one PEM certificate: %q", s)
	}
	c, err := smx509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAPIEnrolRepeatAndLogin: the same code and key answered again with 200
// and the same certificate; a login certificate in the same request.
func TestAPIEnrolRepeatAndLogin(t *testing.T) {
	f := newAPIFixture(t)
	code := f.createCode(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
	signKey, loginKey := catest.SM2Key(t), catest.ECKey(t, elliptic.P256())
	body := func() ca.EnrolRequestJSON {
		return ca.EnrolRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, signKey))), LoginCSR: string(catest.PEMCSR(catest.CSR(t, loginKey))), EnrolmentCode: code.Code}
	}
	w := f.do(t, "POST", "/ca/v1/certificates", "", body())
	if w.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	var first ca.IssuedJSON
	if err := json.Unmarshal(w.Body.Bytes(), &first); err != nil || first.Login == nil || first.Login.Serial == "" || len(first.Login.Chain) != 1 {
		t.Fatalf("first: %v %s", err, w.Body)
	}
	if !parsePEMCert(t, first.Login.Chain[0]).Equal(f.Issuer(t, "intl-issuing").Cert) {
		t.Error("login chain is not [intl-issuing]")
	}
	w = f.do(t, "POST", "/ca/v1/certificates", "", body())
	var again ca.IssuedJSON
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &again) != nil || again.Serial != first.Serial || again.Login == nil || again.Login.Serial != first.Login.Serial {
		t.Fatalf("repeat: %d %s", w.Code, w.Body)
	}
	w = f.do(t, "POST", "/ca/v1/certificates", "", ca.EnrolRequestJSON{CSR: string(catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))), EnrolmentCode: code.Code})
	problemOf(t, w, http.StatusConflict)
}
