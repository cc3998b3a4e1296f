package ca

import (
	"bytes"
	"embed"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tongxing/tongxing/ca/ident"
	"github.com/tongxing/tongxing/kms"
)

//go:embed profiles/*.yaml
var builtinProfiles embed.FS

// BuiltinProfiles returns the profiles shipped with Tongxing.
func BuiltinProfiles() fs.FS {
	sub, err := fs.Sub(builtinProfiles, "profiles")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// Profile is a certificate profile: who may be named, with which keys, for how
// long, and the template that renders the certificate's contents.
type Profile struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Suites      []kms.Suite    `yaml:"suites"`
	Validity    time.Duration  `yaml:"validity"`
	Required    []string       `yaml:"required"`
	Allowed     []string       `yaml:"allowed"`
	Options     map[string]any `yaml:"options"`
	Template    string         `yaml:"template"`
	// Internal marks a profile that only Tongxing issues, to its own keys
	// (the OCSP responder, the timestamp authority): enrolment codes and
	// ACME for it are refused. See [Channel].
	Internal bool `yaml:"internal"`
	// KMCOnly marks a profile that only the KMC issues, for keys it makes
	// and escrows (the e证通 encryption certificate): enrolment codes and
	// ACME for it are refused.
	KMCOnly bool `yaml:"kmc_only"`
	// LoginProfile names the profile of the login certificate a code for
	// this profile can also yield in the same request (ECDSA P-256, TLS
	// client authentication, the same vetted identity). It must allow
	// every subject field this profile allows.
	LoginProfile string `yaml:"login_profile"`
	// Policies are the certificatePolicies OIDs of every certificate of
	// the profile (dotted strings). The built-in profiles carry example
	// OIDs under 1.3.6.1.4.1.32473 (RFC 5612 documentation arc), which a
	// deployment replaces (ca.certificate_policies).
	Policies []string `yaml:"policies"`
	// KeyStorage adds the key-storage policy OID (software, or hardware
	// when the registration officer recorded so) to every certificate of
	// the profile; see [KeyStoragePolicies].
	KeyStorage bool `yaml:"key_storage"`

	policyOIDs []asn1.ObjectIdentifier

	tmpl *template.Template
}

// subjectFields are the field names a profile may require or allow, as they
// appear in JSON enrolment requests.
var subjectFields = []string{"name", "id_number", "organization", "uscc", "department", "service", "dns_names", "ip_addresses"}

