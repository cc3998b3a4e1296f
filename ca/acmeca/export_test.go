package acmeca

import "net/http"

// HoldAccount records account as finalizing an order of department for the
// names, as the handler does for a finalize request; release undoes it.
func (c *CAS) HoldAccount(department string, dnsNames, ips []string, account string) (release func()) {
	return c.hints.hold(hintKey(department, dnsNames, ips), account)
}

// RefuseNewOrder runs the new-order name-policy check on r.
func (s *Server) RefuseNewOrder(w http.ResponseWriter, r *http.Request) bool {
	return s.refuseNewOrder(w, r)
}
