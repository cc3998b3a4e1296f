package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// enrolCase is one bad enrolment, shared by the Go and HTTP tests: setup
// returns the request (creating codes as needed), and the error must be a
// RequestError on field with status.
type enrolCase struct {
	name   string
	setup  func(t *testing.T, f *catest.Fixture) ca.EnrolRequest
	field  string
	status int
	is     error
}

func enrolCases() []enrolCase {
	citizen := ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}
	goodCSR := func(t *testing.T) []byte { return catest.PEMCSR(catest.CSR(t, catest.SM2Key(t))) }
	return []enrolCase{
		{name: "fail/empty-csr", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: nil, Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/malformed-csr", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: []byte("this is not a certificate request"), Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/malformed-der", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: []byte{0x30, 0x03, 0x02, 0x01, 0x00}, Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/truncated-csr", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			der := catest.CSR(t, catest.SM2Key(t))
			return ca.EnrolRequest{CSR: der[:len(der)-10], Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/pem-certificate-not-csr", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.CAs[0].Cert.Raw}), Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/pem-trailing-data", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: append(goodCSR(t), "junk"...), Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/oversized-csr", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: bytes.Repeat([]byte("A"), ca.MaxCSRSize+1), Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/broken-self-signature", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: catest.PEMCSR(breakSignature(catest.CSR(t, catest.SM2Key(t)))), Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/ecdsa-key-for-citizen", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/p384-key", field: "csr", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P384()))), Code: f.Code(t, "service", ca.Subject{Department: "tax", Service: "api"})}
		}},
		{name: "fail/no-code", field: "enrolment_code", status: 401, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: goodCSR(t), Code: "  "}
		}},
		{name: "fail/unknown-code", field: "enrolment_code", status: 403, is: ca.ErrNotFound, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: goodCSR(t), Code: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
		}},
		{name: "fail/overlong-code", field: "enrolment_code", status: 403, is: ca.ErrNotFound, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: goodCSR(t), Code: strings.Repeat("a", 4096)}
		}},
		{name: "fail/expired-code", field: "enrolment_code", status: 403, is: ca.ErrCodeExpired, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			now := f.Clock.Now()
			f.Clock.Set(now.Add(-2 * time.Hour))
			code, _, err := f.CA.CreateCode(context.Background(), ca.NewCodeRequest{Profile: "citizen", Subject: citizen, TTL: time.Hour})
			f.Clock.Set(now)
			if err != nil {
				t.Fatal(err)
			}
			return ca.EnrolRequest{CSR: goodCSR(t), Code: code}
		}},
		{name: "fail/used-code", field: "enrolment_code", status: 409, is: ca.ErrCodeUsed, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			code := f.Code(t, "citizen", citizen)
			if _, err := f.CA.Enrol(context.Background(), ca.EnrolRequest{CSR: goodCSR(t), Code: code}); err != nil {
				t.Fatalf("first use: %v", err)
			}
			return ca.EnrolRequest{CSR: goodCSR(t), Code: code}
		}},
		{name: "fail/profile-mismatch", field: "profile", status: 400, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: goodCSR(t), Profile: "enterprise-sign", Code: f.Code(t, "citizen", citizen)}
		}},
		{name: "fail/unknown-profile", field: "profile", status: 400, is: ca.ErrUnknownProfile, setup: func(t *testing.T, f *catest.Fixture) ca.EnrolRequest {
			return ca.EnrolRequest{CSR: goodCSR(t), Profile: "diplomat", Code: f.Code(t, "citizen", citizen)}
		}},
	}
}

func TestEnrolErrors(t *testing.T) {
	f := catest.New(t)
	ctx := context.Background()
	for _, tt := range enrolCases() {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.setup(t, f)
			before, _ := f.Store.Certificates(ctx, ca.Filter{Limit: 1000})
			_, err := f.CA.Enrol(ctx, req)
			requestError(t, err, tt.field, tt.status)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			after, _ := f.Store.Certificates(ctx, ca.Filter{Limit: 1000})
			if len(after) != len(before) {
				t.Errorf("a failed enrolment recorded a certificate")
			}
		})
	}
	t.Run("ok/code-unused-after-failure", func(t *testing.T) {
		// A request rejected for its CSR must not burn the code.
		code := f.Code(t, "citizen", ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID})
		if _, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(breakSignature(catest.CSR(t, catest.SM2Key(t)))), Code: code}); err == nil {
			t.Fatal("broken CSR accepted")
		}
		if _, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, catest.ECKey(t, elliptic.P256()))), Code: code}); err == nil {
			t.Fatal("ECDSA CSR accepted for citizen")
		}
		if _, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.CSR(t, catest.SM2Key(t)), Code: " " + strings.ToUpper(code) + "\n", Profile: "citizen"}); err != nil {
			t.Fatalf("DER CSR with the code in upper case and the matching profile: %v", err)
		}
	})
}

