package forwarded

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
)

func TestClient(t *testing.T) {
	trust, err := New([]string{"10.0.0.0/8", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		peer   string
		header map[string][]string
		want   string // "" = RemoteAddr unchanged
	}{
		{"ok/untrusted peer keeps its address", "198.51.100.7:4000", map[string][]string{"X-Forwarded-For": {"203.0.113.5"}}, ""},
		{"ok/trusted peer without header", "10.1.1.1:4000", nil, ""},
		{"ok/one balancer", "10.1.1.1:4000", map[string][]string{"X-Forwarded-For": {"203.0.113.5"}}, "203.0.113.5:0"},
		{"ok/client-supplied entry on the left is not believed", "10.1.1.1:4000", map[string][]string{"X-Forwarded-For": {"1.2.3.4, 203.0.113.5"}}, "203.0.113.5:0"},
		{"ok/two balancers", "127.0.0.1:4000", map[string][]string{"X-Forwarded-For": {"203.0.113.5, 10.0.0.2"}}, "203.0.113.5:0"},
		{"ok/several header lines", "10.1.1.1:4000", map[string][]string{"X-Forwarded-For": {"1.2.3.4", "203.0.113.5:8080"}}, "203.0.113.5:8080"},
		{"ok/loopback client of loopback balancer", "127.0.0.1:4000", map[string][]string{"X-Forwarded-For": {"127.0.0.2"}}, "127.0.0.2:0"},
		{"ok/forwarded v6 with port", "[::1]:4000", map[string][]string{"Forwarded": {`for="[2001:db8::17]:4711";proto=https`}}, "[2001:db8::17]:4711"},
		{"ok/forwarded preferred over xff", "10.1.1.1:4000", map[string][]string{"Forwarded": {"for=192.0.2.60;by=10.1.1.1"}, "X-Forwarded-For": {"203.0.113.5"}}, "192.0.2.60:0"},
		{"ok/forwarded chain", "10.1.1.1:4000", map[string][]string{"Forwarded": {"for=1.2.3.4, for=192.0.2.60"}}, "192.0.2.60:0"},
		{"ok/malformed forwarded falls back to xff", "10.1.1.1:4000", map[string][]string{"Forwarded": {`for="unterminated`}, "X-Forwarded-For": {"203.0.113.5"}}, "203.0.113.5:0"},
		{"ok/unknown for keeps the balancer", "10.1.1.1:4000", map[string][]string{"Forwarded": {"for=unknown"}}, ""},
		{"ok/garbage xff keeps the balancer", "10.1.1.1:4000", map[string][]string{"X-Forwarded-For": {"not-an-ip"}}, ""},
		{"ok/garbage behind a good hop", "10.1.1.1:4000", map[string][]string{"X-Forwarded-For": {"junk, 203.0.113.5"}}, "203.0.113.5:0"},
		{"ok/oversized header ignored", "10.1.1.1:4000", map[string][]string{"X-Forwarded-For": {strings.Repeat("1.2.3.4, ", 2000) + "203.0.113.5"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for k, vs := range tt.header {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			var seen string
			trust.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr })).ServeHTTP(httptest.NewRecorder(), r)
			want := tt.want
			if want == "" {
				want = tt.peer
			}
			if seen != want {
				t.Fatalf("RemoteAddr = %q, want %q", seen, want)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	for _, bad := range []string{"0.0.0.0/0", "::/0", "10.0.0.0/33", "host.example"} {
		if _, err := New([]string{bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	var none *Trust
	if none.Enabled() || none.Trusted(mustAddr("127.0.0.1")) {
		t.Fatal("nil Trust trusts someone")
	}
	h := http.NotFoundHandler()
	empty, _ := New(nil)
	if got := empty.Handler(h); got == nil {
		t.Fatal("Handler returned nil")
	}
}

// TestListener sends PROXY v1 and v2 headers over real TCP connections:
// believed from a trusted peer, refused from any other.
func TestListener(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		version byte
		want    string // "" = the connection must fail
	}{
		{"ok/v1 from trusted", "127.0.0.1", 1, "192.0.2.9:5555"},
		{"ok/v2 from trusted", "127.0.0.0/8", 2, "192.0.2.9:5555"},
		{"fail/v1 from untrusted", "10.0.0.0/8", 1, ""},
		{"fail/v2 from untrusted", "10.0.0.0/8", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trust, err := New([]string{tt.trusted})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := trust.Listener(raw)
			defer ln.Close()
			type result struct {
				addr, line string
				err        error
			}
			done := make(chan result, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- result{err: err}
					return
				}
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				done <- result{addr: c.RemoteAddr().String(), line: line, err: err}
			}()
			c, err := net.Dial("tcp", raw.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			h := &proxyproto.Header{Version: tt.version, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
				SourceAddr:      &net.TCPAddr{IP: net.ParseIP("192.0.2.9"), Port: 5555},
				DestinationAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 443}}
			if _, err := h.WriteTo(c); err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "hello\n")
			res := <-done
			if tt.want == "" {
				if res.err == nil {
					t.Fatalf("connection from an untrusted peer with a PROXY header read %q as %s", res.line, res.addr)
				}
				return
			}
			if res.err != nil || res.addr != tt.want || res.line != "hello\n" {
				t.Fatalf("got %q from %s (%v), want hello from %s", res.line, res.addr, res.err, tt.want)
			}
		})
	}
}

func TestListenerDisabled(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var none *Trust
	if none.Listener(raw) != raw {
		t.Fatal("a Trust without balancers wrapped the listener")
	}
}

func FuzzParseForwarded(f *testing.F) {
	for _, s := range []string{`for=192.0.2.60;proto=http;by=203.0.113.43`, `for="[2001:db8:cafe::17]:4711"`, `for=unknown, for=_hidden`, `for="a\"b"`, `;;,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hops, ok := ParseForwarded([]string{s})
		if len(hops) > MaxHops || (!ok && hops != nil) {
			t.Fatalf("ParseForwarded(%q) = %d hops, ok %v", s, len(hops), ok)
		}
		for _, h := range hops {
			if h.IsValid() && h.Addr().Is4In6() {
				t.Fatalf("unmapped address expected, got %s", h)
			}
		}
	})
}

func FuzzParseXForwardedFor(f *testing.F) {
	for _, s := range []string{"203.0.113.5", "1.2.3.4, 10.0.0.1:80", "[::1]:80,junk", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hops, ok := ParseXForwardedFor([]string{s})
		if len(hops) > MaxHops || (!ok && hops != nil) {
			t.Fatalf("ParseXForwardedFor(%q) = %d hops, ok %v", s, len(hops), ok)
		}
	})
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
