package authn

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/store"
)

// storedLogin is a login transaction as stored: the transaction and what
// decides whether it may still be used.
type storedLogin struct {
	loginTx
	BrowserHash []byte
	Expires     time.Time
	Done        bool
}

// createLogin implements [loginStarter]: it stores tx, bound to the
// browser whose cookie hashes to browserHash, until expires.
func (s sqlStore) createLogin(ctx context.Context, tx *loginTx, browserHash []byte, now, expires time.Time) error {
	state, err := json.Marshal(tx.State)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO authn_logins (id, browser_hash, csrf, stage, request, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, tx.ID, browserHash, tx.CSRF, tx.Stage, string(state), now.UnixNano(), expires.UnixNano())
	return err
}

// login implements [loginStore]: the login transaction id, or nil.
func (s sqlStore) login(ctx context.Context, id string) (*storedLogin, error) {
	var (
		sl      = &storedLogin{loginTx: loginTx{ID: id}}
		state   string
		expires int64
		done    sql.NullInt64
	)
	err := s.db.QueryRow(ctx, "SELECT browser_hash, csrf, stage, request, expires_at, done_at FROM authn_logins WHERE id = ?", id).
		Scan(&sl.BrowserHash, &sl.CSRF, &sl.Stage, &state, &expires, &done)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(state), &sl.State); err != nil || sl.State.Request == nil {
		return nil, fmt.Errorf("authn: stored login request %s is malformed: %v", quote(id), err)
	}
	sl.Expires, sl.Done = time.Unix(0, expires), done.Valid
	return sl, nil
}

// advanceLogin implements [loginStore]: it stores tx's state and moves it
// from stage from to stage to, if it is at from and not done; it reports
// whether it did, so only one caller succeeds.
func (s sqlStore) advanceLogin(ctx context.Context, tx *loginTx, from, to string) (bool, error) {
	state, err := json.Marshal(tx.State)
	if err != nil {
		return false, err
	}
	n, err := affected(s.db.Exec(ctx, "UPDATE authn_logins SET stage = ?, request = ? WHERE id = ? AND stage = ? AND done_at IS NULL",
		to, string(state), tx.ID, from))
	return n == 1, err
}

// finishLogin implements [loginStore]: it marks login id done, if it was
// not, and reports whether it did, so only one caller succeeds.
func (s sqlStore) finishLogin(ctx context.Context, id string, now time.Time) (bool, error) {
	n, err := affected(s.db.Exec(ctx, "UPDATE authn_logins SET done_at = ? WHERE id = ? AND done_at IS NULL", now.UnixNano(), id))
	return n == 1, err
}

// createChallenge implements [challengeStore].
func (s sqlStore) createChallenge(ctx context.Context, ch *certlogin.Challenge) error {
	_, err := s.db.Exec(ctx, "INSERT INTO authn_cert_challenges (id, audience, issued_at, expires_at) VALUES (?, ?, ?, ?)",
		ch.ID(), ch.Audience, ch.IssuedAt.UnixNano(), ch.ExpiresAt.UnixNano())
	return err
}

// challenge implements [challengeStore]: the stored challenge id (whose
// nonce the caller decoded), or nil.
func (s sqlStore) challenge(ctx context.Context, id string, nonce []byte) (*certlogin.Challenge, error) {
	var iat, exp int64
	ch := &certlogin.Challenge{Nonce: nonce}
	err := s.db.QueryRow(ctx, "SELECT audience, issued_at, expires_at FROM authn_cert_challenges WHERE id = ?", id).
		Scan(&ch.Audience, &iat, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ch.IssuedAt, ch.ExpiresAt = time.Unix(0, iat).UTC(), time.Unix(0, exp).UTC()
	return ch, nil
}

// dbUsedChallenges is certlogin.UsedChallenges on authn_cert_challenges:
// marking a challenge used is one conditional UPDATE, so only one login
// can use it, across replicas.
type dbUsedChallenges struct {
	db  *store.DB
	now func() time.Time
}

// MarkUsed implements certlogin.UsedChallenges.
func (u dbUsedChallenges) MarkUsed(ctx context.Context, id string, _ time.Time) (bool, error) {
	n, err := affected(u.db.Exec(ctx, "UPDATE authn_cert_challenges SET used_at = ? WHERE id = ? AND used_at IS NULL", u.now().UnixNano(), id))
	if err != nil {
		return false, fmt.Errorf("authn: mark certificate-login challenge used: %w", err)
	}
	return n == 1, nil
}

// dbUsedSteps is totp.UsedSteps on the last_step column of table
// (authn_totp at login, authn_totp_enrolments for a pending enrolment): a
// time step is accepted only if it is later than the last one accepted
// for the account (the user ID), by one conditional UPDATE, so replicas
// agree.
type dbUsedSteps struct {
	db    *store.DB
	table string // a constant of this package, never input
}

// MarkUsed implements totp.UsedSteps.
func (s dbUsedSteps) MarkUsed(ctx context.Context, account string, step int64) (bool, error) {
	n, err := affected(s.db.Exec(ctx, "UPDATE "+s.table+" SET last_step = ? WHERE user_id = ? AND last_step < ?", step, account, step))
	if err != nil {
		return false, fmt.Errorf("authn: record one-time code step: %w", err)
	}
	return n == 1, nil
}
