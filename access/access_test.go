package access_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/store/storetest"
)

// recorder is an Auditor that keeps events in memory.
type recorder struct {
	mu  sync.Mutex
	evs []access.Event
	err error
}

func (r *recorder) Record(_ context.Context, ev access.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.evs = append(r.evs, ev)
	return nil
}

// find returns the events of action whose actor is actor ("" for any).
func (r *recorder) find(action, actor string) []access.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []access.Event
	for _, e := range r.evs {
		if e.Action == action && (actor == "" || e.Actor == actor) {
			out = append(out, e)
		}
	}
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// users is a UserDirectory of fixed accounts.
type users map[string]string

func (u users) UserID(_ context.Context, name string) (string, error) {
	if id, ok := u[name]; ok {
		return id, nil
	}
	return "", errors.New("no such account")
}

type fixture struct {
	o     *access.Officers
	rec   *recorder
	clk   *clock
	mux   *http.ServeMux
	db    *store.DB
	sys   *access.Principal // sysadmin-1
	ra    *access.Principal // ra-1
	aud   *access.Principal // auditor-1
	token map[string]string // name -> token
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{rec: &recorder{}, clk: &clock{t: time.Now().UTC().Truncate(time.Second)}, db: db, token: map[string]string{}}
	f.o = access.New(db, access.WithAuditor(f.rec), access.WithClock(f.clk.Now),
		access.WithUsers(users{"li": "u-li", "wang": "u-wang"}), access.WithLogger(slog.New(slog.DiscardHandler)))
	first, err := f.o.Bootstrap(ctx, "system:init")
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 {
		t.Fatalf("Bootstrap made %d officers, want 3", len(first))
	}
	for _, fo := range first {
		f.token[fo.Name] = fo.Token
	}
	f.sys, f.ra, f.aud = f.auth(t, "sysadmin-1"), f.auth(t, "ra-1"), f.auth(t, "auditor-1")
	f.mux = http.NewServeMux()
	f.o.Routes(f.mux)
	return f
}

func (f *fixture) auth(t *testing.T, name string) *access.Principal {
	t.Helper()
	p, err := f.o.Authenticate(context.Background(), f.token[name])
	if err != nil {
		t.Fatalf("authenticate %s: %v", name, err)
	}
	p.SourceAddr = "192.0.2.1:1234"
	return p
}

// admit proposes officer name of role as sysadmin-1, has approver approve
// it and claims the token.
func (f *fixture) admit(t *testing.T, name, role string, approver *access.Principal) *access.Principal {
	t.Helper()
	f.token[name] = f.claim(t, access.ProposalRequest{Kind: access.KindAdd, Officer: name, Role: role}, approver)
	return f.auth(t, name)
}