// LoadProfiles parses every *.yaml file in fsys. Unknown YAML keys, unknown
// subject fields, unknown suites, bad templates and duplicate names are
// errors.
func LoadProfiles(fsys fs.FS) (map[string]*Profile, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("ca: list profiles: %w", err)
	}
	out := make(map[string]*Profile, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("ca: read profile %s: %w", n, err)
		}
		p, err := ParseProfile(b)
		if err != nil {
			return nil, fmt.Errorf("ca: profile %s: %w", n, err)
		}
		if want := strings.TrimSuffix(path.Base(n), ".yaml"); p.Name != want {
			return nil, fmt.Errorf("ca: profile %s: name %q does not match the file name", n, p.Name)
		}
		if _, dup := out[p.Name]; dup {
			return nil, fmt.Errorf("ca: profile %q defined twice", p.Name)
		}
		out[p.Name] = p
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ca: no profiles found")
	}
	for _, p := range out {
		if err := checkLoginProfile(p, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkLoginProfile checks that p's login profile exists, is issuable with
// the same codes and takes the same subject.
func checkLoginProfile(p *Profile, all map[string]*Profile) error {
	if p.LoginProfile == "" {
		return nil
	}
	lp, ok := all[p.LoginProfile]
	switch {
	case !ok:
		return fmt.Errorf("ca: profile %s: login_profile %q is not a profile", p.Name, p.LoginProfile)
	case lp.LoginProfile != "" || lp.Internal || lp.KMCOnly:
		return fmt.Errorf("ca: profile %s: login_profile %s must be a plain profile (no login profile, not internal or kmc_only)", p.Name, lp.Name)
	}
	for _, f := range p.Allowed {
		if !slices.Contains(lp.Allowed, f) {
			return fmt.Errorf("ca: profile %s: login_profile %s does not take subject field %q", p.Name, lp.Name, f)
		}
	}
	for _, f := range lp.Required {
		if !slices.Contains(p.Required, f) {
			return fmt.Errorf("ca: profile %s: login_profile %s requires subject field %q, which %s does not", p.Name, lp.Name, f, p.Name)
		}
	}
	return nil
}

// ParseProfile parses and validates one YAML profile.
func ParseProfile(b []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if p.Name == "" {
		return nil, fmt.Errorf("missing name")
	}
	if len(p.Suites) == 0 {
		return nil, fmt.Errorf("profile %s: no suites", p.Name)
	}
	for _, s := range p.Suites {
		if err := s.Valid(); err != nil {
			return nil, fmt.Errorf("profile %s: %w", p.Name, err)
		}
	}
	if p.Validity <= 0 {
		return nil, fmt.Errorf("profile %s: validity must be positive", p.Name)
	}
	for _, f := range append(slices.Clone(p.Required), p.Allowed...) {
		if !slices.Contains(subjectFields, f) {
			return nil, fmt.Errorf("profile %s: unknown subject field %q (known: %s)", p.Name, f, strings.Join(subjectFields, ", "))
		}
	}
	for _, f := range p.Required {
		if !slices.Contains(p.Allowed, f) {
			return nil, fmt.Errorf("profile %s: required field %q is not allowed", p.Name, f)
		}
	}
	if p.Internal && p.KMCOnly {
		return nil, fmt.Errorf("profile %s: internal and kmc_only exclude each other", p.Name)
	}
	if err := p.SetPolicies(p.Policies); err != nil {
		return nil, err
	}
	if p.Options == nil {
		p.Options = map[string]any{}
	}
	t, err := template.New(p.Name).Option("missingkey=error").Funcs(templateFuncs(nil, "")).Parse(p.Template)
	if err != nil {
		return nil, fmt.Errorf("profile %s: template: %w", p.Name, err)
	}
	p.tmpl = t
	return &p, nil
}

// SetPolicies replaces the profile's certificatePolicies OIDs (from
// configuration). Each must be a dotted OID, none twice.
func (p *Profile) SetPolicies(oids []string) error {
	parsed := make([]asn1.ObjectIdentifier, 0, len(oids))
	for _, s := range oids {
		oid, err := ParseOID(s)
		if err != nil {
			return fmt.Errorf("profile %s: policies: %w", p.Name, err)
		}
		if slices.ContainsFunc(parsed, oid.Equal) {
			return fmt.Errorf("profile %s: policies: %s given twice", p.Name, s)
		}
		parsed = append(parsed, oid)
	}
	p.Policies, p.policyOIDs = slices.Clone(oids), parsed
	return nil
}

// SetOption overrides one of the profile's options (from configuration).
// Only options the profile declares may be set.
func (p *Profile) SetOption(name string, value any) error {
	if _, ok := p.Options[name]; !ok {
		keys := make([]string, 0, len(p.Options))
		for k := range p.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Errorf("ca: profile %s has no option %q (has: %s)", p.Name, name, strings.Join(keys, ", "))
	}
	if old := p.Options[name]; old != nil && fmt.Sprintf("%T", old) != fmt.Sprintf("%T", value) {
		return fmt.Errorf("ca: profile %s option %q takes a %T, not %T", p.Name, name, old, value)
	}
	p.Options[name] = value
	return nil
}

// Channel is the way a certificate request reaches the CA. Profiles
// restrict which channels may issue them ([Profile.Internal],
// [Profile.KMCOnly]); the name policy of departments applies to the
// subscriber channels ViaCode and ViaACME.
type Channel int

// Channels of [IssueRequest.Via].
const (
	// ViaInternal: Tongxing issues to a key of its own (OCSP responder,
	// TSA, HTTPS server). The zero value: [Authority.Issue] is an
	// in-process call, and only in-process code can choose a channel.
	ViaInternal Channel = iota
	// ViaCode: a subscriber's CSR authorised by an enrolment code.
	ViaCode
	// ViaACME: a department service's ACME order.
	ViaACME
	// ViaKMC: the KMC issues to a key it generated and escrows.
	ViaKMC
)

// phrase is how a refusal names the channel.
func (c Channel) phrase() string {
	switch c {
	case ViaCode:
		return "with an enrolment code"
	case ViaACME:
		return "through ACME"
	case ViaKMC:
		return "by the KMC"
	}
	return "by Tongxing for its own keys"
}

// String names the channel.
func (c Channel) String() string {
	switch c {
	case ViaInternal:
		return "internal"
	case ViaCode:
		return "enrolment code"
	case ViaACME:
		return "ACME"
	case ViaKMC:
		return "KMC"
	}
	return fmt.Sprintf("channel %d", int(c))
}

// subscriber reports whether c carries requests from outside Tongxing.
func (c Channel) subscriber() bool { return c == ViaCode || c == ViaACME }

// IssuableVia checks that the profile may be issued through channel c: an
// [Profile.Internal] profile only ViaInternal, a [Profile.KMCOnly] profile
// only ViaKMC. The error is a 403 [*RequestError] on field "profile"
// wrapping [ErrInternalProfile] or [ErrKMCOnlyProfile].
func (p *Profile) IssuableVia(c Channel) error {
	switch {
	case p.Internal && c != ViaInternal:
		return &RequestError{Field: "profile", Status: http.StatusForbidden, Err: ErrInternalProfile,
			Msg: fmt.Sprintf("profile %s is issued only by Tongxing itself, to its own keys; it cannot be requested %s", p.Name, c.phrase())}
	case p.KMCOnly && c != ViaKMC:
		return &RequestError{Field: "profile", Status: http.StatusForbidden, Err: ErrKMCOnlyProfile,
			Msg: fmt.Sprintf("profile %s is issued only by the KMC, for a key it generates and escrows; it cannot be requested %s (ask for an enterprise-sign code and enrol with the dual request)", p.Name, c.phrase())}
	}
	return nil
}

// Allows reports whether the profile accepts keys of suite s.
func (p *Profile) Allows(s kms.Suite) bool { return slices.Contains(p.Suites, s) }

// templateData is what a profile template sees.
type templateData struct {
	Subject     Subject
	Options     map[string]any
	TrustDomain string
}

func templateFuncs(pseudonymKey []byte, trustDomain string) template.FuncMap {
	return template.FuncMap{
		"toJson": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"first": func(v []string) string {
			if len(v) == 0 {
				return ""
			}
			return v[0]
		},
		"pseudonym": func(id string) (string, error) {
			if id == "" {
				return "", errors.New("pseudonym: no ID number (use .Subject.IDPseudonym, which codes keep when they drop the number)")
			}
			return ident.Pseudonym(pseudonymKey, id), nil
		},
		"identityCode": func(id string) (string, error) {
			ext, err := ident.IdentityCodeExtension(id)
			if err != nil {
				return "", err
			}
			return base64.StdEncoding.EncodeToString(ext.Value), nil
		},
		"usccExtension": func(code string) (string, error) {
			ext, err := ident.USCCExtension(code)
			if err != nil {
				return "", err
			}
			return base64.StdEncoding.EncodeToString(ext.Value), nil
		},
		"spiffe": func(department, service string) string {
			return "spiffe://" + trustDomain + "/dept/" + department + "/svc/" + service
		},
	}
}

// certSubject is the subject a profile template renders.
type certSubject struct {
	CommonName         string   `json:"commonName"`
	SerialNumber       string   `json:"serialNumber"`
	Organization       []string `json:"organization"`
	OrganizationalUnit []string `json:"organizationalUnit"`
	Country            string   `json:"country"`
	Province           string   `json:"province"`
	Locality           string   `json:"locality"`
}

// certSpec is the JSON a profile template renders.
type certSpec struct {
	Subject             certSubject `json:"subject"`
	DNSNames            []string    `json:"dnsNames"`
	IPAddresses         []string    `json:"ipAddresses"`
	URIs                []string    `json:"uris"`
	KeyUsage            []string    `json:"keyUsage"`
	ExtKeyUsage         []string    `json:"extKeyUsage"`
	ExtKeyUsageCritical bool        `json:"extKeyUsageCritical"`
	Extensions          []struct {
		ID       string `json:"id"`
		Critical bool   `json:"critical"`
		Value    []byte `json:"value"` // base64 DER
	} `json:"extensions"`
}

// render executes the profile template for subj.
func (p *Profile) render(subj Subject, pseudonymKey []byte, trustDomain string) (*certSpec, error) {
	t, err := p.tmpl.Clone()
	if err != nil {
		return nil, err
	}
	t.Funcs(templateFuncs(pseudonymKey, trustDomain))
	var buf bytes.Buffer
	if err := t.Execute(&buf, templateData{Subject: subj, Options: p.Options, TrustDomain: trustDomain}); err != nil {
		return nil, fmt.Errorf("ca: profile %s: render: %w", p.Name, err)
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	var spec certSpec
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("ca: profile %s: rendered template is not a certificate description: %w", p.Name, err)
	}
	return &spec, nil
}
