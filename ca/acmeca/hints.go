package acmeca

import (
	"net"
	"slices"
	"strings"
	"sync"
)

// accountHints tells the CAS which ACME account is finalizing an order.
// step-ca calls the CAS without a context, so the handler records, for the
// duration of each finalize request, the account that owns the order under
// a key made of the department and the order's identifiers; the CAS looks up
// the same key, made from the certificate template step-ca checked against
// the order. A key held by more than one account (two accounts finalizing
// orders for the same names at once) gives no answer rather than a wrong
// one. The record is only a label for the inventory: authorisation is
// step-ca's, which checks that the account owns the order it finalizes.
type accountHints struct {
	mu sync.Mutex
	m  map[string]map[string]int // key -> account ID -> requests in flight
}

func newAccountHints() *accountHints {
	return &accountHints{m: map[string]map[string]int{}}
}

// hold records account under key until release is called.
func (h *accountHints) hold(key, account string) (release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	accts := h.m[key]
	if accts == nil {
		accts = map[string]int{}
		h.m[key] = accts
	}
	accts[account]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		accts := h.m[key]
		if accts[account]--; accts[account] <= 0 {
			delete(accts, account)
		}
		if len(accts) == 0 {
			delete(h.m, key)
		}
	}
}

// account returns the one account holding key, or "".
func (h *accountHints) account(key string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	accts := h.m[key]
	if len(accts) != 1 {
		return ""
	}
	for a := range accts {
		return a
	}
	return ""
}

// hintKey is the key of an order of department for dnsNames and ips, in any
// order and case.
func hintKey(department string, dnsNames, ips []string) string {
	names := make([]string, 0, len(dnsNames)+len(ips))
	for _, d := range dnsNames {
		names = append(names, "dns:"+strings.ToLower(strings.TrimSuffix(d, ".")))
	}
	for _, s := range ips {
		if ip := net.ParseIP(s); ip != nil {
			s = ip.String()
		}
		names = append(names, "ip:"+s)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return department + "\n" + strings.Join(names, "\n")
}