// claim proposes req as sysadmin-1, has approver approve it and returns
// the token claimed with both codes.
func (f *fixture) claim(t *testing.T, req access.ProposalRequest, approver *access.Principal) string {
	t.Helper()
	ctx := context.Background()
	prop, a, err := f.o.Propose(ctx, f.sys, req)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := f.o.Approve(ctx, approver, prop.ID)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.o.Claim(ctx, prop.ID, a, b, 0, "192.0.2.9:1")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wantErr(t *testing.T, err error, is error, status int) {
	t.Helper()
	if !errors.Is(err, is) {
		t.Fatalf("error %v, want %v", err, is)
	}
	var e *access.Error
	if !errors.As(err, &e) || e.HTTPStatus() != status {
		t.Fatalf("error %v: status %v, want %d", err, e, status)
	}
}

func TestProposals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)

		var propID, codeA string
		t.Run("fail/only-a-sysadmin-proposes", func(t *testing.T) {
			_, _, err := f.o.Propose(ctx, f.ra, access.ProposalRequest{Kind: access.KindAdd, Officer: "mallory", Role: access.RoleRA})
			wantErr(t, err, access.ErrForbidden, 403)
		})
		t.Run("ok/propose", func(t *testing.T) {
			prop, code, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindAdd, Officer: "ra-2", Role: access.RoleRA})
			if err != nil {
				t.Fatal(err)
			}
			if prop.Status != access.ProposalPending || !strings.HasPrefix(code, "txp_") || prop.ProposedBy != "officer:sysadmin-1" {
				t.Fatalf("proposal %+v, code %q", prop, code)
			}
			propID, codeA = prop.ID, code
			if evs := f.rec.find("access.officer.propose", "officer:sysadmin-1"); len(evs) != 1 || evs[0].SourceAddr != "192.0.2.1:1234" {
				t.Fatalf("propose audit: %+v", evs)
			}
		})
		t.Run("fail/second-open-proposal", func(t *testing.T) {
			_, _, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindAdd, Officer: "ra-2", Role: access.RoleRA})
			wantErr(t, err, access.ErrExists, 409)
		})
		t.Run("fail/the-proposer-cannot-approve", func(t *testing.T) {
			_, _, err := f.o.Approve(ctx, f.sys, propID)
			wantErr(t, err, access.ErrForbidden, 403) // a sysadmin does not admit registration officers
		})
		t.Run("fail/another-role-cannot-approve", func(t *testing.T) {
			_, _, err := f.o.Approve(ctx, f.aud, propID)
			wantErr(t, err, access.ErrForbidden, 403)
			if evs := f.rec.find("access.proposal.approve", "officer:auditor-1"); len(evs) != 1 || !strings.HasPrefix(evs[0].Outcome, "failure") {
				t.Fatalf("refused approval not audited: %+v", evs)
			}
		})
		t.Run("fail/claim-before-approval", func(t *testing.T) {
			_, _, err := f.o.Claim(ctx, propID, codeA, codeA, 0, "")
			wantErr(t, err, access.ErrClosed, 409)
		})
		var codeB string
		t.Run("ok/an-officer-of-the-role-approves", func(t *testing.T) {
			prop, code, err := f.o.Approve(ctx, f.ra, propID)
			if err != nil {
				t.Fatal(err)
			}
			if prop.Status != access.ProposalApproved || code == "" || code == codeA || prop.DecidedBy != "officer:ra-1" {
				t.Fatalf("approved %+v, code %q", prop, code)
			}
			codeB = code
		})
		t.Run("fail/either-code-alone", func(t *testing.T) {
			for _, c := range [][2]string{{codeA, codeA}, {codeB, codeB}, {codeB, codeA}, {codeA, "txp_x"}} {
				_, _, err := f.o.Claim(ctx, propID, c[0], c[1], 0, "")
				wantErr(t, err, access.ErrBadCode, 403)
			}
		})
		t.Run("ok/claim", func(t *testing.T) {
			tok, off, err := f.o.Claim(ctx, propID, codeA, codeB, 0, "192.0.2.9:1")
			if err != nil {
				t.Fatal(err)
			}
			p, err := f.o.Authenticate(ctx, tok)
			if err != nil || p.Name != "ra-2" || p.Role != access.RoleRA || off.ApprovedBy != "officer:ra-1" {
				t.Fatalf("claimed token authenticates as %+v, %v; officer %+v", p, err, off)
			}
			if d := p.TokenExpiresAt.Sub(f.clk.Now()); d != access.DefaultTokenTTL {
				t.Fatalf("token lives %s, want %s", d, access.DefaultTokenTTL)
			}
			if _, _, err := f.o.Claim(ctx, propID, codeA, codeB, 0, ""); !errors.Is(err, access.ErrClosed) {
				t.Fatalf("second claim: %v", err)
			}
		})
		t.Run("fail/self-approval-of-a-sysadmin", func(t *testing.T) {
			prop, _, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindAdd, Officer: "sysadmin-2", Role: access.RoleSysadmin})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = f.o.Approve(ctx, f.sys, prop.ID)
			wantErr(t, err, access.ErrSelfApproval, 403)
			if _, err := f.o.Reject(ctx, f.sys, prop.ID, "withdrawn"); err != nil {
				t.Fatalf("the proposer withdraws: %v", err)
			}
		})
		t.Run("fail/too-many-wrong-codes", func(t *testing.T) {
			prop, _, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindAdd, Officer: "aud-2", Role: access.RoleAuditor})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.o.Approve(ctx, f.aud, prop.ID); err != nil {
				t.Fatal(err)
			}
			for range access.MaxClaimFailures {
				f.o.Claim(ctx, prop.ID, "txp_guess", "txp_guess", 0, "")
			}
			props, _ := f.o.Proposals(ctx, access.ProposalFailed)
			if len(props) != 1 || props[0].ID != prop.ID {
				t.Fatalf("failed proposals: %+v", props)
			}
		})
		t.Run("fail/expired-proposal", func(t *testing.T) {
			prop, _, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindAdd, Officer: "late", Role: access.RoleRA})
			if err != nil {
				t.Fatal(err)
			}
			f.clk.Advance(access.ProposalTTL)
			_, _, err = f.o.Approve(ctx, f.ra, prop.ID)
			wantErr(t, err, access.ErrClosed, 409)
			if _, _, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindAdd, Officer: "late", Role: access.RoleRA}); err != nil {
				t.Fatalf("a new proposal after expiry: %v", err)
			}
		})
		t.Run("fail/bad-requests", func(t *testing.T) {
			for _, req := range []access.ProposalRequest{
				{Kind: access.KindAdd, Officer: "Bad Name", Role: access.RoleRA},
				{Kind: access.KindAdd, Officer: "x", Role: "admin"},
				{Kind: "promote", Officer: "ra-1"},
				{Kind: access.KindBind, Officer: "ra-1"},
				{Kind: access.KindToken, Officer: "ra-1", Role: access.RoleSysadmin},
				{Kind: access.KindAdd, Officer: "y", Role: access.RoleRA, Comment: "a\x00b"},
			} {
				if _, _, err := f.o.Propose(ctx, f.sys, req); err == nil {
					t.Errorf("proposal %+v accepted", req)
				} else if e := (*access.Error)(nil); !errors.As(err, &e) || e.Status != 400 || e.Field == "" {
					t.Errorf("proposal %+v: %v, want a 400 naming the field", req, err)
				}
			}
		})
	})
}

