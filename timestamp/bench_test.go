package timestamp_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
)

// Token rates are compared with raw signing by the same keys in the same
// run: BenchmarkTimestamp/gm against BenchmarkRawSign/sm2 and
// BenchmarkTimestamp/intl against BenchmarkRawSign/ecdsa-p256.
//
//	go test -run '^$' -bench 'Timestamp|RawSign|Respond|Verify' ./timestamp/

func BenchmarkTimestamp(b *testing.B) {
	a := newAuthority(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		alg  timestamp.HashAlgorithm
	}{{"gm", timestamp.SM3}, {"intl", timestamp.SHA256}} {
		digest := bc.alg.Sum([]byte("benchmark"))
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Timestamp(ctx, digest, bc.alg, timestamp.TokenOptions{CertReq: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.Timestamp(ctx, digest, bc.alg, timestamp.TokenOptions{CertReq: true}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRawSign signs a 250-byte message, the size of a token's signed
// attributes: SM2 with Z_A and SM3 as the token does, ECDSA over SHA-256.
func BenchmarkRawSign(b *testing.B) {
	p := pkis(b)
	msg := make([]byte, 250)
	b.Run("sm2", func(b *testing.B) {
		key := p[kms.GM].LeafKey
		for b.Loop() {
			if _, err := key.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ecdsa-p256", func(b *testing.B) {
		key := p[kms.Intl].LeafKey
		for b.Loop() {
			d := sha256.Sum256(msg)
			if _, err := key.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTokenVsRawSign interleaves one raw signature and one token per
// iteration, so that load from other processes hits both alike, and
// reports token-rate/raw-rate as "rate-ratio" (1.0: tokens cost no more
// than the signature inside them).
func BenchmarkTokenVsRawSign(b *testing.B) {
	a := newAuthority(b)
	p := pkis(b)
	ctx := context.Background()
	msg := make([]byte, 250)
	for _, bc := range []struct {
		name string
		alg  timestamp.HashAlgorithm
		raw  func() error
	}{
		{"gm-vs-sm2", timestamp.SM3, func() error {
			_, err := p[kms.GM].LeafKey.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
			return err
		}},
		{"intl-vs-ecdsa-p256", timestamp.SHA256, func() error {
			d := sha256.Sum256(msg)
			_, err := p[kms.Intl].LeafKey.Sign(rand.Reader, d[:], crypto.SHA256)
			return err
		}},
	} {
		digest := bc.alg.Sum([]byte("benchmark"))
		b.Run(bc.name, func(b *testing.B) {
			var rawNs, tokNs time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := bc.raw(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := a.Timestamp(ctx, digest, bc.alg, timestamp.TokenOptions{CertReq: true}); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				rawNs += t1.Sub(t0)
				tokNs += t2.Sub(t1)
			}
			b.ReportMetric(float64(rawNs.Nanoseconds())/float64(b.N), "raw-ns/op")
			b.ReportMetric(float64(tokNs.Nanoseconds())/float64(b.N), "token-ns/op")
			b.ReportMetric(float64(rawNs)/float64(tokNs), "rate-ratio")
		})
	}
}

// BenchmarkRespond is the HTTP path without HTTP: DER query in, DER reply out.
func BenchmarkRespond(b *testing.B) {
	a := newAuthority(b)
	ctx := context.Background()
	for _, alg := range []timestamp.HashAlgorithm{timestamp.SM3, timestamp.SHA256} {
		r, err := timestamp.NewRequest(alg.Sum([]byte("x")), alg)
		if err != nil {
			b.Fatal(err)
		}
		q := mustMarshal(b, r)
		b.Run(string(alg.Suite()), func(b *testing.B) {
			for b.Loop() {
				if _, err := a.Respond(ctx, q).Marshal(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	a := newAuthority(b)
	data := []byte("verify me")
	for _, alg := range []timestamp.HashAlgorithm{timestamp.SM3, timestamp.SHA256} {
		tok := mustTimestamp(b, a, data, alg, timestamp.TokenOptions{CertReq: true})
		rs := roots(b, alg.Suite())
		b.Run(string(alg.Suite()), func(b *testing.B) {
			for b.Loop() {
				if _, err := timestamp.Verify(tok.Raw, data, rs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHTTP is POST /tsa over loopback HTTP (no TLS), parallel clients,
// next to the in-process path in the same run:
//
//	go test -run '^$' -bench BenchmarkHTTP -benchtime 2s ./timestamp/
func BenchmarkHTTP(b *testing.B) {
	a := newAuthority(b)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	for _, alg := range []timestamp.HashAlgorithm{timestamp.SM3, timestamp.SHA256} {
		r, err := timestamp.NewRequest(alg.Sum([]byte("x")), alg)
		if err != nil {
			b.Fatal(err)
		}
		q := mustMarshal(b, r)
		b.Run(string(alg.Suite())+"-in-process-parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := a.Respond(context.Background(), q).Marshal(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(string(alg.Suite())+"-http-parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(srv.URL, "application/timestamp-query", bytes.NewReader(q))
					if err != nil {
						b.Fatal(err)
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || len(body) == 0 {
						b.Fatalf("HTTP %d, %d bytes, %v", resp.StatusCode, len(body), err)
					}
				}
			})
		})
	}
}
