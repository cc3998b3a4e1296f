// Package qrlogin is scan to sign in (扫码登录): the login page's
// browser shows a QR code of a one-time certificate-login challenge
// (package authn/certlogin) bound to its login transaction; the card
// holder's device (the reference is `tongxing login --qr URL`) reads it,
// shows which portal and origin ask, and signs the challenge with the
// certificate's SM2 (or ECDSA) key; the browser's page, refreshing itself
// (meta refresh, no script), then completes the login.
//
// The URL in the QR code is ISSUER/login/qr/v1/CHALLENGE_ID:
//
//	GET  → {"challenge": <certlogin challenge JSON>, "portal": NAME, "origin": ORIGIN}
//	POST ← a certlogin.LoginRequest (JSON) → 200 {"status": "signed"}
//
// The challenge ID is 256 random bits; the one who holds it can only sign
// it, which signs the holder of that certificate in to the browser that
// asked, so the QR code must be scanned from the screen it is shown on.
// Signing is checked at once (chain, revocation, signature) so that the
// device hears of a refusal; the provider verifies again, and marks the
// challenge used, when the browser completes the login.
package qrlogin

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/problem"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/web"
)

//go:embed templates/*.html
var templates embed.FS

// PathPrefix is where the device's endpoint lives, below the issuer.
const PathPrefix = "/login/qr/v1/"

// PathLogin is the provider's waiting page (authn), below the issuer.
const PathLogin = "/login/qr"

// TTL is how long a challenge may wait to be scanned and used.
const TTL = 5 * time.Minute

// Service makes, stores and completes scan-to-sign-in challenges. It is
// safe for concurrent use; replicas share its table.
type Service struct {
	db     *store.DB
	issuer string
	check  certlogin.VerifyOptions
	site   *web.Site
	log    *slog.Logger
	now    func() time.Time
}

// New returns the service for issuer (the provider's issuer URL) on db.
// check verifies signed challenges when the device sends them (its Used
// is ignored: the provider marks use).
func New(db *store.DB, issuer string, check certlogin.VerifyOptions, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.Default()
	}
	site, err := web.New(templates, []string{"templates/*.html"}, "qr.brand", messages, nil, log)
	if err != nil {
		return nil, err
	}
	check.Used = notYet{}
	return &Service{db: db, issuer: issuer, check: check, site: site, log: log, now: time.Now}, nil
}

// URL is what the QR code of challenge id holds.
func (s *Service) URL(id string) string { return s.issuer + PathPrefix + id }