func TestCreateCodeErrors(t *testing.T) {
	f := catest.New(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		req   ca.NewCodeRequest
		field string
		is    error
	}{
		{name: "fail/unknown-profile", req: ca.NewCodeRequest{Profile: "diplomat"}, field: "profile", is: ca.ErrUnknownProfile},
		{name: "fail/invalid-id-number", req: ca.NewCodeRequest{Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: "11010519491231002Y"}}, field: "subject.id_number"},
		{name: "fail/invalid-uscc", req: ca.NewCodeRequest{Profile: "enterprise-sign", Subject: ca.Subject{Organization: catest.OrgName, USCC: "91350100M000100Y4"}}, field: "subject.uscc"},
		{name: "fail/id-number-for-enterprise", req: ca.NewCodeRequest{Profile: "enterprise-sign", Subject: ca.Subject{Organization: catest.OrgName, USCC: catest.USCC, IDNumber: catest.CitizenID}}, field: "subject.id_number"},
		{name: "fail/ttl-too-short", req: ca.NewCodeRequest{Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}, TTL: time.Second}, field: "ttl"},
		{name: "fail/ttl-too-long", req: ca.NewCodeRequest{Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}, TTL: ca.MaxCodeTTL + time.Hour}, field: "ttl"},
		{name: "fail/negative-ttl", req: ca.NewCodeRequest{Profile: "citizen", Subject: ca.Subject{Name: catest.CitizenName, IDNumber: catest.CitizenID}, TTL: -time.Hour}, field: "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.CA.CreateCode(ctx, tt.req)
			requestError(t, err, tt.field, 400)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	t.Run("ok/default-ttl", func(t *testing.T) {
		code, c, err := f.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: "citizen", Subject: ca.Subject{Name: " " + catest.CitizenName + " ", IDNumber: strings.ToLower(catest.CitizenID)}, CreatedBy: "officer:rita"})
		if err != nil {
			t.Fatal(err)
		}
		if len(code) < 32 || strings.Contains(c.ID, code) || !strings.HasPrefix(c.ID, "enr_") {
			t.Errorf("code %q id %q", code, c.ID)
		}
		if !c.ExpiresAt.Equal(f.Clock.Now().Add(ca.DefaultCodeTTL)) || c.CreatedBy != "officer:rita" || c.Profile != "citizen" {
			t.Errorf("code binding %+v", c)
		}
		if c.Subject.IDNumber != "" || c.Subject.IDPseudonym != pseudonymOf(catest.PseudonymKey, catest.CitizenID) || c.Subject.Name != catest.CitizenName {
			t.Errorf("subject not normalised and minimised: %+v", c.Subject)
		}
		if c.Subject.String() != "person "+catest.CitizenName {
			t.Errorf("Subject.String() = %q", c.Subject.String())
		}
	})
}

// TestEnrolCodeSingleUse redeems one code from 20 goroutines at once:
// exactly one gets a certificate.
func TestEnrolCodeSingleUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := catest.New(t, catest.OnDB(db))
		ctx := context.Background()
		code := f.Code(t, "enterprise-sign", ca.Subject{Organization: catest.OrgName, USCC: catest.USCC})
		const n = 20
		csrs := make([][]byte, n)
		for i := range csrs {
			csrs[i] = catest.PEMCSR(catest.CSR(t, catest.SM2Key(t)))
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, n)
			got   = make([]*ca.Issued, n)
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = f.CA.Enrol(ctx, ca.EnrolRequest{CSR: csrs[i], Code: code})
			}()
		}
		close(start)
		wg.Wait()
		var ok []*ca.Issued
		for i, err := range errs {
			switch {
			case err == nil:
				ok = append(ok, got[i])
			case errors.Is(err, ca.ErrCodeUsed):
				requestError(t, err, "enrolment_code", 409)
			default:
				t.Errorf("goroutine %d: %v, want success or ErrCodeUsed", i, err)
			}
		}
		if len(ok) != 1 {
			t.Fatalf("%d enrolments succeeded with one code, want exactly 1", len(ok))
		}
		recs, err := f.Store.Certificates(ctx, ca.Filter{Profile: "enterprise-sign"})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Serial != ok[0].Record.Serial {
			t.Fatalf("inventory holds %d certificates, want the one issued", len(recs))
		}
	})
}

