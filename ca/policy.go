package ca

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/tongxing/tongxing/department"
)

// TongxingDepartment is the department of Tongxing's own service
// certificates (its HTTPS server, its gateway client). Only Tongxing issues
// them, to its own keys; codes and ACME for it are refused.
const TongxingDepartment = "tongxing"

// WithDepartments sets the department registry whose name policy service
// certificates requested with enrolment codes or through ACME must meet:
// the department must be registered, DNS names must lie under its domains
// (wildcards only where it allows them) and IP addresses in its ranges.
// Without it every such request naming a department is refused.
func WithDepartments(r *department.Registry) Option { return func(a *Authority) { a.departments = r } }

// Departments returns the department registry (nil when none is set).
func (a *Authority) Departments() *department.Registry { return a.departments }

// checkNamePolicy applies the department name policy to a subject of
// profile p requested through via. Tongxing's own certificates
// (ViaInternal) and the KMC's are not subject to it. Refusals are 403
// [*RequestError]s naming the field and wrapping the
// [*department.NameError] or [department.ErrUnknown].
func (a *Authority) checkNamePolicy(p *Profile, subj *Subject, via Channel) error {
	if !via.subscriber() || !slices.Contains(p.Allowed, "department") {
		return nil
	}
	if subj.Department == TongxingDepartment {
		return &RequestError{Field: "subject.department", Status: http.StatusForbidden, Err: department.ErrUnknown,
			Msg: fmt.Sprintf("department %q is reserved for Tongxing's own certificates, which it issues itself", TongxingDepartment)}
	}
	if subj.Department == "" {
		return nil // the profile's required fields are checked elsewhere
	}
	ips := make([]net.IP, 0, len(subj.IPAddresses))
	for _, s := range subj.IPAddresses {
		ips = append(ips, net.ParseIP(s))
	}
	err := a.departments.CheckNames(subj.Department, subj.DNSNames, ips)
	var ne *department.NameError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ne):
		field := "subject.dns_names"
		if net.ParseIP(ne.Name) != nil {
			field = "subject.ip_addresses"
		}
		return &RequestError{Field: field, Status: http.StatusForbidden, Err: err, Msg: ne.Error()}
	case errors.Is(err, department.ErrUnknown):
		return &RequestError{Field: "subject.department", Status: http.StatusForbidden, Err: err,
			Msg: fmt.Sprintf("department %q is not in the department registry, so it may not have service certificates (configured: %v)", subj.Department, a.departments.IDs())}
	default:
		return err
	}
}
