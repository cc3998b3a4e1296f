package department

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Department is one department known to Tongxing.
type Department struct {
	// ID is a slug (lower-case letters, digits and '-', at most 63), e.g.
	// "tax". It appears in URLs, certificates and audit entries.
	ID string `yaml:"id" json:"id"`
	// Name is the Chinese name shown to people, e.g. "税务局". Required.
	Name string `yaml:"name" json:"name"`
	// NameEN is the English name. Default: the ID.
	NameEN string `yaml:"name_en" json:"name_en"`
	// Domains are the DNS domains the department's services may use in
	// certificates: each admits itself and every name below it.
	Domains []string `yaml:"domains" json:"domains,omitempty"`
	// IPRanges are CIDR prefixes the department's services may use as IP
	// addresses in certificates.
	IPRanges []string `yaml:"ip_ranges" json:"ip_ranges,omitempty"`
	// Wildcards allows wildcard DNS names ("*.x") under Domains. Default false.
	Wildcards bool `yaml:"wildcards" json:"wildcards,omitempty"`
	// Upstream is the https base URL of the department's API, where the
	// gateway forwards calls made to /gw/{ID}/. Empty: the department takes
	// no calls through the gateway.
	Upstream string `yaml:"upstream" json:"upstream,omitempty"`

	prefixes []netip.Prefix
}

// Errors returned (wrapped) by this package.
var (
	// ErrUnknown means no department has the requested ID.
	ErrUnknown = errors.New("department: unknown department")
	// ErrInvalid means a department's configuration is not valid.
	ErrInvalid = errors.New("department: invalid configuration")
)

// NameError is a name refused by a department's name policy.
type NameError struct {
	Department string // department ID
	Name       string // the refused DNS name or IP address
	Reason     string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("name policy of department %s: %q %s", e.Department, e.Name, e.Reason)
}

var (
	slugRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// ValidID reports whether id is a well-formed department ID.
func ValidID(id string) bool { return slugRE.MatchString(id) }

// validate checks d and fills in its defaults.
func (d *Department) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: department %q: %s", ErrInvalid, d.ID, fmt.Sprintf(format, args...))
	}
	if !ValidID(d.ID) {
		return bad("id must be a slug (lower-case letters, digits and '-', at most 63)")
	}
	if err := checkText(d.Name, 128); err != nil {
		return bad("name: %v", err)
	}
	if d.Name == "" {
		return bad("name (Chinese) is required")
	}
	if d.NameEN == "" {
		d.NameEN = d.ID
	}
	if err := checkText(d.NameEN, 128); err != nil {
		return bad("name_en: %v", err)
	}
	for i, dom := range d.Domains {
		dom = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(dom), "."))
		if err := checkDomain(dom); err != nil {
			return bad("domains: %q: %v", d.Domains[i], err)
		}
		d.Domains[i] = dom
	}
	d.prefixes = d.prefixes[:0]
	for _, r := range d.IPRanges {
		p, err := netip.ParsePrefix(strings.TrimSpace(r))
		if err != nil {
			return bad("ip_ranges: %q is not a CIDR prefix", r)
		}
		if p.Bits() == 0 {
			return bad("ip_ranges: %q admits every address", r)
		}
		d.prefixes = append(d.prefixes, p.Masked())
	}
	if d.Upstream != "" {
		u, err := url.Parse(d.Upstream)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return bad("upstream %q is not an https URL without query, fragment or user information", d.Upstream)
		}
	}
	return nil
}

// checkDomain accepts a lower-case DNS domain of at least two labels.
func checkDomain(dom string) error {
	if dom == "" || len(dom) > 253 {
		return errors.New("not a DNS domain")
	}
	labels := strings.Split(dom, ".")
	if len(labels) < 2 {
		return errors.New("a single label would admit a whole top-level domain")
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return errors.New("not a DNS domain (letters, digits and '-' per label)")
		}
	}
	return nil
}

// checkText refuses invalid UTF-8, control, bidi and zero-width characters.
func checkText(s string, max int) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if utf8.RuneCountInString(s) > max {
		return fmt.Errorf("longer than %d characters", max)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("contains the invisible or control character U+%04X", r)
		}
	}
	return nil
}

