package ca

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// Limits on enrolment code lifetimes.
const (
	DefaultCodeTTL = 72 * time.Hour
	MaxCodeTTL     = 30 * 24 * time.Hour
)

// codeEncoding is Crockford-free base32 in lower case: unambiguous to read
// out and type.
var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewCodeRequest is a registration officer's request for an enrolment code.
type NewCodeRequest struct {
	Profile   string
	Subject   Subject
	TTL       time.Duration // default DefaultCodeTTL, at most MaxCodeTTL
	CreatedBy string
	// HardwareKey records the officer's statement that the subscriber's
	// keys for this code are held in hardware: the certificates carry the
	// hardware key-storage policy instead of the software one. Only for
	// profiles with key_storage.
	HardwareKey bool
	// Source is the officer's network address, for the audit log.
	Source string
}

// CreateCode vets req.Subject against the profile and stores a new single-use
// enrolment code bound to both. It returns the code, which is not stored and
// must be handed to the subscriber, and its stored binding.
//
// The code keeps only what its certificate will carry: a full ID number is
// replaced by its pseudonym unless the profile's certificate embeds the
// number itself (citizen with identity_code_extension), which CreateCode
// finds out by rendering the profile both ways. The subject is erased when
// the code is redeemed or, by [Authority.PurgeCodes], once it expires.
func (a *Authority) CreateCode(ctx context.Context, req NewCodeRequest) (string, *Code, error) {
	p, err := a.Profile(req.Profile)
	if err != nil {
		return "", nil, err
	}
	if err := p.IssuableVia(ViaCode); err != nil {
		return "", nil, err
	}
	subj := req.Subject
	if subj.IDPseudonym != "" {
		return "", nil, badField("subject.id_pseudonym", nil, "is computed by the CA: give id_number")
	}
	if err := subj.validate(p); err != nil {
		return "", nil, err
	}
	if err := a.checkNamePolicy(p, &subj, ViaCode); err != nil {
		return "", nil, err
	}
	if subj, err = a.minimise(subj, a.withLogin(p)...); err != nil {
		return "", nil, err
	}
	if req.HardwareKey && !p.KeyStorage {
		return "", nil, badField("hardware_key", nil, "profile %s does not record how the key is held", p.Name)
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = DefaultCodeTTL
	}
	if ttl < time.Minute || ttl > MaxCodeTTL {
		return "", nil, badField("ttl", nil, "must be between 1m and %s", MaxCodeTTL)
	}
	var secret [20]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", nil, err
	}
	code := strings.ToLower(codeEncoding.EncodeToString(secret[:]))
	h := codeHash(code)
	now := a.now().UTC().Truncate(time.Second)
	c := &Code{
		ID:        "enr_" + hex.EncodeToString(h[:6]),
		Hash:      h,
		Profile:   p.Name,
		Subject:   subj,
		CreatedBy: req.CreatedBy,
		CreatedAt: now,
		ExpiresAt: now.Add(ttl),

		HardwareKey: req.HardwareKey,
	}
	if err := a.codes.CreateCode(ctx, c); err != nil {
		return "", nil, err
	}
	reasons := []string{"profile " + p.Name, "expires " + c.ExpiresAt.Format(time.RFC3339)}
	if c.HardwareKey {
		reasons = append(reasons, "key held in hardware")
	}
	if err := a.audit(ctx, AuditEvent{Action: "ca.enrolment-code.create", Actor: req.CreatedBy, Source: req.Source, Resource: "ca:enrolment-code:" + c.ID,
		Outcome: "success", Reasons: reasons}); err != nil {
		return "", nil, fmt.Errorf("ca: enrolment code %s created but not audited: %w", c.ID, err)
	}
	a.log.InfoContext(ctx, "enrolment code created", "code_id", c.ID, "profile", p.Name, "subject", subj.String(), "created_by", req.CreatedBy, "expires_at", c.ExpiresAt)
	return code, c, nil
}

// minimise returns subj without its full ID number when no certificate of
// profiles needs it: rendering each profile from the pseudonym alone gives
// the same certificate contents as rendering it from the number.
func (a *Authority) minimise(subj Subject, profiles ...*Profile) (Subject, error) {
	if subj.IDNumber == "" {
		return subj, nil
	}
	full := a.withPseudonym(subj)
	small := full
	small.IDNumber = ""
	for _, p := range profiles {
		want, err := p.render(full, a.pseudonymKey, a.trustDomain)
		if err != nil {
			return subj, err
		}
		got, err := p.render(small, a.pseudonymKey, a.trustDomain)
		if err != nil || !reflect.DeepEqual(want, got) {
			return subj, nil
		}
	}
	return small, nil
}

// PurgeCodes erases the subject data of enrolment codes that are used or
// expired, and drops the full ID number from unused codes whose
// certificate does not carry it (codes stored by earlier versions). The
// server runs it at start and hourly; redemption erases a code's subject
// at once. It returns how many codes it purged and minimised.
func (a *Authority) PurgeCodes(ctx context.Context) (purged, minimised int, err error) {
	return a.codes.PurgeCodes(ctx, a.now(), func(c *Code) (Subject, bool) {
		p, err := a.Profile(c.Profile)
		if err != nil {
			return Subject{}, false
		}
		small, err := a.minimise(c.Subject, a.withLogin(p)...)
		return small, err == nil && small.IDNumber == ""
	})
}

// withLogin returns p and its login profile, if it has one.
func (a *Authority) withLogin(p *Profile) []*Profile {
	if lp, ok := a.profiles[p.LoginProfile]; ok {
		return []*Profile{p, lp}
	}
	return []*Profile{p}
}

