package forwarded

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// Limits on forwarding headers: longer headers and longer chains are read
// only up to these bounds (the rest is treated as client-supplied).
const (
	MaxHeaderLen = 8 << 10
	MaxHops      = 32
)

// Trust is the set of trusted balancers. The zero value and nil trust no one.
// It is safe for concurrent use.
type Trust struct {
	prefixes []netip.Prefix
}

// New returns the trust in the given CIDR prefixes (a bare address means a
// single host).
func New(cidrs []string) (*Trust, error) {
	t := &Trust{}
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, fmt.Errorf("forwarded: trusted proxy %q is not a CIDR prefix or an IP address", c)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("forwarded: trusted proxy %q would trust every address", c)
		}
		t.prefixes = append(t.prefixes, p.Masked())
	}
	return t, nil
}

// Enabled reports whether any balancer is trusted.
func (t *Trust) Enabled() bool { return t != nil && len(t.prefixes) > 0 }

// Trusted reports whether a is a trusted balancer's address.
func (t *Trust) Trusted(a netip.Addr) bool {
	if t == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Listener wraps ln so that connections from trusted balancers may start
// with a PROXY protocol v1 or v2 header, whose source address becomes the
// connection's RemoteAddr; a PROXY header from any other peer fails the
// connection. Without trusted balancers ln is returned unchanged.
func (t *Trust) Listener(ln net.Listener) net.Listener {
	if !t.Enabled() {
		return ln
	}
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: 5 * time.Second,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if a, ok := addrOf(o.Upstream); ok && t.Trusted(a) {
				return proxyproto.USE, nil
			}
			return proxyproto.REJECT, nil
		},
	}
}

// Handler rewrites r.RemoteAddr to the client address named by the
// forwarding headers when the peer is a trusted balancer; it leaves it alone
// for everyone else. Without trusted balancers next is returned unchanged.
func (t *Trust) Handler(next http.Handler) http.Handler {
	if !t.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := t.Client(r); ok {
			r2 := *r
			r2.RemoteAddr = c
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}

// Client returns the client address ("ip:port", port 0 when unknown) that
// the forwarding headers of r name, and whether it differs from
// r.RemoteAddr. Only trusted peers' headers are read: the list is walked
// from the right, each trusted hop handing over to the address before it,
// until an untrusted address (the client) or the end of the list.
func (t *Trust) Client(r *http.Request) (string, bool) {
	peer, ok := addrOf(stringAddr(r.RemoteAddr))
	if !ok || !t.Trusted(peer) {
		return "", false
	}
	hops, ok := ParseForwarded(r.Header.Values("Forwarded"))
	if !ok {
		hops, ok = ParseXForwardedFor(r.Header.Values("X-Forwarded-For"))
	}
	if !ok || len(hops) == 0 {
		return "", false
	}
	client := netip.AddrPortFrom(peer, 0)
	for i := len(hops) - 1; i >= 0; i-- {
		if !t.Trusted(client.Addr()) {
			break
		}
		if !hops[i].IsValid() {
			break // a hop the trusted balancer could not name: keep the balancer
		}
		client = hops[i]
	}
	if client.Addr() == peer {
		return "", false
	}
	return client.String(), true
}

type stringAddr string

func (s stringAddr) Network() string { return "tcp" }
func (s stringAddr) String() string  { return string(s) }

func addrOf(a net.Addr) (netip.Addr, bool) {
	if a == nil {
		return netip.Addr{}, false
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(ta.IP)
		return ip.Unmap(), ok
	}
	s := a.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
