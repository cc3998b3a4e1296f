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
	if subj, err = a.minimise(subj, p); err != nil {
		return "", nil, err
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
	}
	if err := a.codes.CreateCode(ctx, c); err != nil {
		return "", nil, err
	}
	if err := a.audit(ctx, AuditEvent{Action: "ca.enrolment-code.create", Actor: req.CreatedBy, Resource: "ca:enrolment-code:" + c.ID,
		Outcome: "success", Reasons: []string{"profile " + p.Name, "expires " + c.ExpiresAt.Format(time.RFC3339)}}); err != nil {
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
		small, err := a.minimise(c.Subject, p)
		return small, err == nil && small.IDNumber == ""
	})
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
}

// Enrol issues a certificate for a CSR authorised by a single-use enrolment
// code. The code is checked before any signing and redeemed atomically with
// the recording of the certificate, so of several concurrent requests with
// one code exactly one succeeds.
func (a *Authority) Enrol(ctx context.Context, req EnrolRequest) (*Issued, error) {
	iss, err := a.enrol(ctx, req)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			actor := "subscriber"
			if len(req.Code) <= 128 && strings.TrimSpace(req.Code) != "" {
				if c, cerr := a.codes.CodeByHash(ctx, codeHash(req.Code)); cerr == nil {
					actor = "code:" + c.ID
				}
			}
			if aerr := a.audit(ctx, AuditEvent{Action: "ca.certificate.enrol", Actor: actor, Resource: "ca:enrolment",
				Outcome: "failure", Reasons: []string{re.Error()}}); aerr != nil {
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
	if !c.UsedAt.IsZero() {
		return nil, &RequestError{Field: "enrolment_code", Status: 409, Msg: "this enrolment code has already been used", Err: ErrCodeUsed}
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
	return a.Issue(ctx, IssueRequest{
		PublicKey:   csr.PublicKey,
		Profile:     c.Profile,
		Subject:     c.Subject,
		RequestedBy: "code:" + c.ID,
		RedeemCode:  c.ID,
		Via:         ViaCode,
	})
}