func TestRevokeRenewBind(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		t.Run("fail/last-usable-officer", func(t *testing.T) {
			_, err := f.o.Revoke(ctx, f.sys, "ra-1", "")
			wantErr(t, err, access.ErrLastOfficer, 409)
			_, err = f.o.Revoke(ctx, f.sys, "sysadmin-1", "")
			wantErr(t, err, access.ErrLastOfficer, 409)
		})
		t.Run("fail/only-a-sysadmin-revokes", func(t *testing.T) {
			_, err := f.o.Revoke(ctx, f.ra, "auditor-1", "")
			wantErr(t, err, access.ErrForbidden, 403)
		})
		ra2 := f.admit(t, "ra-2", access.RoleRA, f.ra)
		t.Run("ok/revoke", func(t *testing.T) {
			off, err := f.o.Revoke(ctx, f.sys, "ra-1", "left the office")
			if err != nil || off.Status != access.StatusRevoked || off.RevokedBy != "officer:sysadmin-1" {
				t.Fatalf("revoke: %+v %v", off, err)
			}
			if _, err := f.o.Authenticate(ctx, f.token["ra-1"]); !errors.Is(err, access.ErrUnknownToken) {
				t.Fatalf("revoked officer's token: %v", err)
			}
			_, err = f.o.Revoke(ctx, f.sys, "ra-2", "")
			wantErr(t, err, access.ErrLastOfficer, 409)
		})
		t.Run("ok/renew", func(t *testing.T) {
			tok, exp, err := f.o.RenewToken(ctx, ra2, 24*time.Hour)
			if err != nil || !exp.Equal(f.clk.Now().Add(24*time.Hour)) {
				t.Fatalf("renew: %v, expires %s", err, exp)
			}
			if _, err := f.o.Authenticate(ctx, f.token["ra-2"]); !errors.Is(err, access.ErrUnknownToken) {
				t.Fatalf("old token after renewal: %v", err)
			}
			if p, err := f.o.Authenticate(ctx, tok); err != nil || p.Name != "ra-2" {
				t.Fatalf("new token: %+v %v", p, err)
			}
			f.token["ra-2"] = tok
			if _, _, err := f.o.RenewToken(ctx, ra2, 9999*time.Hour); err == nil {
				t.Fatal("a token of 9999h accepted")
			}
		})
		t.Run("ok/token-proposal-replaces-lost-token", func(t *testing.T) {
			prop, a, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindToken, Officer: "auditor-1"})
			if err != nil {
				t.Fatal(err)
			}
			// auditor-1 is the only auditor: it may not approve its own token.
			_, _, err = f.o.Approve(ctx, f.aud, prop.ID)
			wantErr(t, err, access.ErrSelfApproval, 403)
			aud2 := f.admit(t, "auditor-2", access.RoleAuditor, f.aud)
			_, b, err := f.o.Approve(ctx, aud2, prop.ID)
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := f.o.Claim(ctx, prop.ID, a, b, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.o.Authenticate(ctx, f.token["auditor-1"]); !errors.Is(err, access.ErrUnknownToken) {
				t.Fatalf("the lost token still works: %v", err)
			}
			if p, err := f.o.Authenticate(ctx, tok); err != nil || p.Name != "auditor-1" {
				t.Fatalf("reissued token: %+v %v", p, err)
			}
		})
		t.Run("ok/bind-needs-the-role", func(t *testing.T) {
			prop, code, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindBind, Officer: "ra-2", User: "li"})
			if err != nil || code != "" {
				t.Fatalf("bind proposal: %v (code %q)", err, code)
			}
			if name, _ := f.o.BoundOfficer(ctx, "u-li"); name != "" {
				t.Fatalf("bound before approval to %q", name)
			}
			_, _, err = f.o.Approve(ctx, ra2, prop.ID)
			wantErr(t, err, access.ErrSelfApproval, 403)
			ra3 := f.admit(t, "ra-3", access.RoleRA, ra2)
			if _, _, err := f.o.Approve(ctx, ra3, prop.ID); err != nil {
				t.Fatal(err)
			}
			if name, err := f.o.BoundOfficer(ctx, "u-li"); err != nil || name != "ra-2" {
				t.Fatalf("BoundOfficer = %q, %v", name, err)
			}
			_, _, err = f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindBind, Officer: "ra-3", User: "li"})
			wantErr(t, err, access.ErrExists, 409)
			if _, _, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindBind, Officer: "ra-3", User: "nobody"}); err == nil {
				t.Fatal("an unknown account was accepted")
			}
			if _, err := f.o.Unbind(ctx, f.sys, "ra-2"); err != nil {
				t.Fatal(err)
			}
			if name, _ := f.o.BoundOfficer(ctx, "u-li"); name != "" {
				t.Fatalf("still bound to %q", name)
			}
		})
		t.Run("ok/expiry", func(t *testing.T) {
			f.clk.Advance(access.DefaultTokenTTL)
			if _, err := f.o.Authenticate(ctx, f.token["sysadmin-1"]); !errors.Is(err, access.ErrUnknownToken) {
				t.Fatalf("expired token: %v", err)
			}
			// Every token expired: a restart gives each role a first officer again.
			made, err := f.o.Bootstrap(ctx, "system:serve")
			if err != nil || len(made) != 3 {
				t.Fatalf("Bootstrap after expiry: %d, %v", len(made), err)
			}
			if made[0].Name != "sysadmin-2" {
				t.Fatalf("new first sysadmin is %q", made[0].Name)
			}
			if again, err := f.o.Bootstrap(ctx, "system:serve"); err != nil || len(again) != 0 {
				t.Fatalf("second Bootstrap: %d, %v", len(again), err)
			}
		})
	})
}

