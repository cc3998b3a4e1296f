package server

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/tongxing/tongxing/department"
)

// migrateACMEAllowedNames turns the deprecated acme.allowed_names into the
// name policy of the departments it names, which codes and ACME share: an
// IP address or CIDR range extends the department's ip_ranges, "*.DOMAIN"
// its domains with wildcards allowed, any other name its domains (which
// admit the name and every name below it). A department named there that is
// not in departments is an error naming it. Each migrated department adds a
// deprecation warning (see [Config.Deprecations]); allowed_names is then
// emptied, so `config print` shows the migrated form.
func (c *Config) migrateACMEAllowedNames() error {
	if len(c.ACME.AllowedNames) == 0 {
		return nil
	}
	depts := make([]string, 0, len(c.ACME.AllowedNames))
	for d := range c.ACME.AllowedNames {
		depts = append(depts, d)
	}
	sort.Strings(depts)
	for _, id := range depts {
		i := slices.IndexFunc(c.Departments, func(d department.Department) bool { return d.ID == id })
		if i < 0 {
			return fmt.Errorf("config: acme.allowed_names names department %q, which is not in departments (configured: %s)", id, strings.Join(c.departmentIDs(), ", "))
		}
		d := &c.Departments[i]
		d.Domains, d.IPRanges = slices.Clone(d.Domains), slices.Clone(d.IPRanges)
		for _, n := range c.ACME.AllowedNames[id] {
			n = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
			if p, err := netip.ParsePrefix(n); err == nil {
				addOnce(&d.IPRanges, p.Masked().String())
				continue
			}
			if a, err := netip.ParseAddr(n); err == nil {
				addOnce(&d.IPRanges, netip.PrefixFrom(a, a.BitLen()).String())
				continue
			}
			if base, ok := strings.CutPrefix(n, "*."); ok {
				addOnce(&d.Domains, base)
				d.Wildcards = true
				continue
			}
			addOnce(&d.Domains, n)
		}
		c.deprecations = append(c.deprecations, fmt.Sprintf(
			"acme.allowed_names is deprecated and was migrated: department %s now permits domains [%s], IP ranges [%s], wildcards %v, for enrolment codes and ACME alike (a domain admits every name below it); move this into departments and remove acme.allowed_names",
			id, strings.Join(d.Domains, ", "), strings.Join(d.IPRanges, ", "), d.Wildcards))
	}
	c.ACME.AllowedNames = nil
	return nil
}

// checkACMEDepartments checks that every ACME department is in the registry.
func (c *Config) checkACMEDepartments() error {
	for _, id := range c.ACME.Departments {
		if !slices.ContainsFunc(c.Departments, func(d department.Department) bool { return d.ID == id }) {
			return fmt.Errorf("config: acme.departments names department %q, which is not in departments (configured: %s)", id, strings.Join(c.departmentIDs(), ", "))
		}
	}
	return nil
}

func (c *Config) departmentIDs() []string {
	ids := make([]string, 0, len(c.Departments))
	for _, d := range c.Departments {
		ids = append(ids, d.ID)
	}
	return ids
}

func addOnce(list *[]string, v string) {
	if !slices.Contains(*list, v) {
		*list = append(*list, v)
	}
}

// Deprecations returns warnings about deprecated configuration that
// [Config.Resolve] migrated; the server logs them at start.
func (c *Config) Deprecations() []string { return slices.Clone(c.deprecations) }