// Challenge returns the challenge of login transaction loginID, making
// one (for the portal named portal) when it has none or its own expired.
func (s *Service) Challenge(ctx context.Context, loginID, portal string) (*certlogin.Challenge, error) {
	ch, _, err := s.load(ctx, "login_id", loginID)
	if err != nil {
		return nil, err
	}
	if ch != nil && s.now().Before(ch.ExpiresAt) {
		return ch, nil
	}
	if ch != nil {
		if _, err := s.db.Exec(ctx, "DELETE FROM qrlogin_challenges WHERE login_id = ?", loginID); err != nil {
			return nil, fmt.Errorf("qrlogin: drop expired challenge: %w", err)
		}
	}
	ch, err = certlogin.NewChallenge(s.issuer, s.now(), certlogin.WithTTL(TTL))
	if err != nil {
		return nil, err
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO qrlogin_challenges (id, login_id, audience, portal, issued_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, ch.ID(), loginID, ch.Audience, truncate(portal, 200), ch.IssuedAt.UnixNano(), ch.ExpiresAt.UnixNano()); err != nil {
		return nil, fmt.Errorf("qrlogin: store challenge: %w", err)
	}
	return ch, nil
}

// record is a stored challenge's state.
type record struct {
	loginID, portal string
	chain           []byte
	signature       []byte
	used            bool
}

func (s *Service) load(ctx context.Context, col, val string) (*certlogin.Challenge, *record, error) {
	var (
		id, aud  string
		iat, exp int64
		chain    sql.NullString
		used     sql.NullInt64
		rec      record
	)
	err := s.db.QueryRow(ctx, `SELECT id, login_id, audience, portal, issued_at, expires_at, chain, signature, used_at
		FROM qrlogin_challenges WHERE `+col+` = ?`, val).Scan(&id, &rec.loginID, &aud, &rec.portal, &iat, &exp, &chain, &rec.signature, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("qrlogin: read challenge: %w", err)
	}
	ch, err := certlogin.ParseChallenge(mustJSON(id, aud, iat, exp))
	if err != nil {
		return nil, nil, fmt.Errorf("qrlogin: stored challenge: %w", err)
	}
	rec.chain, rec.used = []byte(chain.String), used.Valid
	return ch, &rec, nil
}

// Signed returns the chain and signature the device sent for challenge
// id, or nil ones while it has not (or when the challenge is unknown,
// used or expired).
func (s *Service) Signed(ctx context.Context, id string) (chainPEM, signature []byte, err error) {
	ch, rec, err := s.load(ctx, "id", id)
	if err != nil || ch == nil || rec.used || !s.now().Before(ch.ExpiresAt) || len(rec.signature) == 0 {
		return nil, nil, err
	}
	return rec.chain, rec.signature, nil
}

// MarkUsed is certlogin.UsedChallenges: one login only per challenge.
func (s *Service) MarkUsed(ctx context.Context, id string, _ time.Time) (bool, error) {
	res, err := s.db.Exec(ctx, "UPDATE qrlogin_challenges SET used_at = ? WHERE id = ? AND used_at IS NULL AND signed_at IS NOT NULL",
		s.now().UnixNano(), id)
	if err != nil {
		return false, fmt.Errorf("qrlogin: mark challenge used: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

var _ certlogin.UsedChallenges = (*Service)(nil)

// notYet is the UsedChallenges of the check when the device signs: that
// check consumes nothing (the signed_at update admits one signature), the
// provider's verification at login marks the challenge used (MarkUsed).
type notYet struct{}

func (notYet) MarkUsed(context.Context, string, time.Time) (bool, error) { return true, nil }

// Purge deletes challenges that expired before now.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	res, err := s.db.Exec(ctx, "DELETE FROM qrlogin_challenges WHERE expires_at < ?", s.now().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("qrlogin: purge: %w", err)
	}
	return res.RowsAffected()
}

// Routes registers the device's endpoint on mux (below the issuer's
// path, prefix).
func (s *Service) Routes(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+PathPrefix+"{id}", s.serveChallenge)
	mux.HandleFunc("POST "+prefix+PathPrefix+"{id}", s.serveSign)
}

// Offer is what the device is shown before it signs.
type Offer struct {
	Challenge json.RawMessage `json:"challenge"`
	Portal    string          `json:"portal"`
	Origin    string          `json:"origin"`
}

func (s *Service) pending(w http.ResponseWriter, r *http.Request) (*certlogin.Challenge, *record, bool) {
	w.Header().Set("Cache-Control", "no-store")
	ch, rec, err := s.load(r.Context(), "id", r.PathValue("id"))
	if err != nil {
		problem.WriteError(w, r, s.log, err)
		return nil, nil, false
	}
	if ch == nil || rec.used || !s.now().Before(ch.ExpiresAt) {
		problem.Write(w, problem.New(http.StatusNotFound, "unknown, used or expired sign-in challenge: scan the code again"))
		return nil, nil, false
	}
	if len(rec.signature) > 0 {
		problem.Write(w, problem.New(http.StatusConflict, "this sign-in challenge is already signed"))
		return nil, nil, false
	}
	return ch, rec, true
}

func (s *Service) serveChallenge(w http.ResponseWriter, r *http.Request) {
	ch, rec, ok := s.pending(w, r)
	if !ok {
		return
	}
	b, err := json.Marshal(ch)
	if err != nil {
		problem.WriteError(w, r, s.log, err)
		return
	}
	u, _ := url.Parse(s.issuer)
	problem.WriteJSON(w, http.StatusOK, Offer{Challenge: b, Portal: rec.portal, Origin: u.Scheme + "://" + u.Host})
}

// serveSign takes the device's signature: a certlogin.LoginRequest for
// this challenge, verified at once.
func (s *Service) serveSign(w http.ResponseWriter, r *http.Request) {
	ch, _, ok := s.pending(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, certlogin.MaxLoginRequestSize+1))
	if err != nil {
		problem.Write(w, problem.New(http.StatusBadRequest, "unreadable body"))
		return
	}
	req, err := certlogin.ParseLoginRequest(body)
	if err != nil || req.ChallengeID != ch.ID() {
		problem.Write(w, problem.New(http.StatusBadRequest, "not a login request for this challenge"))
		return
	}
	opts := s.check
	opts.Now = s.now()
	if _, err := certlogin.Verify(r.Context(), ch, req.ChainPEM, req.Signature, opts); err != nil {
		s.log.InfoContext(r.Context(), "scan to sign in: signature refused", "challenge", ch.ID(), "err", err)
		problem.Write(w, problem.New(http.StatusForbidden, "signature or certificate refused: "+err.Error()))
		return
	}
	res, err := s.db.Exec(r.Context(), "UPDATE qrlogin_challenges SET chain = ?, signature = ?, signed_at = ? WHERE id = ? AND signed_at IS NULL",
		string(req.ChainPEM), req.Signature, s.now().UnixNano(), ch.ID())
	if err != nil {
		problem.WriteError(w, r, s.log, err)
		return
	}
	if n, _ := res.RowsAffected(); n != 1 {
		problem.Write(w, problem.New(http.StatusConflict, "this sign-in challenge is already signed"))
		return
	}
	problem.WriteJSON(w, http.StatusOK, map[string]string{"status": "signed"})
}

