package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/endpoint"
	"github.com/tongxing/tongxing/problem"
)

// Guard restricts a handler to officers holding role
// ([access.Officers.Require] is one).
type Guard func(role string, next http.Handler) http.Handler

// OfficerBindings tells whether a sign-on account is bound to an officer
// (package access). An account bound to an officer is the officer's way
// into the console, so a sysadmin may not reset its password or one-time
// code: that would hand the sysadmin another role.
type OfficerBindings interface {
	// BoundOfficer returns the name of the active officer bound to account
	// userID, or "".
	BoundOfficer(ctx context.Context, userID string) (string, error)
}

// Limits of the administration API.
const (
	maxAdminBody     = 64 << 10
	maxPasswordBody  = 4 << 10
	maxEmptyBody     = 1 << 10 // calls without a body accept {}
	defaultUserLimit = 100
	maxUserLimit     = 1000
)

// AdminRoutes registers the sign-on administration API on mux, below the
// issuer's path, every endpoint for officers with role sysadmin through
// guard:
//
//	POST /authn/v1/users                         add an account (NewUserJSON) -> AccountJSON
//	GET  /authn/v1/users?q=&after=&limit=        list accounts, by user name
//	GET  /authn/v1/users/{username}              one account
//	POST /authn/v1/users/{username}/unlock       end a login lockout of the account
//	POST /authn/v1/users/{username}/totp-reset   remove the one-time-code factor
//	POST /authn/v1/users/{username}/password     set a new password, {"password"}
//	GET  /authn/v1/clients                       list the clients ({"clients": [ClientSummary]}, no secrets)
//	POST /authn/v1/clients                       register a client (ClientConfig without secret_hash) -> client_id, client_secret
//
// totp-reset and password refuse (403) accounts bound to an officer.
// Every action, refusals included, is recorded with the [Auditor], naming
// the officer and the source address. Errors are problem+json naming the
// field at fault.
func (p *Provider) AdminRoutes(mux *http.ServeMux, guard Guard, officers OfficerBindings) {
	a := &admin{p: p, officers: officers, opts: &endpoint.Options{Log: p.log}}
	for _, rt := range []struct {
		pattern string
		h       http.Handler
	}{
		{"POST /authn/v1/users", adminJSON(a, maxAdminBody, a.addUser)},
		{"GET /authn/v1/users", adminRead(a, a.listUsers)},
		{"GET /authn/v1/users/{username}", adminRead(a, a.getUser)},
		{"POST /authn/v1/users/{username}/unlock", adminNoBody(a, a.unlock)},
		{"POST /authn/v1/users/{username}/totp-reset", adminNoBody(a, a.totpReset)},
		{"POST /authn/v1/users/{username}/password", adminJSON(a, maxPasswordBody, a.setPassword)},
		{"GET /authn/v1/clients", adminRead(a, a.listClients)},
		{"POST /authn/v1/clients", adminJSON(a, maxAdminBody, a.addClient)},
	} {
		method, path, _ := strings.Cut(rt.pattern, " ")
		mux.Handle(method+" "+p.prefix+path, guard(access.RoleSysadmin, rt.h))
	}
}

// adminCall serves one call of the administration API by officer o, with
// the decoded body in.
type adminCall[In any] func(r *http.Request, o *access.Principal, in In) (*endpoint.Reply, error)

// asOfficer adapts f to the endpoint adapter: the officer is taken from
// the request, and f's errors are mapped by adminProblem.
func asOfficer[In any](f adminCall[In]) endpoint.Func[In] {
	return func(r *http.Request, in In) (*endpoint.Reply, error) {
		o, ok := access.PrincipalFrom(r.Context())
		if !ok {
			return nil, problem.New(http.StatusUnauthorized, "an officer token is required")
		}
		reply, err := f(r, o, in)
		if err != nil {
			return nil, adminProblem(err)
		}
		return reply, nil
	}
}

// adminJSON serves a call with a JSON body of at most limit bytes.
func adminJSON[In any](a *admin, limit int64, f adminCall[In]) http.Handler {
	return endpoint.JSON(a.opts, limit, asOfficer(f))
}

// adminNoBody serves a call whose body, if any, is the empty object {}.
func adminNoBody(a *admin, f adminCall[struct{}]) http.Handler {
	return endpoint.OptionalJSON(a.opts, maxEmptyBody, asOfficer(f))
}