// TestRequire checks the guard: 401 without a usable token, 403 for
// another role, and every decision on a valid token audited with the
// officer and the source address before the handler runs.
func TestRequire(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		reached := 0
		ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached++
			p, _ := access.PrincipalFrom(r.Context())
			w.Write([]byte(p.Actor() + " " + p.SourceAddr))
		})
		h := f.o.Require(access.RoleRA, ok)
		tests := []struct {
			name   string
			auth   string
			status int
			action string
		}{
			{"ok/ra", "Bearer " + f.token["ra-1"], 200, "access.allow"},
			{"fail/auditor", "Bearer " + f.token["auditor-1"], 403, "access.deny"},
			{"fail/sysadmin", "Bearer " + f.token["sysadmin-1"], 403, "access.deny"},
			{"fail/missing", "", 401, ""},
			{"fail/basic-scheme", "Basic abc", 401, ""},
			{"fail/unknown", "Bearer txo_nope", 401, ""},
			{"fail/too-long", "Bearer txo_" + strings.Repeat("a", 200), 401, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(f.rec.find(tt.action, ""))
				req := httptest.NewRequest("POST", "/ca/v1/certificates/ab/revoke", nil)
				req.RemoteAddr = "198.51.100.7:4444"
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.status {
					t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
				}
				if tt.status != 200 && rec.Header().Get("Content-Type") != "application/problem+json" {
					t.Errorf("content type = %q", rec.Header().Get("Content-Type"))
				}
				if tt.status == 200 && rec.Body.String() != "officer:ra-1 198.51.100.7:4444" {
					t.Errorf("body = %q", rec.Body)
				}
				if tt.action == "" {
					return
				}
				evs := f.rec.find(tt.action, "")
				if len(evs) != before+1 {
					t.Fatalf("%d %s events, want %d", len(evs), tt.action, before+1)
				}
				ev := evs[len(evs)-1]
				if ev.SourceAddr != "198.51.100.7:4444" || ev.Resource != "http:POST /ca/v1/certificates/ab/revoke" || !strings.HasPrefix(ev.Actor, "officer:") {
					t.Errorf("event %+v", ev)
				}
			})
		}
		t.Run("fail/unrecordable-decision-does-not-run", func(t *testing.T) {
			n := reached
			f.rec.mu.Lock()
			f.rec.err = errors.New("disk full")
			f.rec.mu.Unlock()
			defer func() { f.rec.mu.Lock(); f.rec.err = nil; f.rec.mu.Unlock() }()
			req := httptest.NewRequest("GET", "/x", nil)
			req.Header.Set("Authorization", "Bearer "+f.token["ra-1"])
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 503 || reached != n {
				t.Fatalf("status %d, handler reached %d times (was %d)", rec.Code, reached, n)
			}
		})
	})
}

