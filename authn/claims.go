package authn

import (
	"slices"
	"strings"
)

// Scopes (OpenID Connect Core 1.0 §5.4).
const (
	ScopeOpenID  = "openid"
	ScopeProfile = "profile"
	ScopeEmail   = "email"
	ScopeAddress = "address"
	ScopePhone   = "phone"
)

// supportedScopes are the scopes the provider knows, in discovery order.
var supportedScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeAddress, ScopePhone}

// supportedClaims lists every claim the provider issues, for discovery.
var supportedClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "sid", "azp",
	"name", "preferred_username", "updated_at", "locale",
	"email", "email_verified",
	"phone_number", "phone_number_verified",
	"address",
	"org_name", "uscc", "agent_name",
}

// userClaims returns the userinfo claims of u allowed by scopes (OpenID
// Connect Core 1.0 §5.4), without "sub". Empty values are left out.
func userClaims(u *User, scopes []string) map[string]any {
	c := map[string]any{}
	if slices.Contains(scopes, ScopeProfile) {
		if u.Name != "" {
			c["name"] = u.Name
		}
		c["preferred_username"] = u.Username
		c["updated_at"] = u.UpdatedAt.Unix()
	}
	if slices.Contains(scopes, ScopeProfile) && u.USCC != "" {
		// A legal person: the enterprise and the agent acting for it.
		c["org_name"] = u.OrgName
		c["uscc"] = u.USCC
		if u.AgentName != "" {
			c["agent_name"] = u.AgentName
		}
	}
	if slices.Contains(scopes, ScopeEmail) && u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, ScopePhone) && u.Phone != "" {
		c["phone_number"] = u.Phone
		c["phone_number_verified"] = u.PhoneVerified
	}
	if slices.Contains(scopes, ScopeAddress) && !u.Address.empty() {
		c["address"] = u.Address
	}
	return c
}

// joinScopes and splitScopes convert between the space-separated scope
// string of the protocol and a list.
func joinScopes(s []string) string { return strings.Join(s, " ") }

func splitScopes(s string) []string { return strings.Fields(s) }