// PermitsDNS checks one DNS name (lower case, no trailing dot) against the
// department's name policy.
func (d *Department) PermitsDNS(name string) error {
	base, wildcard := strings.CutPrefix(name, "*.")
	if wildcard && !d.Wildcards {
		return &NameError{Department: d.ID, Name: name, Reason: "is a wildcard, and the department may not use wildcards"}
	}
	for _, dom := range d.Domains {
		if base == dom || strings.HasSuffix(base, "."+dom) {
			return nil
		}
	}
	if len(d.Domains) == 0 {
		return &NameError{Department: d.ID, Name: name, Reason: "is refused: the department has no permitted domains"}
	}
	return &NameError{Department: d.ID, Name: name, Reason: "is not under the department's domains (" + strings.Join(d.Domains, ", ") + ")"}
}

// PermitsIP checks one IP address against the department's name policy.
func (d *Department) PermitsIP(ip net.IP) error {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return &NameError{Department: d.ID, Name: ip.String(), Reason: "is not an IP address"}
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsMulticast() {
		return &NameError{Department: d.ID, Name: a.String(), Reason: "is not a host address"}
	}
	for _, p := range d.prefixes {
		if p.Contains(a) {
			return nil
		}
	}
	if len(d.IPRanges) == 0 {
		return &NameError{Department: d.ID, Name: a.String(), Reason: "is refused: the department has no permitted IP ranges"}
	}
	return &NameError{Department: d.ID, Name: a.String(), Reason: "is not in the department's IP ranges (" + strings.Join(d.IPRanges, ", ") + ")"}
}

// Registry is the set of configured departments. It is immutable after
// [New] and safe for concurrent use.
type Registry struct {
	list []*Department
	byID map[string]*Department
}

// New validates deps and returns their registry. IDs must be unique.
func New(deps ...Department) (*Registry, error) {
	r := &Registry{byID: make(map[string]*Department, len(deps))}
	for _, d := range deps {
		d.Domains = slices.Clone(d.Domains)
		d.IPRanges = slices.Clone(d.IPRanges)
		if err := d.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.byID[d.ID]; dup {
			return nil, fmt.Errorf("%w: department %q is listed twice", ErrInvalid, d.ID)
		}
		dd := d
		r.byID[d.ID] = &dd
		r.list = append(r.list, &dd)
	}
	return r, nil
}

// Lookup returns the department with id, or an error wrapping [ErrUnknown].
func (r *Registry) Lookup(id string) (*Department, error) {
	if r != nil {
		if d, ok := r.byID[id]; ok {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w %q (configured: %s)", ErrUnknown, id, strings.Join(r.IDs(), ", "))
}

// IDs returns the department IDs in configuration order.
func (r *Registry) IDs() []string {
	if r == nil {
		return nil
	}
	out := make([]string, len(r.list))
	for i, d := range r.list {
		out[i] = d.ID
	}
	return out
}

// All returns copies of the departments in configuration order.
func (r *Registry) All() []Department {
	if r == nil {
		return nil
	}
	out := make([]Department, len(r.list))
	for i, d := range r.list {
		out[i] = *d
		out[i].Domains = slices.Clone(d.Domains)
		out[i].IPRanges = slices.Clone(d.IPRanges)
	}
	return out
}

// CheckNames checks DNS names and IP addresses a certificate for a service
// of department id would carry against that department's name policy. The
// error is an [*NameError] or wraps [ErrUnknown].
func (r *Registry) CheckNames(id string, dnsNames []string, ips []net.IP) error {
	d, err := r.Lookup(id)
	if err != nil {
		return err
	}
	for _, n := range dnsNames {
		if err := d.PermitsDNS(n); err != nil {
			return err
		}
	}
	for _, ip := range ips {
		if err := d.PermitsIP(ip); err != nil {
			return err
		}
	}
	return nil
}

// Examples returns four example departments, with domains under .example
// (RFC 2606) and no upstreams: public security (公安), human resources and
// social security (人社), tax (税务) and market regulation (市场监管). The
// development start writes them into the data directory's configuration so
// that a first tour works; a deployment replaces them.
func Examples() []Department {
	return []Department{
		{ID: "gongan", Name: "公安局", NameEN: "Public Security Bureau", Domains: []string{"gongan.example"}},
		{ID: "renshe", Name: "人力资源和社会保障局", NameEN: "Human Resources and Social Security Bureau", Domains: []string{"renshe.example"}},
		{ID: "tax", Name: "税务局", NameEN: "Tax Bureau", Domains: []string{"tax.example"}},
		{ID: "scjg", Name: "市场监督管理局", NameEN: "Market Regulation Administration", Domains: []string{"scjg.example"}},
	}
}