// TestAPI runs the officer flow over HTTP.
func TestAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		call := func(t *testing.T, method, path, token string, body any, want int) []byte {
			t.Helper()
			var rd io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			}
			req := httptest.NewRequest(method, path, rd)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			rec := httptest.NewRecorder()
			f.mux.ServeHTTP(rec, req)
			if rec.Code != want {
				t.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, want)
			}
			return rec.Body.Bytes()
		}
		var prop access.ProposalJSON
		json.Unmarshal(call(t, "POST", "/officers/v1/proposals", f.token["sysadmin-1"], access.ProposalRequest{Kind: "add", Officer: "ra-2", Role: "ra"}, 201), &prop)
		call(t, "POST", "/officers/v1/proposals", f.token["ra-1"], access.ProposalRequest{Kind: "add", Officer: "ra-9", Role: "ra"}, 403)
		call(t, "POST", "/officers/v1/proposals/"+prop.Proposal.ID+"/approve", f.token["sysadmin-1"], nil, 403)
		var appr access.ProposalJSON
		json.Unmarshal(call(t, "POST", "/officers/v1/proposals/"+prop.Proposal.ID+"/approve", f.token["ra-1"], nil, 200), &appr)
		var tok access.TokenJSON
		json.Unmarshal(call(t, "POST", "/officers/v1/claim", "", access.ClaimJSON{Proposal: prop.Proposal.ID, ProposerCode: prop.ProposerCode, ApproverCode: appr.ApproverCode, TTL: "720h"}, 201), &tok)
		if tok.Officer != "ra-2" || tok.Role != "ra" || !strings.HasPrefix(tok.Token, "txo_") {
			t.Fatalf("claimed %+v", tok)
		}
		var me access.MeJSON
		json.Unmarshal(call(t, "GET", "/officers/v1/me", tok.Token, nil, 200), &me)
		if me.Officer != "ra-2" || me.TokenExpiresAt.Sub(f.clk.Now()) != 720*time.Hour {
			t.Fatalf("me = %+v", me)
		}
		var list struct{ Officers []access.Officer }
		json.Unmarshal(call(t, "GET", "/officers/v1/officers", f.token["auditor-1"], nil, 200), &list)
		if len(list.Officers) != 4 {
			t.Fatalf("officers: %+v", list.Officers)
		}
		call(t, "POST", "/officers/v1/officers/ra-1/revoke", tok.Token, nil, 403)
		call(t, "POST", "/officers/v1/officers/ra-1/revoke", f.token["sysadmin-1"], access.CommentJSON{Comment: "moved"}, 200)
		call(t, "POST", "/officers/v1/officers/ra-2/revoke", f.token["sysadmin-1"], nil, 409)
		call(t, "POST", "/officers/v1/claim", "", map[string]string{"proposal": "x"}, 400)
		call(t, "POST", "/officers/v1/claim", "", map[string]any{"proposal": "prp_0", "proposer_code": "a", "approver_code": "b", "extra": 1}, 400)
		call(t, "POST", "/officers/v1/claim", "", access.ClaimJSON{Proposal: "prp_nope", ProposerCode: "a", ApproverCode: "b"}, 404)
		call(t, "POST", "/officers/v1/proposals", f.token["sysadmin-1"], strings.Repeat("x", 5000), 413)
		call(t, "GET", "/officers/v1/proposals?status=bogus", f.token["sysadmin-1"], nil, 400)
	})
}

