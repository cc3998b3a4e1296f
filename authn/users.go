package authn

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/store"
)

// Limits on account fields, in bytes.
const (
	MaxUsernameLength = 64
	maxNameLen        = 200
	maxEmailLen       = 254
	maxPhoneLen       = 32
	maxAddressField   = 256
)

// Address is the OpenID Connect address claim (Core 1.0 §5.1.1).
type Address struct {
	Formatted     string `json:"formatted,omitempty"`
	StreetAddress string `json:"street_address,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postal_code,omitempty"`
	Country       string `json:"country,omitempty"`
}

func (a Address) empty() bool { return a == Address{} }

func (a Address) fields() []string {
	return []string{a.Formatted, a.StreetAddress, a.Locality, a.Region, a.PostalCode, a.Country}
}

// NewUser is a citizen account to create with [Users.AddUser].
type NewUser struct {
	// Username is the login name: 1 to 64 bytes of UTF-8 without spaces or
	// control characters. It is matched case-insensitively (stored lower
	// case).
	Username string
	// Password: at least MinPasswordLength characters, at most
	// MaxPasswordLength bytes. Only its argon2id hash is stored.
	Password string
	// Name is the person's full name (the "name" claim). Optional.
	Name string
	// Email and Phone (E.164 style: digits, "+", "-" and spaces) are
	// optional; the *Verified flags say whether they were checked.
	Email         string
	EmailVerified bool
	Phone         string
	PhoneVerified bool
	Address       Address
	// CitizenID is the GB 11643 personal ID number. Optional. It is stored
	// only as a keyed HMAC-SM3 pseudonym (ident.Pseudonym) and its last
	// four characters; the provider needs a pseudonym key to accept it.
	CitizenID string
}

// User is a stored citizen account. It never holds the password hash or
// the personal ID number.
type User struct {
	ID             string
	Username       string
	Name           string
	Email          string
	EmailVerified  bool
	Phone          string
	PhoneVerified  bool
	Address        Address
	CitizenIDLast4 string // "" when no ID number is recorded
	// OrgName, USCC and AgentName are set for a legal person (enterprise)
	// account, created by its first certificate login with an e-cert:
	// the enterprise's name, its unified social credit code, and the name
	// of the agent who logged in last.
	OrgName   string
	USCC      string
	AgentName string
	CreatedAt time.Time
	UpdatedAt time.Time
	Disabled  bool
}

// Users stores citizen accounts in the authn_users table. It is safe for
// concurrent use.
type Users struct {
	db           *store.DB
	pseudonymKey []byte
	now          func() time.Time

	dummyOnce sync.Once
	dummy     string // hash compared against for unknown user names

	// totp seals one-time code secrets; set by the provider (nil in a
	// store made with NewUsers alone, which then cannot enrol one).
	totp *totpBox
}

// NewUsers returns the account store on db. pseudonymKey (copied) keys the
// HMAC-SM3 pseudonyms of personal ID numbers; it may be nil, and then
// accounts with an ID number are refused with ErrNoPseudonymKey. now is the
// clock (nil: time.Now).
func NewUsers(db *store.DB, pseudonymKey []byte, now func() time.Time) *Users {
	if now == nil {
		now = time.Now
	}
	return &Users{db: db, pseudonymKey: append([]byte(nil), pseudonymKey...), now: now}
}

// NormalizeUsername returns the stored form of a user name (lower case).
func NormalizeUsername(s string) string { return strings.ToLower(s) }

func checkUsername(s string) error {
	if s == "" || len(s) > MaxUsernameLength || !utf8.ValidString(s) || hasControl(s) || strings.ContainsAny(s, " \u3000") {
		return invalidUser("username", "want 1 to %d bytes of UTF-8 without spaces or control characters", MaxUsernameLength)
	}
	return nil
}

func checkPasswordPolicy(pw string) error {
	if len(pw) > MaxPasswordLength || !utf8.ValidString(pw) {
		return invalidUser("password", "at most %d bytes of UTF-8", MaxPasswordLength)
	}
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return invalidUser("password", "at least %d characters", MinPasswordLength)
	}
	return nil
}

func checkText(field, s string, limit int) error {
	if len(s) > limit || !utf8.ValidString(s) || hasControl(s) {
		return invalidUser(field, "at most %d bytes of printable UTF-8", limit)
	}
	return nil
}

