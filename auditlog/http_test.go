package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"

	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

func officerFromHeader(r *http.Request) (Actor, bool) {
	name := r.Header.Get("X-Test-Officer")
	if name == "" {
		return Actor{}, false
	}
	return Actor{Subject: name, Department: "audit", Client: "console"}, true
}

func TestHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		keys := newKeys(t)
		l := openLog(t, db, keys)
		appendN(t, l, 0, 25)
		if err := l.PublishCheckpoint(ctx); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		NewAPI(l, nil, officerFromHeader, nil).Routes(mux)
		srv := httptest.NewServer(mux)
		defer srv.Close()
		get := func(t *testing.T, path string, officer bool) (*http.Response, []byte) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			if officer {
				req.Header.Set("X-Test-Officer", "auditor-li")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, b
		}

		problems := []struct {
			name    string
			path    string
			officer bool
			status  int
			field   string
		}{
			{"fail/no-officer", "/audit/v1/checkpoint", false, 401, ""},
			{"fail/unknown-param", "/audit/v1/entries?actr=x", true, 400, "actr"},
			{"fail/repeated-param", "/audit/v1/entries?actor=a&actor=b", true, 400, "actor"},
			{"fail/bad-from", "/audit/v1/entries?from=yesterday", true, 400, "from"},
			{"fail/bad-limit", "/audit/v1/entries?limit=0", true, 400, "limit"},
			{"fail/bad-decision", "/audit/v1/entries?decision=maybe", true, 400, "decision"},
			{"fail/bad-cursor", "/audit/v1/entries?cursor=zzz", true, 400, "cursor"},
			{"fail/bad-index", "/audit/v1/entries/abc", true, 400, "index"},
			{"fail/missing-entry", "/audit/v1/entries/9999", true, 404, ""},
			{"fail/size-too-small", "/audit/v1/entries/10?size=5", true, 400, "size"},
			{"fail/consistency-missing-old", "/audit/v1/proof/consistency?new=5", true, 400, "old"},
			{"fail/consistency-reversed", "/audit/v1/proof/consistency?old=6&new=5", true, 400, "old"},
			{"fail/consistency-beyond", "/audit/v1/proof/consistency?old=1&new=100000", true, 400, "new"},
			{"fail/export-paging", "/audit/v1/export?limit=5", true, 400, "limit"},
		}
		for _, tc := range problems {
			t.Run(tc.name, func(t *testing.T) {
				before, _ := l.TreeSize(ctx)
				resp, body := get(t, tc.path, tc.officer)
				if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
				}
				var p struct {
					Type, Title, Detail string
					Status              int
					Field               string
				}
				if err := json.Unmarshal(body, &p); err != nil || p.Type == "" || p.Title == "" || p.Status != tc.status || p.Detail == "" {
					t.Fatalf("problem body %s (%v)", body, err)
				}
				if p.Field != tc.field {
					t.Fatalf("field %q, want %q", p.Field, tc.field)
				}
				after, _ := l.TreeSize(ctx)
				if tc.officer && after != before+1 {
					t.Fatalf("failed read not logged: size %d -> %d", before, after)
				}
				if !tc.officer && after != before {
					t.Fatalf("unauthenticated request logged")
				}
			})
		}

		t.Run("ok/checkpoint", func(t *testing.T) {
			resp, body := get(t, "/audit/v1/checkpoint", true)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			cp, err := OpenCheckpoint(body, keys.signer.Verifier())
			if err != nil || cp.Size < 25 {
				t.Fatalf("checkpoint %+v: %v", cp, err)
			}
		})
		t.Run("ok/search-is-logged", func(t *testing.T) {
			resp, body := get(t, "/audit/v1/entries?department=gongan&limit=3&subject=citizen-5", true)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			var out struct {
				Entries    []json.RawMessage `json:"entries"`
				NextCursor string            `json:"next_cursor"`
			}
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatal(err)
			}
			for _, raw := range out.Entries {
				e, err := ParseEntry(raw)
				if err != nil {
					t.Fatalf("entry in response is not canonical: %v", err)
				}
				if e.Actor.Department != "gongan" && e.Object.Department != "gongan" {
					t.Fatalf("entry %d does not match", e.Index)
				}
			}
			tail, err := l.Tail(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			rec := tail[0]
			if rec.Action != ActionSearch || rec.Actor.Subject != "auditor-li" || rec.Outcome != "200" {
				t.Fatalf("read not logged as expected: %+v", rec)
			}
			if strings.Contains(rec.Object.Resource, "citizen-5") || !strings.Contains(rec.Object.Resource, CitizenHash(citizenKey, "citizen-5")) {
				t.Fatalf("citizen subject in clear or missing in the log: %s", rec.Object.Resource)
			}
		})
		t.Run("ok/entry-with-proof", func(t *testing.T) {
			resp, body := get(t, "/audit/v1/entries/7", true)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			var er EntryResponse
			if err := json.Unmarshal(body, &er); err != nil {
				t.Fatal(err)
			}
			cp, err := OpenCheckpoint([]byte(er.Checkpoint), keys.signer.Verifier())
			if err != nil || cp.Size != er.TreeSize {
				t.Fatalf("checkpoint: %v", err)
			}
			if err := proof.VerifyInclusion(Hasher{}, 7, er.TreeSize, Hasher{}.HashLeaf(er.Entry), er.Proof, cp.Root); err != nil {
				t.Fatalf("inclusion proof from the API: %v", err)
			}
		})
		t.Run("ok/consistency", func(t *testing.T) {
			cpNew, _ := l.LatestCheckpoint(ctx)
			var oldest int64
			db.QueryRow(ctx, "SELECT MIN(size) FROM audit_checkpoints").Scan(&oldest)
			cpOld, err := l.CheckpointAt(ctx, uint64(oldest))
			if err != nil {
				t.Fatal(err)
			}
			q := url.Values{"old": {itoa(cpOld.Size)}, "new": {itoa(cpNew.Size)}}
			resp, body := get(t, "/audit/v1/proof/consistency?"+q.Encode(), true)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			var cr ConsistencyResponse
			if err := json.Unmarshal(body, &cr); err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(Hasher{}, cpOld.Size, cpNew.Size, cr.Proof, cpOld.Root, cpNew.Root); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ok/export-verifies-offline", func(t *testing.T) {
			resp, body := get(t, "/audit/v1/export?action=gateway.call", true)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/jsonl; charset=utf-8" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			rep, err := VerifyBundleKey(bytes.NewReader(body), testOrigin, &keys.sm2.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Entries < 6 {
				t.Fatalf("bundle has %d entries", rep.Entries)
			}
			b, err := ParseBundle(body)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range b.Entries {
				if e.Entry.Action != "gateway.call" {
					t.Fatalf("entry %d does not match the filter", e.Index)
				}
			}
		})
		if _, err := l.Verify(ctx, keys.signer.Verifier()); err != nil {
			t.Fatal(err)
		}
	})
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