// TestLegacyTokens migrates tokens of the earlier schema (roles admin, ra,
// auditor and an odd combination) with migration 00040 and checks what
// they became.
func TestLegacyTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		dialect := goose.DialectSQLite3
		if db.Dialect() == store.Postgres {
			dialect = goose.DialectPostgres
		}
		p, err := goose.NewProvider(dialect, db.SQL(), os.DirFS("../store/migrations"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 39); err != nil {
			t.Fatalf("down to 39: %v", err)
		}
		legacy := []struct{ id, name, roles string }{
			{"aaaaaaaaaaaa", "admin", "admin"},
			{"bbbbbbbbbbbb", "li", "ra"},
			{"cccccccccccc", "li", "auditor"},
			{"dddddddddddd", "odd", "ra,auditor"},
		}
		for i, l := range legacy {
			h := bytes.Repeat([]byte{byte(i + 1)}, 32)
			if _, err := db.Exec(ctx, "INSERT INTO access_tokens (id, token_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?)", l.id, h, l.name, l.roles, 1700000000); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatalf("up: %v", err)
		}
		o := access.New(db)
		if n, err := o.UpgradeLegacyTokens(ctx); err != nil || n != 3 {
			t.Fatalf("UpgradeLegacyTokens = %d, %v; want 3", n, err)
		}
		offs, err := o.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, off := range offs {
			got[off.Name] = off.Role + "/" + off.Status
			if off.Status == access.StatusActive && off.TokenExpiresAt.IsZero() {
				t.Errorf("%s: active without an expiring token", off.Name)
			}
		}
		want := map[string]string{"admin": "sysadmin/active", "li-bbbbbbbbbbbb": "ra/active", "li-cccccccccccc": "auditor/active", "odd": "sysadmin/revoked"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("officers after upgrade %v, want %v", got, want)
		}
	})
}

