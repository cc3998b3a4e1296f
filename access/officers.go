package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tongxing/tongxing/store"
)

// Secret prefixes, so that tokens and codes are recognisable in secret
// scanners.
const (
	tokenPrefix = "txo_"
	codePrefix  = "txp_"
	// maxSecretLen bounds presented tokens and codes.
	maxSecretLen = 128
	// MaxComment bounds a proposal comment, in bytes.
	MaxComment = 512
)

// Event is an officer action or access decision, for the audit log.
type Event struct {
	Action     string // e.g. "access.allow", "access.officer.propose"
	Actor      string // "officer:<name>", or "system:init", "system:serve"
	Role       string // the actor's role, if an officer
	SourceAddr string
	Resource   string // e.g. "access:officer:li", "http:POST /ca/v1/enrolment-codes"
	Outcome    string // "success" or "failure: ..."
	Reasons    []string
}

// Auditor records events durably; Record returns once the event is stored.
type Auditor interface {
	Record(ctx context.Context, ev Event) error
}

// UserDirectory resolves sign-on account names for binding (authn's
// accounts).
type UserDirectory interface {
	// UserID returns the ID of the account username, or an error.
	UserID(ctx context.Context, username string) (string, error)
}

// Officers manages officers, their tokens and proposals, and authenticates
// officer requests. It is safe for concurrent use.
type Officers struct {
	st      Storage
	auditor Auditor
	users   UserDirectory
	now     func() time.Time
	log     *slog.Logger
}

// Tokens is the name of [Officers] in earlier versions.
type Tokens = Officers

// Option configures [New].
type Option func(*Officers)

// WithAuditor records officer actions and access decisions with a.
// Default: nothing is recorded.
func WithAuditor(a Auditor) Option { return func(o *Officers) { o.auditor = a } }

// WithUsers resolves accounts for binding. Without it, binding is refused.
func WithUsers(u UserDirectory) Option { return func(o *Officers) { o.users = u } }

// WithClock sets the clock. Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *Officers) { o.now = now } }

// WithLogger sets the logger. Default slog.Default(). Tokens and codes are
// never logged.
func WithLogger(l *slog.Logger) Option { return func(o *Officers) { o.log = l } }

// WithStorage replaces the default SQLStore on the database.
func WithStorage(s Storage) Option { return func(o *Officers) { o.st = s } }

