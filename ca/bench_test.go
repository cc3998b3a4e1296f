package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/catest"
)

// BenchmarkIssue compares SM2 issuance with the raw SM2 signing rate of the
// issuing key, in one run:
//
//	go test -run '^$' -bench BenchmarkIssue -benchtime 2s ./ca/
//
// raw-sm2-sign signs a 600-byte message (the size of a certificate's TBS)
// the way smx509 does; raw-sm2-verify verifies it. issue-sm2-sqlite enrols
// with a CSR and a pre-created code: CSR parse and self-signature check,
// code lookup, signing (smx509 also verifies its own signature), and the
// durable SQLite commit that redeems the code. The parallel variant lets the
// store group-commit. Issue benchmarks report "issue/sign", the issuance rate
// as a fraction of the raw signing rate measured just before.
func BenchmarkIssue(b *testing.B) {
	fx := catest.New(b)
	ctx := context.Background()
	issuer := fx.Issuer(b, "gm-issuing")
	msg := make([]byte, 600)
	if _, err := rand.Read(msg); err != nil {
		b.Fatal(err)
	}
	var signNs float64
	b.Run("raw-sm2-sign", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := crypto.SignMessage(issuer.Signer, rand.Reader, msg, sm2.DefaultSM2SignerOpts); err != nil {
				b.Fatal(err)
			}
		}
		signNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	sig, err := crypto.SignMessage(issuer.Signer, rand.Reader, msg, sm2.DefaultSM2SignerOpts)
	if err != nil {
		b.Fatal(err)
	}
	pub := issuer.Cert.PublicKey.(*ecdsa.PublicKey)
	b.Run("raw-sm2-verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if !sm2.VerifyASN1WithSM2(pub, nil, msg, sig) {
				b.Fatal("signature does not verify")
			}
		}
	})

	csr := catest.PEMCSR(catest.CSR(b, catest.SM2Key(b)))
	subject := ca.Subject{Organization: catest.OrgName, USCC: catest.USCC}
	codes := func(b *testing.B) []string {
		b.StopTimer()
		defer b.StartTimer()
		out := make([]string, b.N)
		for i := range out {
			out[i] = fx.Code(b, "enterprise-sign", subject)
		}
		return out
	}
	report := func(b *testing.B) {
		if signNs > 0 {
			b.ReportMetric(signNs/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "issue/sign")
		}
	}
	b.Run("issue-sm2-sqlite", func(b *testing.B) {
		cs := codes(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := fx.CA.Enrol(ctx, ca.EnrolRequest{CSR: csr, Code: cs[i]}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		report(b)
	})
	b.Run("issue-sm2-sqlite-parallel", func(b *testing.B) {
		cs := codes(b)
		var next atomic.Int64
		b.SetParallelism(16)
		cpu := processCPU(b)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) - 1
				if _, err := fx.CA.Enrol(ctx, ca.EnrolRequest{CSR: csr, Code: cs[i]}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		report(b)
		b.ReportMetric(float64((processCPU(b)-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
	})
}

// processCPU is the CPU time (user and system) the test process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