// Wait shows the browser the QR code of ch for portal and refreshes
// itself to self every two seconds; detail, if set, explains a refusal.
//
// The page links back to the login page of the same transaction.
func (s *Service) Wait(w http.ResponseWriter, r *http.Request, ch *certlogin.Challenge, portal, self, detail string) {
	img, err := web.QR(s.URL(ch.ID()))
	if err != nil {
		s.log.ErrorContext(r.Context(), "scan to sign in: QR code", "err", err)
	}
	p := &web.Page{Title: "qr.title", RefreshURL: self, RefreshSeconds: 2, Error: detail,
		Data: map[string]any{"QR": img, "URL": s.URL(ch.ID()), "Portal": portal, "Expires": ch.ExpiresAt,
			"Back": strings.Replace(self, PathLogin+"?", "/login?", 1)}}
	if detail != "" {
		p.RefreshURL = ""
	}
	s.site.Render(w, r, http.StatusOK, "wait", p)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// mustJSON is a stored challenge in certlogin's JSON form.
func mustJSON(id, aud string, iat, exp int64) []byte {
	b, _ := json.Marshal(map[string]any{"challenge_id": id, "audience": aud,
		"issued_at": time.Unix(0, iat).UTC().Format(time.RFC3339), "expires_at": time.Unix(0, exp).UTC().Format(time.RFC3339)})
	return b
}

var messages = web.Messages{
	"qr.brand":   {"通行 · 统一身份认证", "Tongxing sign-on"},
	"qr.title":   {"扫码登录", "Scan to sign in"},
	"qr.intro":   {"请用市民卡或电子营业执照设备（如 tongxing login --qr）扫描二维码，核对门户和网址后签名。签名后本页自动继续。", "Scan the code with your citizen-card or e-cert device (such as tongxing login --qr), check the portal and address it shows, and sign. This page continues by itself."},
	"qr.portal":  {"请求登录的门户：%s", "Portal asking: %s"},
	"qr.alt":     {"扫码登录二维码", "Sign-in QR code"},
	"qr.url":     {"二维码内容（可复制到设备）", "The code's address (to paste into a device)"},
	"qr.expires": {"二维码有效期至 %s", "The code is valid until %s"},
	"qr.waiting": {"等待签名……", "Waiting for the signature…"},
	"qr.back":    {"返回其他登录方式", "Back to other sign-in methods"},
}