func checkPhone(s string) error {
	if err := checkText("phone", s, maxPhoneLen); err != nil {
		return err
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9') && r != '+' && r != '-' && r != ' ' {
			return invalidUser("phone", "only digits, '+', '-' and spaces")
		}
	}
	return nil
}

func checkEmail(s string) error {
	if err := checkText("email", s, maxEmailLen); err != nil {
		return err
	}
	if s == "" {
		return nil
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(s, " <>\"") || strings.Contains(domain, "@") {
		return invalidUser("email", "want local@domain")
	}
	return nil
}

// AddUser validates nu and stores it with a new random ID. The password is
// hashed with argon2id (see Argon2Memory); the personal ID number, if any,
// is validated (GB 11643 checksum and birth date) and kept only as its
// pseudonym and last four characters. A taken user name or ID number gives
// an error wrapping ErrUserExists; invalid fields ErrInvalidUser. Errors
// never contain the password or the ID number.
func (u *Users) AddUser(ctx context.Context, nu NewUser) (*User, error) {
	if err := checkUsername(nu.Username); err != nil {
		return nil, err
	}
	if err := checkPasswordPolicy(nu.Password); err != nil {
		return nil, err
	}
	if err := checkText("name", nu.Name, maxNameLen); err != nil {
		return nil, err
	}
	if err := checkEmail(nu.Email); err != nil {
		return nil, err
	}
	if err := checkPhone(nu.Phone); err != nil {
		return nil, err
	}
	for _, f := range nu.Address.fields() {
		if err := checkText("address", f, maxAddressField); err != nil {
			return nil, err
		}
	}
	now := u.now()
	var idHash sql.NullString
	last4 := ""
	if nu.CitizenID != "" {
		if len(u.pseudonymKey) == 0 {
			return nil, ErrNoPseudonymKey
		}
		norm := ident.NormalizeCitizenID(nu.CitizenID)
		if err := ident.ValidateCitizenIDAt(norm, now.In(time.FixedZone("CST", 8*3600))); err != nil {
			return nil, &FieldError{Sentinel: ErrInvalidUser, Field: "id_number", Msg: err.Error()}
		}
		idHash = sql.NullString{String: ident.Pseudonym(u.pseudonymKey, norm), Valid: true}
		last4 = norm[len(norm)-4:]
	}
	hash, err := hashPassword(nu.Password)
	if err != nil {
		return nil, err
	}
	addr, err := json.Marshal(nu.Address)
	if err != nil {
		return nil, fmt.Errorf("authn: encode address: %w", err)
	}
	user := &User{
		ID: newID(), Username: NormalizeUsername(nu.Username), Name: nu.Name,
		Email: nu.Email, EmailVerified: nu.EmailVerified && nu.Email != "",
		Phone: nu.Phone, PhoneVerified: nu.PhoneVerified && nu.Phone != "",
		Address: nu.Address, CitizenIDLast4: last4,
		CreatedAt: time.Unix(0, now.UnixNano()), UpdatedAt: time.Unix(0, now.UnixNano()),
	}
	_, err = u.db.Exec(ctx, `INSERT INTO authn_users (id, username, password_hash, name, email, email_verified,
		phone, phone_verified, address, citizen_id_hash, citizen_id_last4, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		user.ID, user.Username, hash, user.Name, user.Email, boolInt(user.EmailVerified),
		user.Phone, boolInt(user.PhoneVerified), string(addr), idHash, last4, now.UnixNano(), now.UnixNano())
	if store.IsUniqueViolation(err) {
		return nil, fmt.Errorf("%w: user name or personal ID number is taken", ErrUserExists)
	}
	if err != nil {
		return nil, fmt.Errorf("authn: store user: %w", err)
	}
	return user, nil
}

// SetPassword replaces the password of user id, subject to the same policy
// as AddUser. An unknown id gives an error wrapping ErrUserNotFound.
func (u *Users) SetPassword(ctx context.Context, id, password string) error {
	if err := checkPasswordPolicy(password); err != nil {
		return err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	n, err := affected(u.db.Exec(ctx, "UPDATE authn_users SET password_hash = ?, updated_at = ? WHERE id = ?", hash, u.now().UnixNano(), id))
	if err != nil {
		return fmt.Errorf("authn: set password: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: id %s", ErrUserNotFound, quote(id))
	}
	return nil
}

const userColumns = `id, username, name, email, email_verified, phone, phone_verified, address,
	citizen_id_last4, created_at, updated_at, disabled_at, COALESCE(uscc, ''), org_name, agent_name`

func scanUser(row interface{ Scan(...any) error }, extra ...any) (*User, error) {
	var (
		usr                  User
		ev, pv, created, upd int64
		addr                 string
		disabled             sql.NullInt64
	)
	dst := append([]any{&usr.ID, &usr.Username, &usr.Name, &usr.Email, &ev, &usr.Phone, &pv, &addr,
		&usr.CitizenIDLast4, &created, &upd, &disabled, &usr.USCC, &usr.OrgName, &usr.AgentName}, extra...)
	if err := row.Scan(dst...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(addr), &usr.Address); err != nil {
		return nil, fmt.Errorf("authn: stored address of user %s: %w", quote(usr.ID), err)
	}
	usr.EmailVerified, usr.PhoneVerified = ev != 0, pv != 0
	usr.CreatedAt, usr.UpdatedAt = time.Unix(0, created), time.Unix(0, upd)
	usr.Disabled = disabled.Valid
	return &usr, nil
}

func (u *Users) one(ctx context.Context, what, where string, arg any) (*User, error) {
	usr, err := scanUser(u.db.QueryRow(ctx, "SELECT "+userColumns+" FROM authn_users WHERE "+where+" = ?", arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrUserNotFound, what)
	}
	if err != nil {
		return nil, fmt.Errorf("authn: load user: %w", err)
	}
	return usr, nil
}

// citizenIDHash returns the personal ID number pseudonym recorded for
// account id, or "".
func (u *Users) citizenIDHash(ctx context.Context, id string) (string, error) {
	var h sql.NullString
	err := u.db.QueryRow(ctx, "SELECT citizen_id_hash FROM authn_users WHERE id = ?", id).Scan(&h)
	return h.String, err
}

// User returns the account with the given ID, or an error wrapping
// ErrUserNotFound.
func (u *Users) User(ctx context.Context, id string) (*User, error) {
	return u.one(ctx, "id "+quote(id), "id", id)
}

// ByUsername returns the account with the given user name (case-
// insensitive), or an error wrapping ErrUserNotFound.
func (u *Users) ByUsername(ctx context.Context, username string) (*User, error) {
	return u.one(ctx, "user name "+quote(username), "username", NormalizeUsername(username))
}

// ByCitizenID returns the account recorded with the personal ID number id,
// found by its pseudonym, or an error wrapping ErrUserNotFound (which does
// not repeat id). Without a pseudonym key it fails with ErrNoPseudonymKey.
func (u *Users) ByCitizenID(ctx context.Context, id string) (*User, error) {
	if len(u.pseudonymKey) == 0 {
		return nil, ErrNoPseudonymKey
	}
	return u.one(ctx, "personal ID number", "citizen_id_hash", ident.Pseudonym(u.pseudonymKey, ident.NormalizeCitizenID(id)))
}

// verifyPassword returns the enabled account username whose password is
// password. An unknown user name costs the same hash computation as a
// known one. Every mismatch is ErrBadCredentials.
func (u *Users) verifyPassword(ctx context.Context, username, password string) (*User, error) {
	if len(password) > MaxPasswordLength || checkUsername(username) != nil {
		return nil, ErrBadCredentials
	}
	var hash string
	usr, err := scanUser(u.db.QueryRow(ctx, "SELECT "+userColumns+", password_hash FROM authn_users WHERE username = ?",
		NormalizeUsername(username)), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		_, _ = checkPassword(u.dummyHash(), password)
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("authn: load user: %w", err)
	}
	ok, err := checkPassword(hash, password)
	if err != nil {
		return nil, fmt.Errorf("authn: user %s: %w", quote(usr.ID), err)
	}
	if !ok || usr.Disabled {
		return nil, ErrBadCredentials
	}
	return usr, nil
}

func (u *Users) dummyHash() string {
	u.dummyOnce.Do(func() {
		h, err := hashPassword(newSecret())
		if err != nil {
			h = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}
		u.dummy = h
	})
	return u.dummy
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
