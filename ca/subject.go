package ca

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/tongxing/tongxing/ca/ident"
)

// Subject holds the vetted names a certificate is issued for. Which fields a
// profile needs is stated in the profile; the rest must be empty.
type Subject struct {
	Name         string   `json:"name,omitempty"`         // person, agent or signer common name
	IDNumber     string   `json:"id_number,omitempty"`    // GB 11643 resident identity number
	Organization string   `json:"organization,omitempty"` // organisation name
	USCC         string   `json:"uscc,omitempty"`         // GB 32100 unified social credit code
	Department   string   `json:"department,omitempty"`   // department slug, e.g. "tax"
	Service      string   `json:"service,omitempty"`      // service slug, e.g. "invoice-api"
	DNSNames     []string `json:"dns_names,omitempty"`
	IPAddresses  []string `json:"ip_addresses,omitempty"`
	// IDPseudonym is the keyed SM3 pseudonym of IDNumber (64 hex
	// digits). The CA computes it; an enrolment code whose certificate
	// carries only the pseudonym stores it instead of IDNumber. Templates
	// read it as .Subject.IDPseudonym. A registration officer never sets it.
	IDPseudonym string `json:"id_pseudonym,omitempty"`
}

var (
	slugRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	pseudonymRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	dnsRE       = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// present returns the names of the fields that are set.
func (s *Subject) present() []string {
	var f []string
	add := func(name string, set bool) {
		if set {
			f = append(f, name)
		}
	}
	add("name", s.Name != "")
	add("id_number", s.IDNumber != "" || s.IDPseudonym != "")
	add("organization", s.Organization != "")
	add("uscc", s.USCC != "")
	add("department", s.Department != "")
	add("service", s.Service != "")
	add("dns_names", len(s.DNSNames) > 0)
	add("ip_addresses", len(s.IPAddresses) > 0)
	return f
}

// normalize trims and canonicalises the fields in place.
func (s *Subject) normalize() {
	s.Name = strings.TrimSpace(s.Name)
	s.Organization = strings.TrimSpace(s.Organization)
	if s.IDNumber != "" {
		s.IDNumber = ident.NormalizeCitizenID(s.IDNumber)
	}
	if s.USCC != "" {
		s.USCC = ident.NormalizeUSCC(s.USCC)
	}
	for i, d := range s.DNSNames {
		s.DNSNames[i] = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	}
}

// validate checks s against profile p: required fields present, no others,
// and each field well-formed (identity numbers by their check characters).
func (s *Subject) validate(p *Profile) error {
	s.normalize()
	for _, f := range s.present() {
		if !slices.Contains(p.Allowed, f) {
			return badField("subject."+f, nil, "profile %s does not take this field (it takes: %s)", p.Name, strings.Join(p.Allowed, ", "))
		}
	}
	have := s.present()
	for _, f := range p.Required {
		if !slices.Contains(have, f) {
			return badField("subject."+f, nil, "required by profile %s", p.Name)
		}
	}
	if err := checkText("subject.name", s.Name, 64); err != nil {
		return err
	}
	if err := checkText("subject.organization", s.Organization, 128); err != nil {
		return err
	}
	if s.IDNumber != "" {
		if err := ident.ValidateCitizenID(s.IDNumber); err != nil {
			return badField("subject.id_number", err, "%v", err)
		}
	}
	if s.IDNumber == "" && s.IDPseudonym != "" && !pseudonymRE.MatchString(s.IDPseudonym) {
		return badField("subject.id_number", nil, "the stored ID pseudonym is not 64 lower-case hex digits")
	}
	if s.USCC != "" {
		if err := ident.ValidateUSCC(s.USCC); err != nil {
			return badField("subject.uscc", err, "%v", err)
		}
	}
	if s.Department != "" && !slugRE.MatchString(s.Department) {
		return badField("subject.department", nil, "%q is not a slug (lower-case letters, digits and '-', at most 63)", s.Department)
	}
	if s.Service != "" && !slugRE.MatchString(s.Service) {
		return badField("subject.service", nil, "%q is not a slug (lower-case letters, digits and '-', at most 63)", s.Service)
	}
	if len(s.DNSNames) > 32 || len(s.IPAddresses) > 32 {
		return badField("subject.dns_names", nil, "at most 32 DNS names and 32 IP addresses")
	}
	for _, d := range s.DNSNames {
		if len(d) > 253 || !dnsRE.MatchString(d) {
			return badField("subject.dns_names", nil, "%q is not a valid DNS name", d)
		}
	}
	for _, ip := range s.IPAddresses {
		if net.ParseIP(ip) == nil {
			return badField("subject.ip_addresses", nil, "%q is not an IP address", ip)
		}
	}
	return nil
}

// String is a short description of s for logs: it never contains the ID number.
func (s Subject) String() string {
	switch {
	case s.Service != "":
		return fmt.Sprintf("service %s/%s", s.Department, s.Service)
	case s.Organization != "":
		return "organisation " + s.Organization
	default:
		return "person " + s.Name
	}
}

// checkText applies [ident.CheckName] to the value of a request field.
func checkText(field, v string, max int) error {
	err := ident.CheckName(v, max)
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ie *ident.Error
	if errors.As(err, &ie) {
		msg = ie.Reason
	}
	return badField(field, err, "%s", msg)
}