// TestRestrictedProfiles shows that no subscriber can obtain a certificate
// that makes Tongxing's own keys trusted (ocsp, tsa) or an encryption
// certificate outside the KMC: codes for them are refused, codes stored by
// an earlier version are refused at redemption, and Issue refuses the
// subscriber channels.
func TestRestrictedProfiles(t *testing.T) {
	f := catest.New(t)
	ctx := context.Background()
	cases := []struct {
		profile string
		subject ca.Subject
		is      error
		key     func(testing.TB) crypto.Signer
	}{
		{"ocsp", ca.Subject{Name: "evil responder"}, ca.ErrInternalProfile, func(t testing.TB) crypto.Signer { return catest.ECKey(t, elliptic.P256()) }},
		{"tsa", ca.Subject{Name: "evil TSA"}, ca.ErrInternalProfile, func(t testing.TB) crypto.Signer { return catest.SM2Key(t) }},
		{"enterprise-enc", ca.Subject{Organization: catest.OrgName, USCC: catest.USCC}, ca.ErrKMCOnlyProfile, func(t testing.TB) crypto.Signer { return catest.SM2Key(t) }},
	}
	for i, c := range cases {
		t.Run("fail/code-for-"+c.profile, func(t *testing.T) {
			_, _, err := f.CA.CreateCode(ctx, ca.NewCodeRequest{Profile: c.profile, Subject: c.subject, CreatedBy: "officer:test"})
			requestError(t, err, "profile", 403)
			if !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
		})
		t.Run("fail/legacy-code-for-"+c.profile, func(t *testing.T) {
			code := f.LegacyCode(t, fmt.Sprintf("legacy%d", i), c.profile, c.subject)
			_, err := f.CA.Enrol(ctx, ca.EnrolRequest{CSR: catest.PEMCSR(catest.CSR(t, c.key(t))), Code: code})
			requestError(t, err, "profile", 403)
			if !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			if recs, _ := f.Store.Certificates(ctx, ca.Filter{Profile: c.profile}); len(recs) != 0 {
				t.Errorf("%d %s certificates issued", len(recs), c.profile)
			}
		})
		for _, via := range []ca.Channel{ca.ViaCode, ca.ViaACME} {
			t.Run("fail/issue-"+c.profile+"-via-"+strings.ReplaceAll(via.String(), " ", "-"), func(t *testing.T) {
				_, err := f.CA.Issue(ctx, ca.IssueRequest{PublicKey: c.key(t).Public(), Profile: c.profile, Subject: c.subject, RequestedBy: "x", Via: via})
				requestError(t, err, "profile", 403)
			})
		}
	}
	t.Run("fail/enc-via-internal", func(t *testing.T) {
		_, err := f.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "enterprise-enc", Subject: cases[2].subject, RequestedBy: "system:x"})
		requestError(t, err, "profile", 403)
	})
	t.Run("ok/internal-and-kmc-channels", func(t *testing.T) {
		if _, err := f.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "tsa", Subject: ca.Subject{Name: "Tongxing TSA"}, RequestedBy: "system:tsa-gm"}); err != nil {
			t.Errorf("internal tsa: %v", err)
		}
		if _, err := f.CA.Issue(ctx, ca.IssueRequest{PublicKey: catest.SM2Key(t).Public(), Profile: "enterprise-enc", Subject: cases[2].subject, RequestedBy: "kmc:1", Via: ca.ViaKMC}); err != nil {
			t.Errorf("KMC enterprise-enc: %v", err)
		}
	})
}
