package timestamp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/timestamp"
)

func TestHandler(t *testing.T) {
	a := newAuthority(t)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	good := mustMarshal(t, &timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SHA256.OID(), 32), CertReq: true})
	md5 := mustMarshal(t, &timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(oidMD5, 16)})
	tests := []struct {
		name        string
		method      string
		contentType string
		body        []byte
		wantStatus  int
		wantType    string
		wantPKI     timestamp.PKIStatus
		wantFail    timestamp.FailureInfo
	}{
		{"ok/granted", http.MethodPost, timestamp.ContentTypeQuery, good, http.StatusOK, timestamp.ContentTypeReply, timestamp.StatusGranted, 0},
		{"ok/content-type-with-params", http.MethodPost, timestamp.ContentTypeQuery + "; charset=binary", good, http.StatusOK, timestamp.ContentTypeReply, timestamp.StatusGranted, 0},
		{"fail/md5-rejection-in-reply", http.MethodPost, timestamp.ContentTypeQuery, md5, http.StatusOK, timestamp.ContentTypeReply, timestamp.StatusRejection, timestamp.BadAlg},
		{"fail/garbage-body", http.MethodPost, timestamp.ContentTypeQuery, []byte("not DER"), http.StatusOK, timestamp.ContentTypeReply, timestamp.StatusRejection, timestamp.BadDataFormat},
		{"fail/empty-body", http.MethodPost, timestamp.ContentTypeQuery, nil, http.StatusOK, timestamp.ContentTypeReply, timestamp.StatusRejection, timestamp.BadDataFormat},
		{"fail/trailing-data", http.MethodPost, timestamp.ContentTypeQuery, append(append([]byte(nil), good...), 0), http.StatusOK, timestamp.ContentTypeReply, timestamp.StatusRejection, timestamp.BadDataFormat},
		{"fail/get", http.MethodGet, "", nil, http.StatusMethodNotAllowed, problem.ContentType, 0, 0},
		{"fail/put", http.MethodPut, timestamp.ContentTypeQuery, good, http.StatusMethodNotAllowed, problem.ContentType, 0, 0},
		{"fail/wrong-content-type", http.MethodPost, "application/octet-stream", good, http.StatusUnsupportedMediaType, problem.ContentType, 0, 0},
		{"fail/no-content-type", http.MethodPost, "", good, http.StatusUnsupportedMediaType, problem.ContentType, 0, 0},
		{"fail/too-large", http.MethodPost, timestamp.ContentTypeQuery, make([]byte, timestamp.MaxRequestSize+1), http.StatusRequestEntityTooLarge, problem.ContentType, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+"/tsa", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("Content-Type") != tc.wantType {
				t.Fatalf("HTTP %d %q, want %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), tc.wantStatus, tc.wantType, body)
			}
			if tc.wantType == problem.ContentType {
				var p problem.Details
				if err := json.Unmarshal(body, &p); err != nil || p.Status != tc.wantStatus || p.Detail == "" {
					t.Fatalf("problem body %s: %v", body, err)
				}
				if tc.wantStatus == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != http.MethodPost {
					t.Fatalf("Allow header %q", resp.Header.Get("Allow"))
				}
				return
			}
			tsr, err := timestamp.ParseResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			if tsr.Status != tc.wantPKI || tsr.FailInfo != tc.wantFail {
				t.Fatalf("PKIStatus %s failure %s, want %s %s", tsr.Status, tsr.FailInfo, tc.wantPKI, tc.wantFail)
			}
			if tc.wantPKI == timestamp.StatusGranted {
				if _, err := timestamp.VerifyToken(tsr.Token, timestamp.VerifyOptions{Digest: imprint(timestamp.SHA256.OID(), 32).HashedMessage, Roots: roots(t, kms.Intl)}); err != nil {
					t.Fatal(err)
				}
			} else if len(tsr.StatusString) == 0 || tsr.Token != nil {
				t.Fatalf("rejection without text or with a token: %+v", tsr)
			}
		})
	}
}

func TestClient(t *testing.T) {
	a := newAuthority(t)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	problemSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "maintenance"))
	}))
	defer problemSrv.Close()
	htmlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>"))
	}))
	defer htmlSrv.Close()
	data := []byte("client data")
	ctx := context.Background()

	for _, suite := range []kms.Suite{kms.GM, kms.Intl} {
		t.Run("ok/Request/"+string(suite), func(t *testing.T) {
			tok, err := timestamp.Request(ctx, srv.URL, data, suite)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Suite != suite || tok.Info.Nonce == nil || len(tok.SignedData.Certificates) != 1 {
				t.Fatalf("token suite %s nonce %v certs %d", tok.Suite, tok.Info.Nonce, len(tok.SignedData.Certificates))
			}
			if _, err := timestamp.Verify(tok.Raw, data, roots(t, suite)); err != nil {
				t.Fatal(err)
			}
		})
	}
	tests := []struct {
		name   string
		client *timestamp.Client
		alg    timestamp.HashAlgorithm
		want   error
	}{
		{"ok/roots-verify", &timestamp.Client{URL: srv.URL, Roots: roots(t, kms.GM)}, timestamp.SM3, nil},
		{"ok/accepted-policy", &timestamp.Client{URL: srv.URL, Policy: otherPolicy}, timestamp.SHA384, nil},
		{"ok/no-cert", &timestamp.Client{URL: srv.URL, NoCertReq: true}, timestamp.SHA512, nil},
		{"fail/unaccepted-policy", &timestamp.Client{URL: srv.URL, Policy: badPolicy}, timestamp.SM3, timestamp.UnacceptedPolicy},
		{"fail/wrong-roots", &timestamp.Client{URL: srv.URL, Roots: roots(t, kms.Intl)}, timestamp.SM3, timestamp.ErrUntrusted},
		{"fail/problem-reply", &timestamp.Client{URL: problemSrv.URL}, timestamp.SM3, timestamp.ErrReply},
		{"fail/html-reply", &timestamp.Client{URL: htmlSrv.URL}, timestamp.SM3, timestamp.ErrReply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.client.Timestamp(ctx, tc.alg.Sum(data), tc.alg)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.client.Policy != nil && !tok.Info.Policy.Equal(tc.client.Policy) {
				t.Fatalf("policy %s", tok.Info.Policy)
			}
			if tc.client.NoCertReq != (len(tok.SignedData.Certificates) == 0) {
				t.Fatalf("%d certificates with NoCertReq=%v", len(tok.SignedData.Certificates), tc.client.NoCertReq)
			}
		})
	}
}
