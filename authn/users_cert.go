package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/store"
)

// certAccount returns the account a verified certificate logs in to,
// creating it on first login: a citizen is found by the pseudonym of the
// identity number (the certificate's subject serialNumber, which
// Tongxing's CA computes with the same pseudonym key, or the pseudonym of
// its GM/T 0015 identity code), so a citizen who registered with an ID
// number gets the same account; an enterprise (legal person) is keyed by
// its unified social credit code, and its name and the agent's name are
// updated on every login.
func (u *Users) certAccount(ctx context.Context, id *certlogin.Identity) (*User, error) {
	switch id.Kind {
	case certlogin.KindCitizen:
		pseudo := id.Pseudonym
		if pseudo == "" && id.IdentityCode != "" && len(u.pseudonymKey) > 0 {
			pseudo = ident.Pseudonym(u.pseudonymKey, ident.NormalizeCitizenID(id.IdentityCode))
		}
		if pseudo == "" || len(pseudo) > 256 {
			return nil, fmt.Errorf("%w: citizen certificate %s carries no usable pseudonym", ErrCertAccount, id.Serial)
		}
		return u.findOrCreate(ctx, "citizen_id_hash", pseudo, func() (*User, []any) {
			usr := &User{Username: "c-" + strings.ToLower(newID()), Name: truncateText(id.CommonName, maxNameLen)}
			return usr, []any{pseudo, nil}
		})
	case certlogin.KindEnterprise:
		if id.USCC == "" {
			return nil, fmt.Errorf("%w: enterprise certificate %s has no credit code", ErrCertAccount, id.Serial)
		}
		org, agent := truncateText(id.OrgName, maxNameLen), truncateText(id.AgentName, maxNameLen)
		usr, err := u.findOrCreate(ctx, "uscc", id.USCC, func() (*User, []any) {
			n := &User{Username: "e-" + strings.ToLower(id.USCC), Name: org, OrgName: org, AgentName: agent, USCC: id.USCC}
			return n, []any{nil, id.USCC}
		})
		if err != nil {
			return nil, err
		}
		if usr.OrgName != org || usr.AgentName != agent {
			now := u.now()
			if _, err := u.db.Exec(ctx, "UPDATE authn_users SET org_name = ?, agent_name = ?, updated_at = ? WHERE id = ?",
				org, agent, now.UnixNano(), usr.ID); err != nil {
				return nil, fmt.Errorf("authn: update enterprise account %s: %w", quote(usr.ID), err)
			}
			usr.OrgName, usr.AgentName, usr.UpdatedAt = org, agent, time.Unix(0, now.UnixNano())
		}
		return usr, nil
	}
	return nil, fmt.Errorf("%w: certificate %s identifies neither a citizen nor an enterprise", ErrCertAccount, id.Serial)
}

// findOrCreate returns the account whose column col is val, creating the
// one made by mk (with citizen_id_hash and uscc values) if there is none.
// The new account's password is a random secret nobody knows.
func (u *Users) findOrCreate(ctx context.Context, col, val string, mk func() (*User, []any)) (*User, error) {
	for range 2 {
		usr, err := u.one(ctx, col, col, val)
		if err == nil {
			if usr.Disabled {
				return nil, fmt.Errorf("%w: account %s is disabled", ErrCertAccount, quote(usr.ID))
			}
			return usr, nil
		}
		if !errors.Is(err, ErrUserNotFound) {
			return nil, err
		}
		n, keys := mk()
		hash, err := hashPassword(newSecret())
		if err != nil {
			return nil, err
		}
		now := u.now()
		n.ID, n.CreatedAt, n.UpdatedAt = newID(), time.Unix(0, now.UnixNano()), time.Unix(0, now.UnixNano())
		_, err = u.db.Exec(ctx, `INSERT INTO authn_users (id, username, password_hash, name, email, email_verified,
			phone, phone_verified, address, citizen_id_hash, citizen_id_last4, created_at, updated_at, uscc, org_name, agent_name)
			VALUES (?, ?, ?, ?, '', 0, '', 0, '{}', ?, '', ?, ?, ?, ?, ?)`,
			n.ID, n.Username, hash, n.Name, keys[0], now.UnixNano(), now.UnixNano(), keys[1], n.OrgName, n.AgentName)
		if store.IsUniqueViolation(err) {
			continue // created meanwhile by a concurrent first login
		}
		if err != nil {
			return nil, fmt.Errorf("authn: create account for certificate login: %w", err)
		}
		return n, nil
	}
	return nil, fmt.Errorf("authn: account for certificate login: concurrent creation did not settle")
}

// truncateText shortens s to at most n bytes on a rune boundary and drops
// control characters.
func truncateText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	for len(s) > n {
		_, size := lastRune(s)
		s = s[:len(s)-size]
	}
	return s
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return rune(s[i]), len(s) - i
		}
	}
	return 0, 1
}