// New returns the officers kept in db (see [SQLStore]).
func New(db *store.DB, opts ...Option) *Officers {
	o := &Officers{now: time.Now, log: slog.Default()}
	if db != nil {
		o.st = NewSQLStore(db)
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// NewTokens returns New(db) without options: for set-up and tests.
func NewTokens(db *store.DB) *Officers { return New(db) }

func (o *Officers) clock() time.Time { return o.now().UTC().Truncate(time.Second) }

func (o *Officers) audit(ctx context.Context, ev Event) error {
	if o.auditor == nil {
		return nil
	}
	if err := o.auditor.Record(context.WithoutCancel(ctx), ev); err != nil {
		o.log.ErrorContext(ctx, "audit: cannot record officer event", "action", ev.Action, "err", err)
		return fmt.Errorf("access: record %s: %w", ev.Action, err)
	}
	return nil
}

func randomHex(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("access: random: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// newSecret returns a bearer secret (prefix + 32 random bytes, base64url)
// and its SHA-256 hash.
func newSecret(prefix string) (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("access: random: %w", err)
	}
	s := prefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(s))
	return s, h[:], nil
}

// newToken returns a token for officerID valid for ttl from now.
func newToken(officerID string, now time.Time, ttl time.Duration) (string, *Token, error) {
	s, h, err := newSecret(tokenPrefix)
	if err != nil {
		return "", nil, err
	}
	return s, &Token{ID: hex.EncodeToString(h[:6]), OfficerID: officerID, Hash: h, CreatedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

func checkTTL(ttl time.Duration) (time.Duration, error) {
	if ttl == 0 {
		return DefaultTokenTTL, nil
	}
	if ttl < MinTokenTTL || ttl > MaxTokenTTL {
		return 0, badRequest("ttl", nil, "a token lives between %s and %s", MinTokenTTL, MaxTokenTTL)
	}
	return ttl, nil
}

func newOfficer(name, role, proposedBy, approvedBy string, now time.Time) (*Officer, error) {
	id, err := randomHex("ofc_", 8)
	if err != nil {
		return nil, err
	}
	return &Officer{ID: id, Name: name, Role: role, Status: StatusActive, ProposedBy: proposedBy, ApprovedBy: approvedBy, CreatedAt: now}, nil
}

// Create makes an active officer name of role with a token valid for
// DefaultTokenTTL and returns the token, which is not stored and cannot be
// recovered. It bypasses proposals and approval: it is for `tongxing init`
// and tests, on the database directly; nothing on the HTTP API reaches it.
func (o *Officers) Create(ctx context.Context, name, role string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	if err := ValidRole(role); err != nil {
		return "", err
	}
	var token string
	err := o.st.Update(ctx, func(tx Tx) (*Change, error) {
		if _, err := tx.Officer(ctx, name); err == nil {
			return nil, refuse(http.StatusConflict, ErrExists, "officer %q exists", name)
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		now := o.clock()
		off, err := newOfficer(name, role, "system:init", "system:init", now)
		if err != nil {
			return nil, err
		}
		tok, t, err := newToken(off.ID, now, DefaultTokenTTL)
		if err != nil {
			return nil, err
		}
		token = tok
		return &Change{Officers: []*Officer{off}, Tokens: []*Token{t}}, nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// FirstOfficer is an officer made by [Officers.Bootstrap], with its token.
type FirstOfficer struct {
	Name, Role string
	Token      string
	ExpiresAt  time.Time
}

// Bootstrap gives every role that has no active officer holding a usable
// token a first officer, named ROLE-N (the first N free), and returns them
// with their tokens. by names who does it in the audit log ("system:init",
// "system:serve"). Several processes may run it at once: each role gets one
// officer.
func (o *Officers) Bootstrap(ctx context.Context, by string) ([]FirstOfficer, error) {
	var made []FirstOfficer
	for _, role := range Roles {
		var first *FirstOfficer
		err := o.st.Update(ctx, func(tx Tx) (*Change, error) {
			now := o.clock()
			if n, err := tx.Usable(ctx, role, now, ""); err != nil || n > 0 {
				return nil, err
			}
			var name string
			for i := 1; i <= 1000; i++ {
				cand := fmt.Sprintf("%s-%d", role, i)
				if _, err := tx.Officer(ctx, cand); errors.Is(err, ErrNotFound) {
					name = cand
					break
				} else if err != nil {
					return nil, err
				}
			}
			if name == "" {
				return nil, fmt.Errorf("access: no free name for a first %s officer", role)
			}
			off, err := newOfficer(name, role, by, by, now)
			if err != nil {
				return nil, err
			}
			tok, t, err := newToken(off.ID, now, DefaultTokenTTL)
			if err != nil {
				return nil, err
			}
			first = &FirstOfficer{Name: name, Role: role, Token: tok, ExpiresAt: t.ExpiresAt}
			return &Change{Officers: []*Officer{off}, Tokens: []*Token{t}}, nil
		})
		if err != nil {
			return made, err
		}
		if first == nil {
			continue
		}
		if err := o.audit(ctx, Event{Action: "access.officer.bootstrap", Actor: by, Resource: "access:officer:" + first.Name,
			Outcome: "success", Reasons: []string{"role " + role + " had no active officer with a usable token"}}); err != nil {
			return made, err
		}
		o.log.WarnContext(ctx, "created a first officer", "officer", first.Name, "role", role, "by", by)
		made = append(made, *first)
	}
	return made, nil
}

// UpgradeLegacyTokens gives tokens of earlier versions, which never
// expired, an expiry DefaultTokenTTL from now. It returns how many it
// changed; run it at start.
func (o *Officers) UpgradeLegacyTokens(ctx context.Context) (int64, error) {
	s, ok := o.st.(*SQLStore)
	if !ok {
		return 0, nil
	}
	return s.legacyTokens(ctx, o.clock(), DefaultTokenTTL)
}

// Authenticate returns the principal of token: an active officer whose
// token is neither revoked nor expired. Anything else is ErrUnknownToken.
func (o *Officers) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > maxSecretLen {
		return nil, ErrUnknownToken
	}
	h := sha256.Sum256([]byte(token))
	t, off, err := o.st.Token(ctx, h[:])
	if err != nil {
		return nil, err
	}
	now := o.now()
	if subtle.ConstantTimeCompare(t.Hash, h[:]) != 1 || !t.RevokedAt.IsZero() || t.ExpiresAt.IsZero() ||
		!now.Before(t.ExpiresAt) || off.Status != StatusActive {
		return nil, ErrUnknownToken
	}
	return &Principal{OfficerID: off.ID, Name: off.Name, Role: off.Role, TokenID: t.ID, TokenExpiresAt: t.ExpiresAt}, nil
}

// ProposalRequest is what a sysadmin proposes.
type ProposalRequest struct {
	Kind    string `json:"kind"`           // add, bind or token
	Officer string `json:"officer"`        // the officer's name
	Role    string `json:"role,omitempty"` // add: the new officer's role
	User    string `json:"user,omitempty"` // add (optional) and bind: the sign-on account's user name
	Comment string `json:"comment,omitempty"`
}

func checkComment(c string) error {
	if len(c) > MaxComment || !utf8.ValidString(c) || strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return badRequest("comment", nil, "at most %d bytes of printable UTF-8", MaxComment)
	}
	return nil
}

func hashCode(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// Propose records a proposal by sysadmin p and returns it with the
// proposer's claim code (add and token proposals; shown once). Only a
// sysadmin may propose (403 otherwise). The proposal waits ProposalTTL for
// its decision.
func (o *Officers) Propose(ctx context.Context, p *Principal, req ProposalRequest) (*Proposal, string, error) {
	if !p.Has(RoleSysadmin) {
		return nil, "", refuse(http.StatusForbidden, ErrForbidden, "only a sysadmin proposes officer changes")
	}
	if err := checkComment(req.Comment); err != nil {
		return nil, "", err
	}
	var userID string
	switch req.Kind {
	case KindAdd:
		if err := ValidName(req.Officer); err != nil {
			return nil, "", err
		}
		if err := ValidRole(req.Role); err != nil {
			return nil, "", err
		}
	case KindBind, KindToken:
		if req.Officer == "" {
			return nil, "", badRequest("officer", nil, "required")
		}
		if req.Role != "" {
			return nil, "", badRequest("role", nil, "an officer's role never changes; propose a new officer instead")
		}
		if req.Kind == KindBind && req.User == "" {
			return nil, "", badRequest("user", nil, "required: the sign-on account to bind")
		}
		if req.Kind == KindToken && req.User != "" {
			return nil, "", badRequest("user", nil, "not part of a token proposal")
		}
	default:
		return nil, "", badRequest("kind", nil, "%q is not add, bind or token", truncate(req.Kind, 32))
	}
	if req.User != "" {
		id, err := o.userID(ctx, req.User)
		if err != nil {
			return nil, "", err
		}
		userID = id
	}
	var (
		prop *Proposal
		code string
	)
	err := o.st.Update(ctx, func(tx Tx) (*Change, error) {
		now := o.clock()
		off, err := tx.Officer(ctx, req.Officer)
		role := req.Role
		switch {
		case req.Kind == KindAdd && err == nil:
			return nil, refuse(http.StatusConflict, ErrExists, "officer %q exists", req.Officer)
		case req.Kind == KindAdd && !errors.Is(err, ErrNotFound):
			return nil, err
		case req.Kind != KindAdd && err != nil:
			return nil, err
		case req.Kind != KindAdd:
			if off.Status != StatusActive {
				return nil, refuse(http.StatusConflict, ErrNotActive, "officer %q is %s", off.Name, off.Status)
			}
			role = off.Role
		}
		if userID != "" {
			if b, err := tx.BoundTo(ctx, userID); err == nil && (off == nil || b.ID != off.ID) {
				return nil, refuse(http.StatusConflict, ErrExists, "account %q is bound to officer %q", req.User, b.Name)
			} else if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		id, err := randomHex("prp_", 8)
		if err != nil {
			return nil, err
		}
		prop = &Proposal{ID: id, Kind: req.Kind, Officer: req.Officer, Role: role, UserID: userID, Username: req.User,
			Status: ProposalPending, ProposedBy: p.Actor(), ProposedAt: now, ExpiresAt: now.Add(ProposalTTL), Comment: req.Comment}
		if req.Kind != KindBind {
			var h []byte
			if code, h, err = newSecret(codePrefix); err != nil {
				return nil, err
			}
			prop.ProposerCodeHash = h
		}
		return &Change{Proposals: []*Proposal{prop}}, nil
	})
	if err != nil {
		return nil, "", err
	}
	reasons := []string{"kind " + prop.Kind, "role " + prop.Role}
	if prop.Username != "" {
		reasons = append(reasons, "account "+prop.Username)
	}
	if err := o.audit(ctx, Event{Action: "access.officer.propose", Actor: p.Actor(), Role: p.Role, SourceAddr: p.SourceAddr,
		Resource: "access:proposal:" + prop.ID + ":officer:" + prop.Officer, Outcome: "success", Reasons: reasons}); err != nil {
		return nil, "", err
	}
	return prop, code, nil
}

func (o *Officers) userID(ctx context.Context, username string) (string, error) {
	if o.users == nil {
		return "", refuse(http.StatusNotImplemented, nil, "binding sign-on accounts is not available on this server")
	}
	id, err := o.users.UserID(ctx, username)
	if err != nil {
		return "", &Error{Status: http.StatusNotFound, Field: "user", Msg: fmt.Sprintf("no sign-on account %q", truncate(username, 80)), Err: ErrNotFound}
	}
	return id, nil
}

// expire closes prop if its time is up and returns the refusal to give.
func expire(prop *Proposal, now time.Time) (*Change, error) {
	if prop.open() && !now.Before(prop.ExpiresAt) {
		prop.Status = ProposalExpired
		return &Change{Proposals: []*Proposal{prop}}, refuse(http.StatusConflict, ErrClosed, "proposal %s expired at %s", prop.ID, prop.ExpiresAt.Format(time.RFC3339))
	}
	return nil, nil
}

// Approve approves proposal id as officer p and returns it with the
// approver's claim code (add and token; shown once). p must hold the
// proposal's role (403), and be neither its proposer nor the officer it
// concerns (403, ErrSelfApproval). The one exception: a proposal for the
// sysadmin role that no other usable sysadmin can approve is approved by a
// security auditor. An add proposal creates the officer,
// active, holding no token until the claim; a bind proposal binds the
// account at once.
func (o *Officers) Approve(ctx context.Context, p *Principal, id string) (*Proposal, string, error) {
	var (
		prop *Proposal
		code string
	)
	err := o.st.Update(ctx, func(tx Tx) (*Change, error) {
		var err error
		if prop, err = tx.Proposal(ctx, id); err != nil {
			return nil, err
		}
		now := o.clock()
		if ch, err := expire(prop, now); err != nil {
			return ch, err
		}
		if prop.Status != ProposalPending {
			return nil, refuse(http.StatusConflict, ErrClosed, "proposal %s is %s", prop.ID, prop.Status)
		}
		if !p.Has(prop.Role) {
			sole, err := soleSysadminProposal(ctx, tx, prop, now)
			if err != nil {
				return nil, err
			}
			if !sole || !p.Has(RoleAuditor) {
				return nil, refuse(http.StatusForbidden, ErrForbidden, "only an officer of role %s approves proposal %s; each role admits its own members", prop.Role, prop.ID)
			}
		}
		if p.Actor() == prop.ProposedBy {
			return nil, refuse(http.StatusForbidden, ErrSelfApproval, "%s proposed %s and cannot approve it; another %s officer must", p.Actor(), prop.ID, prop.Role)
		}
		if p.Name == prop.Officer {
			return nil, refuse(http.StatusForbidden, ErrSelfApproval, "proposal %s concerns %s, who cannot approve it; another %s officer must", prop.ID, p.Actor(), prop.Role)
		}
		ch := &Change{Proposals: []*Proposal{prop}}
		var off *Officer
		if prop.Kind == KindAdd {
			if _, err := tx.Officer(ctx, prop.Officer); err == nil {
				return nil, refuse(http.StatusConflict, ErrExists, "officer %q exists", prop.Officer)
			} else if !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			if off, err = newOfficer(prop.Officer, prop.Role, prop.ProposedBy, p.Actor(), now); err != nil {
				return nil, err
			}
		} else {
			if off, err = tx.Officer(ctx, prop.Officer); err != nil {
				return nil, err
			}
			if off.Status != StatusActive {
				return nil, refuse(http.StatusConflict, ErrNotActive, "officer %q is %s", off.Name, off.Status)
			}
		}
		if prop.UserID != "" {
			if b, err := tx.BoundTo(ctx, prop.UserID); err == nil && b.ID != off.ID {
				return nil, refuse(http.StatusConflict, ErrExists, "account %q is bound to officer %q", prop.Username, b.Name)
			} else if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			off.UserID, off.Username = prop.UserID, prop.Username
		}
		if prop.Kind == KindAdd || prop.Kind == KindBind {
			ch.Officers = append(ch.Officers, off)
		}
		prop.DecidedBy, prop.DecidedAt = p.Actor(), now
		if prop.Kind == KindBind {
			prop.Status = ProposalApplied
			return ch, nil
		}
		var h []byte
		if code, h, err = newSecret(codePrefix); err != nil {
			return nil, err
		}
		prop.Status, prop.ApproverCodeHash, prop.ExpiresAt = ProposalApproved, h, now.Add(ProposalTTL)
		return ch, nil
	})
	ev := Event{Action: "access.proposal.approve", Actor: p.Actor(), Role: p.Role, SourceAddr: p.SourceAddr, Resource: "access:proposal:" + id}
	if err != nil {
		if prop != nil {
			ev.Resource += ":officer:" + prop.Officer
		}
		o.auditRefusal(ctx, ev, err)
		return nil, "", err
	}
	ev.Resource += ":officer:" + prop.Officer
	ev.Outcome, ev.Reasons = "success", []string{"kind " + prop.Kind, "role " + prop.Role, "proposed by " + prop.ProposedBy}
	if err := o.audit(ctx, ev); err != nil {
		return nil, "", err
	}
	return prop, code, nil
}

// soleSysadminProposal reports whether prop concerns the sysadmin role and
// no usable sysadmin other than its proposer (and the officer it concerns)
// exists to approve it. A sole system administrator cannot admit a second
// one alone: the security auditor, who oversees the system administrators
// (三员分立), approves instead.
func soleSysadminProposal(ctx context.Context, tx Tx, prop *Proposal, now time.Time) (bool, error) {
	if prop.Role != RoleSysadmin {
		return false, nil
	}
	all, err := tx.Usable(ctx, RoleSysadmin, now, "")
	if err != nil {
		return false, err
	}
	others := all
	seen := map[string]bool{}
	for _, name := range []string{strings.TrimPrefix(prop.ProposedBy, "officer:"), prop.Officer} {
		off, err := tx.Officer(ctx, name)
		if errors.Is(err, ErrNotFound) || (err == nil && seen[off.ID]) {
			continue
		}
		if err != nil {
			return false, err
		}
		seen[off.ID] = true
		without, err := tx.Usable(ctx, RoleSysadmin, now, off.ID)
		if err != nil {
			return false, err
		}
		others -= all - without // 1 when this officer is a usable sysadmin
	}
	return others <= 0, nil
}

// auditRefusal records a refused action (4xx errors of this package;
// unknown proposals are not recorded, so that guessing cannot flood the
// log).
func (o *Officers) auditRefusal(ctx context.Context, ev Event, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Status >= 500 || errors.Is(err, ErrNotFound) {
		return
	}
	ev.Outcome = "failure: " + e.Msg
	_ = o.audit(ctx, ev)
}

// Reject closes pending proposal id. An officer of the proposal's role may
// reject it, and its proposer may withdraw it; comment is recorded.
func (o *Officers) Reject(ctx context.Context, p *Principal, id, comment string) (*Proposal, error) {
	if err := checkComment(comment); err != nil {
		return nil, err
	}
	var prop *Proposal
	err := o.st.Update(ctx, func(tx Tx) (*Change, error) {
		var err error
		if prop, err = tx.Proposal(ctx, id); err != nil {
			return nil, err
		}
		now := o.clock()
		if ch, err := expire(prop, now); err != nil {
			return ch, err
		}
		if prop.Status != ProposalPending {
			return nil, refuse(http.StatusConflict, ErrClosed, "proposal %s is %s", prop.ID, prop.Status)
		}
		if !p.Has(prop.Role) && p.Actor() != prop.ProposedBy {
			return nil, refuse(http.StatusForbidden, ErrForbidden, "only an officer of role %s, or its proposer, rejects proposal %s", prop.Role, prop.ID)
		}
		prop.Status, prop.DecidedBy, prop.DecidedAt = ProposalRejected, p.Actor(), now
		if comment != "" {
			prop.Comment = comment
		}
		return &Change{Proposals: []*Proposal{prop}}, nil
	})
	ev := Event{Action: "access.proposal.reject", Actor: p.Actor(), Role: p.Role, SourceAddr: p.SourceAddr, Resource: "access:proposal:" + id}
	if err != nil {
		o.auditRefusal(ctx, ev, err)
		return nil, err
	}
	ev.Resource += ":officer:" + prop.Officer
	ev.Outcome = "success"
	if comment != "" {
		ev.Reasons = []string{comment}
	}
	if err := o.audit(ctx, ev); err != nil {
		return nil, err
	}
	return prop, nil
}

// Claim exchanges the two claim codes of approved proposal id (an add or a
// token proposal) for the officer's token, valid for ttl (0:
// DefaultTokenTTL), once. A token proposal revokes the officer's earlier
// tokens. A wrong code counts; after MaxClaimFailures the proposal fails.
// sourceAddr is recorded.
func (o *Officers) Claim(ctx context.Context, id, proposerCode, approverCode string, ttl time.Duration, sourceAddr string) (string, *Officer, error) {
	ttl, err := checkTTL(ttl)
	if err != nil {
		return "", nil, err
	}
	var (
		prop  *Proposal
		off   *Officer
		token string
		exp   time.Time
	)
	err = o.st.Update(ctx, func(tx Tx) (*Change, error) {
		var err error
		if prop, err = tx.Proposal(ctx, id); err != nil {
			return nil, err
		}
		now := o.clock()
		if ch, err := expire(prop, now); err != nil {
			return ch, err
		}
		switch prop.Status {
		case ProposalApproved:
		case ProposalPending:
			return nil, refuse(http.StatusConflict, ErrClosed, "proposal %s is not approved yet", prop.ID)
		default:
			return nil, refuse(http.StatusConflict, ErrClosed, "proposal %s is %s", prop.ID, prop.Status)
		}
		okA := len(proposerCode) <= maxSecretLen && subtle.ConstantTimeCompare(hashCode(proposerCode), prop.ProposerCodeHash) == 1
		okB := len(approverCode) <= maxSecretLen && subtle.ConstantTimeCompare(hashCode(approverCode), prop.ApproverCodeHash) == 1
		if !okA || !okB {
			prop.ClaimFailures++
			msg := "the claim codes do not match proposal " + prop.ID
			if prop.ClaimFailures >= MaxClaimFailures {
				prop.Status = ProposalFailed
				msg += "; it failed after too many wrong codes and needs a new proposal"
			}
			return &Change{Proposals: []*Proposal{prop}}, refuse(http.StatusForbidden, ErrBadCode, "%s", msg)
		}
		if off, err = tx.Officer(ctx, prop.Officer); err != nil {
			return nil, err
		}
		if off.Status != StatusActive {
			return nil, refuse(http.StatusConflict, ErrNotActive, "officer %q is %s", off.Name, off.Status)
		}
		tok, t, err := newToken(off.ID, now, ttl)
		if err != nil {
			return nil, err
		}
		token, exp = tok, t.ExpiresAt
		prop.Status, prop.ClaimedAt = ProposalClaimed, now
		ch := &Change{Proposals: []*Proposal{prop}, Tokens: []*Token{t}}
		if prop.Kind == KindToken {
			ch.Revoke, ch.RevokedAt = []string{off.ID}, now
		}
		return ch, nil
	})
	ev := Event{Action: "access.proposal.claim", SourceAddr: sourceAddr, Resource: "access:proposal:" + id, Actor: "anonymous"}
	if prop != nil {
		ev.Actor, ev.Role = "officer:"+prop.Officer, prop.Role
		ev.Resource += ":officer:" + prop.Officer
	}
	if err != nil {
		o.auditRefusal(ctx, ev, err)
		return "", nil, err
	}
	ev.Outcome, ev.Reasons = "success", []string{"kind " + prop.Kind, "token expires " + exp.Format(time.RFC3339)}
	if err := o.audit(ctx, ev); err != nil {
		return "", nil, err
	}
	return token, off, nil
}

// Revoke revokes officer name and every token of theirs, as sysadmin p. It
// refuses (409, ErrLastOfficer) when no other active officer of the role
// would hold a usable token.
func (o *Officers) Revoke(ctx context.Context, p *Principal, name, comment string) (*Officer, error) {
	if !p.Has(RoleSysadmin) {
		return nil, refuse(http.StatusForbidden, ErrForbidden, "only a sysadmin revokes officers")
	}
	if err := checkComment(comment); err != nil {
		return nil, err
	}
	var off *Officer
	err := o.st.Update(ctx, func(tx Tx) (*Change, error) {
		var err error
		if off, err = tx.Officer(ctx, name); err != nil {
			return nil, err
		}
		if off.Status != StatusActive {
			return nil, refuse(http.StatusConflict, ErrNotActive, "officer %q is already %s", off.Name, off.Status)
		}
		now := o.clock()
		n, err := tx.Usable(ctx, off.Role, now, off.ID)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, refuse(http.StatusConflict, ErrLastOfficer, "%s is the last %s officer with a usable token; add and admit another first", off.Actor(), off.Role)
		}
		off.Status, off.RevokedAt, off.RevokedBy = StatusRevoked, now, p.Actor()
		return &Change{Officers: []*Officer{off}, Revoke: []string{off.ID}, RevokedAt: now}, nil
	})
	ev := Event{Action: "access.officer.revoke", Actor: p.Actor(), Role: p.Role, SourceAddr: p.SourceAddr, Resource: "access:officer:" + name}
	if comment != "" {
		ev.Reasons = []string{comment}
	}
	if err != nil {
		o.auditRefusal(ctx, ev, err)
		return nil, err
	}
	ev.Outcome = "success"
	if err := o.audit(ctx, ev); err != nil {
		return nil, err
	}
	return off, nil
}

// Unbind removes the sign-on account bound to officer name, as sysadmin p.
// It takes effect at once: it takes a power away.
func (o *Officers) Unbind(ctx context.Context, p *Principal, name string) (*Officer, error) {
	if !p.Has(RoleSysadmin) {
		return nil, refuse(http.StatusForbidden, ErrForbidden, "only a sysadmin unbinds officers")
	}
	var (
		off  *Officer
		user string
	)
	err := o.st.Update(ctx, func(tx Tx) (*Change, error) {
		var err error
		if off, err = tx.Officer(ctx, name); err != nil {
			return nil, err
		}
		if off.UserID == "" {
			return nil, refuse(http.StatusConflict, ErrNotFound, "officer %q has no sign-on account", off.Name)
		}
		user = off.Username
		off.UserID, off.Username = "", ""
		return &Change{Officers: []*Officer{off}}, nil
	})
	ev := Event{Action: "access.officer.unbind", Actor: p.Actor(), Role: p.Role, SourceAddr: p.SourceAddr, Resource: "access:officer:" + name}
	if err != nil {
		o.auditRefusal(ctx, ev, err)
		return nil, err
	}
	ev.Outcome, ev.Reasons = "success", []string{"account " + user}
	if err := o.audit(ctx, ev); err != nil {
		return nil, err
	}
	return off, nil
}

// RenewToken gives officer p a new token valid for ttl (0:
// DefaultTokenTTL) and revokes their other tokens, the presented one
// included.
func (o *Officers) RenewToken(ctx context.Context, p *Principal, ttl time.Duration) (string, time.Time, error) {
	ttl, err := checkTTL(ttl)
	if err != nil {
		return "", time.Time{}, err
	}
	var (
		token string
		exp   time.Time
	)
	err = o.st.Update(ctx, func(tx Tx) (*Change, error) {
		off, err := tx.Officer(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		if off.ID != p.OfficerID || off.Status != StatusActive {
			return nil, refuse(http.StatusConflict, ErrNotActive, "officer %q is %s", off.Name, off.Status)
		}
		now := o.clock()
		// The token was checked when the request came in; it may have been
		// revoked since (a recovery through a token proposal): only a
		// token still live renews, or a thief's request in flight would
		// revoke the owner's new token and keep one of its own.
		if live, err := tx.TokenLive(ctx, p.TokenID, off.ID, now); err != nil {
			return nil, err
		} else if !live {
			return nil, refuse(http.StatusUnauthorized, ErrUnknownToken, "the token was revoked or expired while the request ran")
		}
		tok, t, err := newToken(off.ID, now, ttl)
		if err != nil {
			return nil, err
		}
		token, exp = tok, t.ExpiresAt
		return &Change{Revoke: []string{off.ID}, RevokedAt: now, ExceptToken: t.ID, Tokens: []*Token{t}}, nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	if err := o.audit(ctx, Event{Action: "access.token.renew", Actor: p.Actor(), Role: p.Role, SourceAddr: p.SourceAddr,
		Resource: "access:officer:" + p.Name, Outcome: "success", Reasons: []string{"expires " + exp.Format(time.RFC3339)}}); err != nil {
		return "", time.Time{}, err
	}
	return token, exp, nil
}

// SignOutConsole records that the officer p names signed out of the
// console at at: every console session of theirs started no later is over,
// on every replica, whoever holds its cookie.
func (o *Officers) SignOutConsole(ctx context.Context, p *Principal, at time.Time) error {
	return o.st.Update(ctx, func(tx Tx) (*Change, error) {
		off, err := tx.Officer(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		return &Change{SignedOut: []string{off.ID}, SignedOutAt: at}, nil
	})
}

// List returns every officer.
func (o *Officers) List(ctx context.Context) ([]*Officer, error) { return o.st.Officers(ctx) }

// Proposals returns the proposals of status ("" for all), newest first.
func (o *Officers) Proposals(ctx context.Context, status string) ([]*Proposal, error) {
	switch status {
	case "", ProposalPending, ProposalApproved, ProposalRejected, ProposalClaimed, ProposalApplied, ProposalExpired, ProposalFailed:
	default:
		return nil, badRequest("status", nil, "%q is not a proposal status", truncate(status, 32))
	}
	return o.st.Proposals(ctx, status)
}

// BoundOfficer returns the name of the active officer bound to the sign-on
// account userID, or "". It reads the officer list (a small table) without
// taking the update lock.
func (o *Officers) BoundOfficer(ctx context.Context, userID string) (string, error) {
	if userID == "" {
		return "", nil
	}
	offs, err := o.st.Officers(ctx)
	if err != nil {
		return "", err
	}
	for _, off := range offs {
		if off.UserID == userID && off.Status == StatusActive {
			return off.Name, nil
		}
	}
	return "", nil
}

// PendingBinding returns the name of the officer a pending proposal would
// bind the sign-on account userID to, or "". Such an account is to be
// treated as bound by whoever may change its credentials: a sysadmin who
// reset its password or one-time code before the approval would hold the
// officer's sign-in after it.
func (o *Officers) PendingBinding(ctx context.Context, userID string) (string, error) {
	if userID == "" {
		return "", nil
	}
	props, err := o.st.Proposals(ctx, ProposalPending)
	if err != nil {
		return "", err
	}
	now := o.clock()
	for _, p := range props {
		if p.UserID == userID && now.Before(p.ExpiresAt) {
			return p.Officer, nil
		}
	}
	return "", nil
}