// adminRead serves a call that reads no body.
func adminRead(a *admin, f adminCall[struct{}]) http.Handler {
	g := asOfficer(f)
	return endpoint.Call(a.opts, func(r *http.Request) (*endpoint.Reply, error) { return g(r, struct{}{}) })
}

type admin struct {
	p        *Provider
	officers OfficerBindings
	opts     *endpoint.Options
}

// adminError is a refusal of the administration API.
type adminError struct {
	status int
	field  string
	msg    string
	err    error
}

func (e *adminError) Error() string     { return e.msg }
func (e *adminError) Unwrap() error     { return e.err }
func (e *adminError) HTTPStatus() int   { return e.status }
func (e *adminError) FieldName() string { return e.field }

// adminProblem maps the stores' errors to HTTP statuses.
func adminProblem(err error) error {
	var fe *FieldError
	var ae *adminError
	switch {
	case errors.As(err, &ae):
		return err
	case errors.As(err, &fe):
		return &adminError{status: http.StatusBadRequest, field: fe.Field, msg: fe.Msg, err: err}
	case errors.Is(err, ErrUserExists), errors.Is(err, ErrClientExists):
		return &adminError{status: http.StatusConflict, msg: err.Error(), err: err}
	case errors.Is(err, ErrUserNotFound):
		return &adminError{status: http.StatusNotFound, msg: err.Error(), err: err}
	case errors.Is(err, ErrNoPseudonymKey):
		return &adminError{status: http.StatusBadRequest, field: "id_number", msg: "this provider has no pseudonym key and cannot record ID numbers", err: err}
	case errors.Is(err, ErrInvalidClientConfig), errors.Is(err, ErrInvalidUser):
		return &adminError{status: http.StatusBadRequest, msg: err.Error(), err: err}
	}
	return err // a problem.HTTPError keeps its status; anything else is a 500
}

// record audits an administration action by officer o on account or
// client resource; err, if not nil, is recorded as the failure.
func (a *admin) record(ctx context.Context, o *access.Principal, action, resource, account string, err error, reasons ...string) error {
	ev := AuditEvent{Action: action, Subject: o.Actor(), SourceAddr: o.SourceAddr, Resource: resource, Account: account, Outcome: "success", Reasons: reasons}
	if err != nil {
		ev.Outcome = "failure: " + err.Error()
	}
	return a.p.audit(ctx, ev)
}

// NewUserJSON is the body of POST /authn/v1/users.
type NewUserJSON struct {
	Username      string  `json:"username"`
	Password      string  `json:"password"`
	Name          string  `json:"name,omitempty"`
	Email         string  `json:"email,omitempty"`
	EmailVerified bool    `json:"email_verified,omitempty"`
	Phone         string  `json:"phone,omitempty"`
	PhoneVerified bool    `json:"phone_verified,omitempty"`
	Address       Address `json:"address,omitzero"`
	IDNumber      string  `json:"id_number,omitempty"` // GB 11643; kept only as a keyed hash and its last four characters
}

