// Package department is Tongxing's registry of government departments: the
// one place that says which departments exist, what they are called (in
// Chinese and English), which DNS names and IP ranges their services may put
// in certificates (the name policy), and where the gateway forwards calls to
// them.
//
// Every other part refers to departments by [Department.ID]: routes of the
// gateway (/gw/{id}/...), service certificates and their SPIFFE IDs
// (spiffe://TRUST-DOMAIN/dept/{id}/svc/{service}, see [SPIFFEID]), ACME
// directories, OIDC clients' departments and target departments.
//
// The name policy follows RFC 5280 §4.2.1.10 semantics for dNSName
// constraints: a permitted domain "tax.example" admits "tax.example" and any
// name below it; a wildcard name ("*.api.tax.example", RFC 6125 §6.4.3) is
// admitted only where the department allows wildcards. IP addresses must lie
// in one of the department's ranges. A department with no domains and no
// ranges may have no names at all.
package department
