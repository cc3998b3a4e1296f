package acmeca

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"regexp"
	"strings"
)

// maxSlug is the longest service slug Tongxing accepts.
const maxSlug = 63

var slugRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ServiceSlug derives the service slug of an ACME certificate from the first
// name of its order: a DNS name or, for orders of IP addresses only, an IP
// address. domains are the department's DNS domains (its name policy, see
// [department.Department]), e.g. "tax.example"; a leading "*." is ignored.
//
//   - A leading "*." is dropped and the name is lower-cased.
//   - When the name lies under one of domains (the longest that matches), that
//     suffix is dropped: "invoice.tax.example" under "tax.example" gives
//     "invoice", "api.invoice.tax.example" gives "api-invoice". A name equal
//     to a domain keeps its first label.
//   - Otherwise the whole name is used: "invoice.tax.example" gives
//     "invoice-tax-example".
//   - Dots become hyphens. A result longer than 63 characters is cut to 54
//     and suffixed with "-" and 8 hex digits of the name's SHA-256.
//   - An IPv4 address gives "ip-10-0-0-1"; an IPv6 address "ip6-" and its 32
//     hex digits.
//
// Distinct names can give one slug ("a-b.c" and "a.b-c" both give "a-b-c"):
// departments that tell services apart by SPIFFE ID should name them so that
// they do not collide.
func ServiceSlug(name string, domains []string) string {
	name = strings.TrimPrefix(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), "."), "*.")
	if ip := net.ParseIP(name); ip != nil {
		if v4 := ip.To4(); v4 != nil {
			return "ip-" + strings.ReplaceAll(v4.String(), ".", "-")
		}
		return "ip6-" + hex.EncodeToString(ip.To16())
	}
	rel, best := name, -1
	for _, d := range domains {
		base := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(d), "*"), ".")
		if base == "" || len(base) <= best {
			continue
		}
		switch {
		case name == base:
			rel, best = strings.SplitN(name, ".", 2)[0], len(base)
		case strings.HasSuffix(name, "."+base):
			rel, best = strings.TrimSuffix(name, "."+base), len(base)
		}
	}
	slug := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, rel)
	slug = strings.Trim(slug, "-")
	if slugRE.MatchString(slug) {
		return slug
	}
	sum := sha256.Sum256([]byte(name))
	if len(slug) > maxSlug-9 {
		slug = strings.TrimRight(slug[:maxSlug-9], "-")
	}
	if slug == "" {
		return "svc-" + hex.EncodeToString(sum[:4])
	}
	return slug + "-" + hex.EncodeToString(sum[:4])
}