func codeHash(code string) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(code))))
	return h[:]
}

// EnrolRequest is a subscriber's certificate request authorised by an
// enrolment code.
type EnrolRequest struct {
	CSR     []byte // PEM or DER
	Profile string // optional; must match the code's profile when set
	Code    string
	// LoginCSR, when set, asks in the same request for a login
	// certificate (the profile's [Profile.LoginProfile], ECDSA P-256, TLS
	// client authentication) for the same vetted identity, for the key of
	// this CSR.
	LoginCSR []byte
	// Source is the client's network address (host or host:port), recorded
	// in the audit log and used to rate-limit refusals.
	Source string
}

// Enrol issues a certificate for a CSR authorised by a single-use enrolment
// code. The code is checked before any signing and redeemed atomically with
// the recording of the certificate (and of the login certificate, when
// asked for), so of several concurrent requests with one code exactly one
// issues.
//
// Enrol is idempotent for the code's lifetime: the same code with a CSR for
// the same public key (and, if a login certificate was issued, the same
// login key) returns the certificates issued the first time, with
// [Issued.Repeated] set, so a subscriber whose answer was lost can ask
// again. A used code with any other key is refused with 409
// ([ErrCodeUsed]); so is the repeat of an enrolment whose certificate has
// been revoked or suspended since.
//
// Refusals are limited per req.Source (see [Authority.CheckSource] and
// [Authority.RefusedEnrolment]): a source over its budget gets a 429
// [*RateLimitError] before its request is looked at.
func (a *Authority) Enrol(ctx context.Context, req EnrolRequest) (*Issued, error) {
	if err := a.CheckSource(ctx, req.Source); err != nil {
		return nil, err
	}
	iss, err := a.enrol(ctx, req)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			actor := ""
			if len(req.Code) <= 128 && strings.TrimSpace(req.Code) != "" {
				if c, cerr := a.codes.CodeByHash(ctx, codeHash(req.Code)); cerr == nil {
					actor = "code:" + c.ID
				}
			}
			if aerr := a.RefusedEnrolment(ctx, req.Source, actor, re); aerr != nil {
				return nil, errors.Join(err, aerr)
			}
		}
		return nil, err
	}
	return iss, nil
}

func (a *Authority) enrol(ctx context.Context, req EnrolRequest) (*Issued, error) {
	csr, err := ParseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	var loginCSR *smx509.CertificateRequest
	if len(req.LoginCSR) > 0 {
		if loginCSR, err = parseCSR("login_csr", req.LoginCSR); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(req.Code) == "" {
		return nil, &RequestError{Field: "enrolment_code", Status: 401, Msg: "an enrolment code is required"}
	}
	if len(req.Code) > 128 {
		return nil, &RequestError{Field: "enrolment_code", Status: 403, Msg: "unknown enrolment code", Err: ErrNotFound}
	}
	c, err := a.codes.CodeByHash(ctx, codeHash(req.Code))
	if errors.Is(err, ErrNotFound) {
		return nil, &RequestError{Field: "enrolment_code", Status: 403, Msg: "unknown enrolment code", Err: ErrNotFound}
	}
	if err != nil {
		return nil, err
	}
	if !a.now().Before(c.ExpiresAt) {
		return nil, &RequestError{Field: "enrolment_code", Status: 403, Msg: fmt.Sprintf("this enrolment code expired at %s", c.ExpiresAt.Format(time.RFC3339)), Err: ErrCodeExpired}
	}
	if req.Profile != "" && req.Profile != c.Profile {
		if _, err := a.Profile(req.Profile); err != nil {
			return nil, err
		}
		return nil, badField("profile", nil, "the enrolment code is for profile %q, not %q", c.Profile, req.Profile)
	}
	p, err := a.Profile(c.Profile)
	if err != nil {
		return nil, err
	}
	if loginCSR != nil && p.LoginProfile == "" {
		return nil, badField("login_csr", nil, "profile %s has no login certificate", p.Name)
	}
	if !c.UsedAt.IsZero() {
		return a.repeat(ctx, c.Hash, csr, loginCSR, req.Source)
	}
	primary := IssueRequest{PublicKey: csr.PublicKey, Profile: c.Profile, Subject: c.Subject, RequestedBy: "code:" + c.ID,
		Via: ViaCode, HardwareKey: c.HardwareKey, Source: req.Source}
	main, err := a.sign(primary)
	if err != nil {
		return nil, err
	}
	set := []*Issued{main}
	if loginCSR != nil {
		login := primary
		login.PublicKey, login.Profile = loginCSR.PublicKey, p.LoginProfile
		// The officer vetted where the main key is held; the login key is
		// another key, made by the subscriber's software (tongxing ca
		// request makes it in software), so its certificate never claims
		// hardware.
		login.HardwareKey = false
		li, err := a.sign(login)
		if err != nil {
			var re *RequestError
			if errors.As(err, &re) && re.Field == "csr" {
				re.Field = "login_csr"
			}
			return nil, err
		}
		set = append(set, li)
	}
	if err := a.record(ctx, c.ID, set...); err != nil {
		if errors.Is(err, ErrCodeUsed) {
			// Another request with this code won; it may have been this
			// subscriber's own retry.
			return a.repeat(ctx, c.Hash, csr, loginCSR, req.Source)
		}
		return nil, err
	}
	if len(set) > 1 {
		main.Login = set[1]
	}
	return main, nil
}
