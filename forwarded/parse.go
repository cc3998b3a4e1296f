package forwarded

import (
	"net/netip"
	"strconv"
	"strings"
)

// ParseXForwardedFor parses X-Forwarded-For header values (comma-separated
// addresses, client first, optionally with ports) into hops. An entry that
// is not an address becomes the zero AddrPort. ok is false when there is no
// header or it is longer than MaxHeaderLen; at most the last MaxHops
// entries are returned.
func ParseXForwardedFor(values []string) (hops []netip.AddrPort, ok bool) {
	joined, ok := join(values)
	if !ok {
		return nil, false
	}
	for _, e := range strings.Split(joined, ",") {
		hops = append(hops, parseNode(strings.TrimSpace(e)))
	}
	return lastHops(hops), true
}

// ParseForwarded parses RFC 7239 Forwarded header values into the "for"
// hops, client first. A forwarded-element without a usable "for" (absent,
// "unknown", an obfuscated identifier) becomes the zero AddrPort. ok is
// false when there is no header, it is longer than MaxHeaderLen, or it is
// not well-formed.
func ParseForwarded(values []string) (hops []netip.AddrPort, ok bool) {
	joined, ok := join(values)
	if !ok {
		return nil, false
	}
	for _, elem := range splitQuoted(joined, ',') {
		var hop netip.AddrPort
		for _, pair := range splitQuoted(elem, ';') {
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			k, v, found := strings.Cut(pair, "=")
			if !found || k == "" {
				return nil, false
			}
			if strings.HasPrefix(v, `"`) {
				u, err := strconv.Unquote(v)
				if err != nil {
					return nil, false
				}
				v = u
			}
			if strings.EqualFold(strings.TrimSpace(k), "for") {
				hop = parseNode(v)
			}
		}
		hops = append(hops, hop)
	}
	return lastHops(hops), true
}

func join(values []string) (string, bool) {
	if len(values) == 0 {
		return "", false
	}
	n := 0
	for _, v := range values {
		n += len(v) + 1
	}
	if n > MaxHeaderLen {
		return "", false
	}
	joined := strings.TrimSpace(strings.Join(values, ","))
	return joined, joined != ""
}

func lastHops(h []netip.AddrPort) []netip.AddrPort {
	if len(h) > MaxHops {
		return h[len(h)-MaxHops:]
	}
	return h
}

// parseNode reads "ip", "ip:port", "[v6]" or "[v6]:port".
func parseNode(s string) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a.Unmap(), 0)
	}
	return netip.AddrPort{}
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
