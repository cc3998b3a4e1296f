package department

import (
	"fmt"
	"net/url"
	"strings"
)

// SPIFFEID returns the SPIFFE ID of a department's service,
// spiffe://TRUST-DOMAIN/dept/DEPARTMENT/svc/SERVICE.
func SPIFFEID(trustDomain, department, service string) string {
	return "spiffe://" + trustDomain + "/dept/" + department + "/svc/" + service
}

// ParseSPIFFEID returns the department and service of a service SPIFFE ID
// in trustDomain. Anything else (another trust domain, another path shape,
// a query or fragment, IDs that are not slugs) is an error.
func ParseSPIFFEID(u *url.URL, trustDomain string) (department, service string, err error) {
	if u == nil || u.Scheme != "spiffe" || u.Host != trustDomain || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", "", fmt.Errorf("department: %q is not a SPIFFE ID in trust domain %q", u, trustDomain)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "dept" || parts[2] != "svc" || !ValidID(parts[1]) || !ValidID(parts[3]) {
		return "", "", fmt.Errorf("department: %q is not of the form spiffe://%s/dept/DEPARTMENT/svc/SERVICE", u, trustDomain)
	}
	return parts[1], parts[3], nil
}
