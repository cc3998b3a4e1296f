// Package forwarded finds the real client address of a request that came
// through trusted load balancers, and ignores what anyone else claims.
//
// A [Trust] holds the balancers' addresses (CIDR prefixes). For HTTP
// balancers that terminate TLS it reads RFC 7239 Forwarded ("for=") or, when
// that is absent, X-Forwarded-For, walking the list from the right and
// skipping trusted hops, so a client cannot forge its address by sending the
// header itself ([Trust.Handler]). For TCP balancers that pass TLS through,
// it accepts the PROXY protocol (HAProxy's PROXY protocol v1 and v2, read by
// github.com/pires/go-proxyproto) from trusted peers only: a PROXY header
// from anyone else closes the connection ([Trust.Listener]).
//
// Throttling, rate limits and audit source addresses all read
// http.Request.RemoteAddr, which these rewrite.
package forwarded