// AccountJSON is an account as the administration API shows it. It never
// holds the password hash, the one-time-code secret or the ID number.
type AccountJSON struct {
	ID             string    `json:"id"`
	Username       string    `json:"username"`
	Name           string    `json:"name,omitempty"`
	Email          string    `json:"email,omitempty"`
	Phone          string    `json:"phone,omitempty"`
	CitizenIDLast4 string    `json:"id_number_last4,omitempty"`
	OrgName        string    `json:"org_name,omitempty"`
	USCC           string    `json:"uscc,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	Disabled       bool      `json:"disabled,omitempty"`
	TOTP           bool      `json:"totp"`
	LockedUntil    time.Time `json:"locked_until,omitzero"`
	Officer        string    `json:"officer,omitempty"` // the officer the account is bound to
}

func (a *admin) account(ctx context.Context, u *User) (*AccountJSON, error) {
	totp, err := a.p.users.HasTOTP(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	locked, err := a.p.thr.lockedUntil(ctx, accountKey(u.Username))
	if err != nil {
		return nil, err
	}
	officer := ""
	if a.officers != nil {
		if officer, err = a.officers.BoundOfficer(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	return &AccountJSON{ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, Phone: u.Phone,
		CitizenIDLast4: u.CitizenIDLast4, OrgName: u.OrgName, USCC: u.USCC, CreatedAt: u.CreatedAt,
		Disabled: u.Disabled, TOTP: totp, LockedUntil: locked, Officer: officer}, nil
}

func (a *admin) addUser(r *http.Request, o *access.Principal, req NewUserJSON) (*endpoint.Reply, error) {
	u, err := a.p.users.AddUser(r.Context(), NewUser{Username: req.Username, Password: req.Password, Name: req.Name,
		Email: req.Email, EmailVerified: req.EmailVerified, Phone: req.Phone, PhoneVerified: req.PhoneVerified,
		Address: req.Address, CitizenID: req.IDNumber})
	if err != nil {
		_ = a.record(r.Context(), o, "authn.admin.user.add", "authn:user:"+truncateUTF8(req.Username, 64), "", adminProblem(err))
		return nil, err
	}
	if err := a.record(r.Context(), o, "authn.admin.user.add", "authn:user:"+u.ID, u.ID, nil, "username "+u.Username); err != nil {
		return nil, err
	}
	acct, err := a.account(r.Context(), u)
	if err != nil {
		return nil, err
	}
	return endpoint.Created("", acct), nil
}

func (a *admin) listUsers(r *http.Request, o *access.Principal, _ struct{}) (*endpoint.Reply, error) {
	q := r.URL.Query()
	limit := defaultUserLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxUserLimit {
			return nil, &adminError{status: http.StatusBadRequest, field: "limit", msg: fmt.Sprintf("want an integer from 1 to %d", maxUserLimit)}
		}
		limit = n
	}
	for _, f := range []string{"q", "after"} {
		if len(q.Get(f)) > MaxUsernameLength*4 {
			return nil, &adminError{status: http.StatusBadRequest, field: f, msg: "too long"}
		}
	}
	users, err := a.p.users.list(r.Context(), q.Get("q"), q.Get("after"), limit)
	if err != nil {
		return nil, err
	}
	out := make([]*AccountJSON, 0, len(users))
	for _, u := range users {
		acct, err := a.account(r.Context(), u)
		if err != nil {
			return nil, err
		}
		out = append(out, acct)
	}
	// Listing shows personal data: recorded like any other action.
	if err := a.record(r.Context(), o, "authn.admin.user.list", "authn:users", "", nil, fmt.Sprintf("%d accounts", len(out))); err != nil {
		return nil, err
	}
	return endpoint.OK(map[string]any{"users": out}), nil
}

func (a *admin) user(ctx context.Context, r *http.Request) (*User, error) {
	u, err := a.p.users.ByUsername(ctx, r.PathValue("username"))
	if err != nil {
		return nil, adminProblem(err)
	}
	return u, nil
}

func (a *admin) getUser(r *http.Request, o *access.Principal, _ struct{}) (*endpoint.Reply, error) {
	u, err := a.user(r.Context(), r)
	if err != nil {
		return nil, err
	}
	acct, err := a.account(r.Context(), u)
	if err != nil {
		return nil, err
	}
	if err := a.record(r.Context(), o, "authn.admin.user.read", "authn:user:"+u.ID, u.ID, nil); err != nil {
		return nil, err
	}
	return endpoint.OK(acct), nil
}

func (a *admin) unlock(r *http.Request, o *access.Principal, _ struct{}) (*endpoint.Reply, error) {
	return a.act(r, o, "authn.admin.user.unlock", "", func(ctx context.Context, u *User) error {
		return a.p.thr.reset(ctx, accountKey(u.Username))
	})
}

// act runs do on the account named by the request's path and records
// action by officer o; unless bound is "", an account bound to an officer
// is refused (bound says what the sysadmin may not do), and the refusal
// recorded. It answers with the account as it is after do.
func (a *admin) act(r *http.Request, o *access.Principal, action, bound string, do func(ctx context.Context, u *User) error) (*endpoint.Reply, error) {
	ctx := r.Context()
	u, err := a.user(ctx, r)
	if err != nil {
		return nil, err
	}
	if bound != "" {
		if err := a.refuseBound(ctx, u, bound); err != nil {
			_ = a.record(ctx, o, action, "authn:user:"+u.ID, u.ID, err)
			return nil, err
		}
	}
	if err := do(ctx, u); err != nil {
		return nil, err
	}
	if err := a.record(ctx, o, action, "authn:user:"+u.ID, u.ID, nil); err != nil {
		return nil, err
	}
	acct, err := a.account(ctx, u)
	if err != nil {
		return nil, err
	}
	return endpoint.OK(acct), nil
}

// refuseBound returns a 403 if account u is bound to an officer: a
// sysadmin may not take over an officer's sign-on.
func (a *admin) refuseBound(ctx context.Context, u *User, what string) error {
	if a.officers == nil {
		return &adminError{status: http.StatusServiceUnavailable, msg: "officer bindings are unknown; refusing to " + what}
	}
	name, err := a.officers.BoundOfficer(ctx, u.ID)
	if err != nil {
		return err
	}
	if name != "" {
		return &adminError{status: http.StatusForbidden, msg: fmt.Sprintf("account %s is bound to officer %s: a sysadmin cannot %s of an officer's account", quote(u.Username), name, what)}
	}
	// An account a pending proposal would bind is the officer's once it
	// is approved: its credentials are not the sysadmin's to change meanwhile.
	if pb, ok := a.officers.(interface {
		PendingBinding(ctx context.Context, userID string) (string, error)
	}); ok {
		if name, err = pb.PendingBinding(ctx, u.ID); err != nil {
			return err
		}
		if name != "" {
			return &adminError{status: http.StatusForbidden, msg: fmt.Sprintf("a pending proposal would bind account %s to officer %s: a sysadmin cannot %s of it", quote(u.Username), name, what)}
		}
	}
	return nil
}

func (a *admin) totpReset(r *http.Request, o *access.Principal, _ struct{}) (*endpoint.Reply, error) {
	return a.act(r, o, "authn.admin.user.totp-reset", "reset the one-time code", func(ctx context.Context, u *User) error {
		return a.p.users.RemoveTOTP(ctx, u.ID)
	})
}

// PasswordJSON is the body of POST /authn/v1/users/{username}/password.
type PasswordJSON struct {
	Password string `json:"password"`
}

func (a *admin) setPassword(r *http.Request, o *access.Principal, req PasswordJSON) (*endpoint.Reply, error) {
	return a.act(r, o, "authn.admin.user.password", "set the password", func(ctx context.Context, u *User) error {
		return a.p.users.SetPassword(ctx, u.ID, req.Password)
	})
}

// ClientSecretJSON is the answer of POST /authn/v1/clients: the secret is
// shown once (empty for clients without one).
type ClientSecretJSON struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
}

func (a *admin) addClient(r *http.Request, o *access.Principal, cfg ClientConfig) (*endpoint.Reply, error) {
	if cfg.SecretHash != "" {
		return nil, &adminError{status: http.StatusBadRequest, field: "secret_hash", msg: "the provider makes the secret; leave secret_hash out"}
	}
	secret, err := a.p.AddClient(r.Context(), cfg)
	if err != nil {
		_ = a.record(r.Context(), o, "authn.admin.client.add", "authn:client:"+truncateUTF8(cfg.ID, 64), "", adminProblem(err))
		return nil, err
	}
	if err := a.record(r.Context(), o, "authn.admin.client.add", "authn:client:"+cfg.ID, "", nil); err != nil {
		return nil, err
	}
	return endpoint.Created("", ClientSecretJSON{ClientID: cfg.ID, ClientSecret: secret}).NoStore(), nil
}

func (a *admin) listClients(r *http.Request, o *access.Principal, _ struct{}) (*endpoint.Reply, error) {
	list, err := a.p.ListClients(r.Context())
	if err != nil {
		return nil, err
	}
	if err := a.record(r.Context(), o, "authn.admin.client.list", "authn:clients", "", nil, fmt.Sprintf("%d clients", len(list))); err != nil {
		return nil, err
	}
	return endpoint.OK(map[string]any{"clients": list}), nil
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary and replaces
// invalid UTF-8, for resources built from unvalidated input.
func truncateUTF8(s string, n int) string {
	if len(s) > n {
		for n > 0 && s[n]&0xC0 == 0x80 {
			n--
		}
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "?")
}