// FuzzAPI sends arbitrary claim and proposal bodies and Authorization
// headers: never a 5xx, always problem+json on failure.
func FuzzAPI(f *testing.F) {
	f.Add([]byte(`{"proposal":"prp_0000000000000000","proposer_code":"txp_a","approver_code":"txp_b"}`), "Bearer txo_x")
	f.Add([]byte(`{"kind":"add","officer":"ra-2","role":"ra"}`), "")
	f.Add([]byte(`{"kind":"bind","officer":"ra-1","user":"li","comment":"\u0000"}`), "Bearer ")
	f.Add([]byte(`{"ttl":"-1h"}`), "Basic x")
	db := storetest.SQLite(f)
	fx := &fixture{rec: &recorder{}, clk: &clock{t: time.Now()}, token: map[string]string{}}
	fx.o = access.New(db, access.WithAuditor(fx.rec), access.WithUsers(users{"li": "u-li"}), access.WithLogger(slog.New(slog.DiscardHandler)))
	first, err := fx.o.Bootstrap(context.Background(), "system:init")
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	fx.o.Routes(mux)
	f.Fuzz(func(t *testing.T, body []byte, auth string) {
		for _, c := range []struct{ path, auth string }{
			{"/officers/v1/claim", ""},
			{"/officers/v1/proposals", "Bearer " + first[0].Token},
			{"/officers/v1/token", auth},
		} {
			req := httptest.NewRequest("POST", c.path, bytes.NewReader(body))
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("POST %s %q: %d %s", c.path, body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %s: %d without problem+json", c.path, rec.Code)
			}
		}
	})
}

// TestSecondSysadmin: a sole system administrator cannot approve the second
// one; the security auditor does. Once another sysadmin exists, sysadmin
// proposals are theirs to approve again, not the auditor's.
func TestSecondSysadmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		prop, _, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindAdd, Officer: "sys-2", Role: access.RoleSysadmin})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.o.Approve(ctx, f.sys, prop.ID)
		wantErr(t, err, access.ErrSelfApproval, 403)
		_, _, err = f.o.Approve(ctx, f.ra, prop.ID)
		wantErr(t, err, access.ErrForbidden, 403)
		if _, err := f.o.Reject(ctx, f.sys, prop.ID, "withdrawn"); err != nil {
			t.Fatalf("the proposer withdraws: %v", err)
		}
		sys2 := f.admit(t, "sys-2b", access.RoleSysadmin, f.aud)
		if sys2.Role != access.RoleSysadmin {
			t.Fatalf("admitted %+v", sys2)
		}

		prop3, _, err := f.o.Propose(ctx, f.sys, access.ProposalRequest{Kind: access.KindAdd, Officer: "sys-3", Role: access.RoleSysadmin})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.o.Approve(ctx, f.aud, prop3.ID)
		wantErr(t, err, access.ErrForbidden, 403)
		if _, _, err := f.o.Approve(ctx, sys2, prop3.ID); err != nil {
			t.Fatalf("the second sysadmin approves the third: %v", err)
		}
	})
}

// TestRenewWithTokenRevokedMeanwhile: a renewal whose token was checked
// and then revoked before the renewal ran (the owner got a new token
// through a token proposal, the old one being lost or stolen) is refused:
// the old token's holder gets nothing, and the owner's new token stays.
func TestRenewWithTokenRevokedMeanwhile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		ra2 := f.admit(t, "ra-2", access.RoleRA, f.ra)
		stolen, err := f.o.Authenticate(ctx, f.token["ra-1"]) // the request with the old token is checked
		if err != nil {
			t.Fatal(err)
		}
		fresh := f.claim(t, access.ProposalRequest{Kind: access.KindToken, Officer: "ra-1"}, ra2)
		if _, _, err := f.o.RenewToken(ctx, stolen, 0); !errors.Is(err, access.ErrUnknownToken) {
			t.Fatalf("renewal with the token revoked meanwhile: %v, want ErrUnknownToken", err)
		}
		if _, err := f.o.Authenticate(ctx, fresh); err != nil {
			t.Errorf("the owner's new token: %v", err)
		}
	})
}
