package ocsp

import "testing"

// BenchmarkCreateResponse measures one signed response with one single
// response (no nonce), i.e. mostly one SM2 or ECDSA signature.
func BenchmarkCreateResponse(b *testing.B) {
	for _, s := range suites {
		p := newTestPKI(b, s)
		data := ResponseData{ProducedAt: p.now, Responses: []SingleResponse{p.single(b, SHA1, Good)}}
		b.Run(s.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CreateResponse(p.responder, p.responderKey, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseResponse measures parsing and verifying one response,
// including the issuer's signature on the delegated responder certificate.
func BenchmarkParseResponse(b *testing.B) {
	for _, s := range suites {
		p := newTestPKI(b, s)
		der := p.response(b, Good, nil)
		b.Run(s.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseResponse(der, p.issuer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseRequest measures parsing an OpenSSL request with a nonce.
func BenchmarkParseRequest(b *testing.B) {
	seeds := requestSeeds(b)
	der := seeds[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(der); err != nil {
			b.Fatal(err)
		}
	}
}
