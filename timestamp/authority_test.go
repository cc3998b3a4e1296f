package timestamp_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/asn1"
	"errors"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/internal/testpki"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
)

var (
	oidMD5     = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
	oidSHA1    = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidUnknown = asn1.ObjectIdentifier{1, 2, 3, 4, 5}
)

func imprint(oid asn1.ObjectIdentifier, n int) timestamp.MessageImprint {
	return timestamp.MessageImprint{HashAlgorithm: oid, NullParams: true, HashedMessage: bytes.Repeat([]byte{0xab}, n)}
}

func TestIssue(t *testing.T) {
	a := newAuthority(t)
	nonce := new(big.Int).SetBytes(bytes.Repeat([]byte{0x7f}, 20))
	negNonce := big.NewInt(-42)
	tests := []struct {
		name      string
		req       timestamp.TimeStampReq
		want      timestamp.FailureInfo // 0: granted
		suite     kms.Suite
		policy    asn1.ObjectIdentifier
		wantCerts int
	}{
		{name: "ok/gm-sm3", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32)}, suite: kms.GM, policy: testPolicy},
		{name: "ok/intl-sha256", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SHA256.OID(), 32)}, suite: kms.Intl, policy: testPolicy},
		{name: "ok/intl-sha384", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SHA384.OID(), 48)}, suite: kms.Intl, policy: testPolicy},
		{name: "ok/intl-sha512-no-params", req: timestamp.TimeStampReq{Version: 1, MessageImprint: timestamp.MessageImprint{HashAlgorithm: timestamp.SHA512.OID(), HashedMessage: make([]byte, 64)}}, suite: kms.Intl, policy: testPolicy},
		{name: "ok/certreq-true-gm", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32), CertReq: true}, suite: kms.GM, policy: testPolicy, wantCerts: 1},
		{name: "ok/certreq-true-intl", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SHA256.OID(), 32), CertReq: true}, suite: kms.Intl, policy: testPolicy, wantCerts: 1},
		{name: "ok/nonce-echo", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32), Nonce: nonce}, suite: kms.GM, policy: testPolicy},
		{name: "ok/negative-nonce-echo", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SHA256.OID(), 32), Nonce: negNonce}, suite: kms.Intl, policy: testPolicy},
		{name: "ok/default-policy-requested", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32), ReqPolicy: testPolicy}, suite: kms.GM, policy: testPolicy},
		{name: "ok/accepted-policy", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32), ReqPolicy: otherPolicy}, suite: kms.GM, policy: otherPolicy},
		{name: "ok/non-critical-extension-ignored", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32),
			Extensions: []timestamp.Extension{{ID: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}}}, suite: kms.GM, policy: testPolicy},
		{name: "fail/md5", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(oidMD5, 16)}, want: timestamp.BadAlg},
		{name: "fail/sha1", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(oidSHA1, 20)}, want: timestamp.BadAlg},
		{name: "fail/unknown-oid", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(oidUnknown, 32)}, want: timestamp.BadAlg},
		{name: "fail/sm3-short-imprint", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 31)}, want: timestamp.BadDataFormat},
		{name: "fail/sha256-long-imprint", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SHA256.OID(), 33)}, want: timestamp.BadDataFormat},
		{name: "fail/sha512-with-sha256-length", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SHA512.OID(), 32)}, want: timestamp.BadDataFormat},
		{name: "fail/empty-imprint", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 0)}, want: timestamp.BadDataFormat},
		{name: "fail/version-2", req: timestamp.TimeStampReq{Version: 2, MessageImprint: imprint(timestamp.SM3.OID(), 32)}, want: timestamp.BadRequest},
		{name: "fail/unaccepted-policy", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32), ReqPolicy: badPolicy}, want: timestamp.UnacceptedPolicy},
		{name: "fail/critical-extension", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32),
			Extensions: []timestamp.Extension{{ID: asn1.ObjectIdentifier{1, 2, 3}, Critical: true, Value: []byte{5, 0}}}}, want: timestamp.UnacceptedExtension},
		{name: "fail/nonce-too-long", req: timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SM3.OID(), 32),
			Nonce: new(big.Int).Lsh(big.NewInt(1), 8*timestamp.MaxNonceSize)}, want: timestamp.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := a.Issue(context.Background(), &tc.req)
			if tc.want != 0 {
				var re *timestamp.RejectionError
				if !errors.As(err, &re) || !errors.Is(err, tc.want) || re.Status != timestamp.StatusRejection || re.Text == "" {
					t.Fatalf("got %v, want rejection %s", err, tc.want)
				}
				// The same request over DER gets the same failure in a TimeStampResp.
				der, err := tc.req.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				resp := a.Respond(context.Background(), der)
				if resp.Status != timestamp.StatusRejection || resp.FailInfo != tc.want || resp.Token != nil || len(resp.StatusString) != 1 {
					t.Fatalf("Respond: %+v", resp)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := timestamp.ParseToken(tok.Raw)
			if err != nil {
				t.Fatal(err)
			}
			info := parsed.Info
			if parsed.Suite != tc.suite || tok.Suite != tc.suite {
				t.Fatalf("suite %s/%s, want %s", parsed.Suite, tok.Suite, tc.suite)
			}
			if !info.Policy.Equal(tc.policy) {
				t.Fatalf("policy %s, want %s", info.Policy, tc.policy)
			}
			if info.MessageImprint.NullParams != tc.req.MessageImprint.NullParams ||
				!info.MessageImprint.HashAlgorithm.Equal(tc.req.MessageImprint.HashAlgorithm) ||
				!bytes.Equal(info.MessageImprint.HashedMessage, tc.req.MessageImprint.HashedMessage) {
				t.Fatal("imprint not echoed exactly")
			}
			if (tc.req.Nonce == nil) != (info.Nonce == nil) || (info.Nonce != nil && info.Nonce.Cmp(tc.req.Nonce) != 0) {
				t.Fatalf("nonce %v, want %v", info.Nonce, tc.req.Nonce)
			}
			if n := len(parsed.SignedData.Certificates); n != tc.wantCerts {
				t.Fatalf("%d certificates in token, want %d", n, tc.wantCerts)
			}
			if info.Accuracy != timestamp.DefaultAccuracy || info.SerialNumber.Sign() <= 0 || info.GenTime.IsZero() {
				t.Fatalf("accuracy %s serial %s genTime %s", info.Accuracy, info.SerialNumber, info.GenTime)
			}
			vo := timestamp.VerifyOptions{Digest: tc.req.MessageImprint.HashedMessage, Roots: roots(t, tc.suite), Nonce: tc.req.Nonce,
				Certificates: []*smx509.Certificate{pkis(t)[tc.suite].Leaf}}
			if _, err := timestamp.VerifyToken(tok.Raw, vo); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

func TestSuiteNotServed(t *testing.T) {
	gm := pkis(t)[kms.GM]
	a, err := timestamp.NewAuthority(gm.LeafKey, gm.Chain(), timestamp.WithPolicy(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Timestamp(context.Background(), make([]byte, 32), timestamp.SHA256, timestamp.TokenOptions{})
	if !errors.Is(err, timestamp.BadAlg) {
		t.Fatalf("SHA-256 on a gm-only authority: %v", err)
	}
	if _, err := a.Timestamp(context.Background(), make([]byte, 32), timestamp.HashAlgorithm(99), timestamp.TokenOptions{}); !errors.Is(err, timestamp.BadAlg) {
		t.Fatalf("invalid HashAlgorithm: %v", err)
	}
	if st := a.Stats(); st.Rejections != 2 || st.TokensGM != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAccuracy(t *testing.T) {
	tests := []struct {
		name string
		acc  time.Duration
	}{
		{"ok/none", 0},
		{"ok/1s", time.Second},
		{"ok/1.5s", 1500 * time.Millisecond},
		{"ok/250us", 250 * time.Microsecond},
		{"ok/1.001001s", time.Second + time.Millisecond + time.Microsecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuthority(t, timestamp.WithAccuracy(tc.acc))
			tok := mustTimestamp(t, a, []byte("x"), timestamp.SM3, timestamp.TokenOptions{})
			p, err := timestamp.ParseToken(tok.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if p.Info.Accuracy != tc.acc {
				t.Fatalf("accuracy %s, want %s", p.Info.Accuracy, tc.acc)
			}
		})
	}
}

func TestSerialsUniqueConcurrent(t *testing.T) {
	a := newAuthority(t)
	const workers, each = 16, 25
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			alg := timestamp.SM3
			if w%2 == 1 {
				alg = timestamp.SHA256
			}
			for i := 0; i < each; i++ {
				tok, err := a.Timestamp(context.Background(), make([]byte, 32), alg, timestamp.TokenOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				s := tok.Info.SerialNumber.String()
				if seen[s] {
					t.Errorf("serial %s issued twice", s)
				}
				seen[s] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Fatalf("%d distinct serials, want %d", len(seen), workers*each)
	}
	if st := a.Stats(); st.TokensGM+st.TokensIntl != workers*each {
		t.Fatalf("stats %+v", st)
	}
}

func TestClockBackwards(t *testing.T) {
	start := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		tolerance time.Duration
		steps     []time.Duration // clock offsets from start, one token each
		want      []bool          // granted?
	}{
		{"ok/forward", 0, []time.Duration{0, time.Millisecond, time.Second}, []bool{true, true, true}},
		{"ok/same-millisecond", 0, []time.Duration{0, 100 * time.Microsecond}, []bool{true, true}},
		{"ok/within-tolerance", time.Second, []time.Duration{time.Second, 500 * time.Millisecond}, []bool{true, true}},
		{"fail/one-second-back", 0, []time.Duration{time.Second, 0, 2 * time.Second}, []bool{true, false, true}},
		{"fail/one-millisecond-back", 0, []time.Duration{time.Second, time.Second - time.Millisecond}, []bool{true, false}},
		{"fail/beyond-tolerance", time.Second, []time.Duration{3 * time.Second, time.Second}, []bool{true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: start}
			a := newAuthority(t, timestamp.WithClock(clk.Now), timestamp.WithBackwardsTolerance(tc.tolerance))
			refusals := 0
			for i, step := range tc.steps {
				clk.Set(start.Add(step))
				_, err := a.Timestamp(context.Background(), make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
				if tc.want[i] != (err == nil) {
					t.Fatalf("step %d: err %v, want granted=%v", i, err, tc.want[i])
				}
				if err != nil {
					refusals++
					if !errors.Is(err, timestamp.TimeNotAvailable) || !errors.Is(err, timestamp.ErrClockBackwards) {
						t.Fatalf("step %d: %v is not timeNotAvailable/backwards", i, err)
					}
				}
			}
			if st := a.Stats(); st.ClockBackwards != uint64(refusals) || st.ClockOK != tc.want[len(tc.want)-1] {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestClockBackwardsAcrossRestart shares a Watermark between two
// Authorities, as a restart with a persistent mark does.
func TestClockBackwardsAcrossRestart(t *testing.T) {
	wm := &timestamp.MemoryWatermark{}
	late := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	const window = 200 * time.Millisecond
	a1 := newAuthority(t, timestamp.WithWatermark(wm, window), timestamp.WithClock(func() time.Time { return late }))
	tok := mustTimestamp(t, a1, []byte("a"), timestamp.SM3, timestamp.TokenOptions{})
	mark, _ := wm.Load(context.Background())
	if !tok.Info.GenTime.Equal(late) || mark.Before(late) {
		t.Fatalf("genTime %s, stored mark %s: the mark must cover the token", tok.Info.GenTime, mark)
	}

	a2 := newAuthority(t, timestamp.WithWatermark(wm, window), timestamp.WithClock(func() time.Time { return late.Add(-time.Minute) }))
	_, err := a2.Timestamp(context.Background(), make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
	if !errors.Is(err, timestamp.ErrClockBackwards) {
		t.Fatalf("restarted authority with an earlier clock: %v", err)
	}
	resp := a2.Respond(context.Background(), mustMarshal(t, &timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(timestamp.SHA256.OID(), 32)}))
	if resp.Status != timestamp.StatusRejection || resp.FailInfo != timestamp.TimeNotAvailable || len(resp.StatusString) != 1 {
		t.Fatalf("response %+v", resp)
	}

	// A restart whose clock is behind the mark by less than the window
	// waits for the clock to pass it, then issues.
	t0 := time.Now()
	a3 := newAuthority(t, timestamp.WithWatermark(wm, window), timestamp.WithClock(func() time.Time { return late.Add(time.Since(t0)) }))
	tok3 := mustTimestamp(t, a3, []byte("b"), timestamp.SM3, timestamp.TokenOptions{})
	if tok3.Info.GenTime.Before(mark) {
		t.Fatalf("token after restart at %s, before the previous run's mark %s", tok3.Info.GenTime, mark)
	}
}

func mustMarshal(t testing.TB, r *timestamp.TimeStampReq) []byte {
	t.Helper()
	der, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestClockDrift(t *testing.T) {
	base := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	errRef := errors.New("reference unreachable")
	tests := []struct {
		name    string
		offset  time.Duration // reference minus local
		refErr  error
		want    error // nil: granted
		counter func(timestamp.Stats) uint64
	}{
		{"ok/in-sync", 0, nil, nil, nil},
		{"ok/within-bound", 400 * time.Millisecond, nil, nil, nil},
		{"ok/within-bound-negative", -400 * time.Millisecond, nil, nil, nil},
		{"fail/reference-ahead", 2 * time.Second, nil, timestamp.ErrClockDrift, func(s timestamp.Stats) uint64 { return s.ClockDrift }},
		{"fail/reference-behind", -1500 * time.Millisecond, nil, timestamp.ErrClockDrift, func(s timestamp.Stats) uint64 { return s.ClockDrift }},
		{"fail/reference-down", 0, errRef, timestamp.ErrReferenceUnavailable, func(s timestamp.Stats) uint64 { return s.ReferenceUnavailable }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: base}
			ref := timestamp.ReferenceClockFunc(func(context.Context) (time.Time, error) {
				return clk.Now().Add(tc.offset), tc.refErr
			})
			a := newAuthority(t, timestamp.WithClock(clk.Now), timestamp.WithReference(ref), timestamp.WithMaxDrift(time.Second))
			_, err := a.Timestamp(context.Background(), make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
			st := a.Stats()
			if tc.want == nil {
				if err != nil || !st.ClockOK || st.ClockOffset != tc.offset {
					t.Fatalf("err %v stats %+v", err, st)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, timestamp.TimeNotAvailable) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.counter(st) != 1 || st.ClockOK || st.LastRefusal == "" || st.Rejections != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestReferenceInterval checks that a measurement is reused within the
// interval and repeated after it.
func TestReferenceInterval(t *testing.T) {
	base := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: base}
	var mu sync.Mutex
	calls, offset := 0, time.Duration(0)
	ref := timestamp.ReferenceClockFunc(func(context.Context) (time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return clk.Now().Add(offset), nil
	})
	a := newAuthority(t, timestamp.WithClock(clk.Now), timestamp.WithReference(ref), timestamp.WithReferenceInterval(time.Minute))
	issue := func() error {
		_, err := a.Timestamp(context.Background(), make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
		return err
	}
	steps := []struct {
		name      string
		advance   time.Duration
		offset    time.Duration
		wantErr   bool
		wantCalls int
	}{
		{"ok/first-measures", 0, 0, false, 1},
		{"ok/reused", 10 * time.Second, 0, false, 1},
		{"ok/after-interval", time.Minute, 0, false, 2},
		{"fail/drift-after-interval", time.Second, 5 * time.Second, true, 3},
		{"ok/recovered", time.Second, 0, false, 4},
	}
	for _, s := range steps {
		clk.Set(clk.Now().Add(s.advance))
		mu.Lock()
		offset = s.offset
		mu.Unlock()
		// A drifting local clock is simulated by the reference offset; the
		// estimate is only refreshed when stale or over the bound, so force
		// staleness for the drift step.
		if s.name == "fail/drift-after-interval" {
			clk.Set(clk.Now().Add(time.Minute))
		}
		err := issue()
		mu.Lock()
		n := calls
		mu.Unlock()
		if (err != nil) != s.wantErr || n != s.wantCalls {
			t.Fatalf("%s: err %v, %d reference calls, want err=%v calls=%d", s.name, err, n, s.wantErr, s.wantCalls)
		}
	}
}

func TestNewAuthorityConfig(t *testing.T) {
	p := pkis(t)
	gm, intl := p[kms.GM], p[kms.Intl]
	nonCritical := testpki.NewTSA(t, kms.Intl, testpki.TSAOptions{NonCriticalEKU: true})
	serverAuth := testpki.NewTSA(t, kms.Intl, testpki.TSAOptions{EKU: []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}}})
	twoEKUs := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{EKU: []asn1.ObjectIdentifier{testpki.OIDTimeStamping, {1, 3, 6, 1, 5, 5, 7, 3, 4}}})
	withPolicy := testpki.NewTSA(t, kms.GM, testpki.TSAOptions{Policies: []asn1.ObjectIdentifier{otherPolicy}})
	ref := timestamp.ReferenceClockFunc(func(context.Context) (time.Time, error) { return time.Now(), nil })
	tests := []struct {
		name       string
		key        crypto.Signer
		chain      []*smx509.Certificate
		opts       []timestamp.Option
		ok         bool
		wantPolicy asn1.ObjectIdentifier
	}{
		{"ok/gm-only", gm.LeafKey, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy)}, true, testPolicy},
		{"ok/policy-from-certificate", withPolicy.LeafKey, withPolicy.Chain(), nil, true, otherPolicy},
		{"ok/leaf-only-chain", intl.LeafKey, []*smx509.Certificate{intl.Leaf}, []timestamp.Option{timestamp.WithPolicy(testPolicy)}, true, testPolicy},
		{"ok/reference-with-accuracy", gm.LeafKey, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy), timestamp.WithReference(ref), timestamp.WithAccuracy(2 * time.Second)}, true, testPolicy},
		{"fail/no-policy", gm.LeafKey, gm.Chain(), nil, false, nil},
		{"fail/nil-key", nil, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy)}, false, nil},
		{"fail/empty-chain", gm.LeafKey, nil, []timestamp.Option{timestamp.WithPolicy(testPolicy)}, false, nil},
		{"fail/key-mismatch", intl.LeafKey, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy)}, false, nil},
		{"fail/non-critical-eku", nonCritical.LeafKey, nonCritical.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy)}, false, nil},
		{"fail/server-auth-eku", serverAuth.LeafKey, serverAuth.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy)}, false, nil},
		{"fail/extra-eku", twoEKUs.LeafKey, twoEKUs.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy)}, false, nil},
		{"fail/broken-chain", gm.LeafKey, []*smx509.Certificate{gm.Leaf, intl.Root}, []timestamp.Option{timestamp.WithPolicy(testPolicy)}, false, nil},
		{"fail/two-gm-signers", gm.LeafKey, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy), timestamp.WithSigner(withPolicy.LeafKey, withPolicy.Chain())}, false, nil},
		{"fail/negative-accuracy", gm.LeafKey, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy), timestamp.WithAccuracy(-time.Second)}, false, nil},
		{"fail/accuracy-below-drift", gm.LeafKey, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy), timestamp.WithReference(ref), timestamp.WithAccuracy(100 * time.Millisecond)}, false, nil},
		{"fail/zero-drift", gm.LeafKey, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy), timestamp.WithReference(ref), timestamp.WithMaxDrift(0)}, false, nil},
		{"fail/negative-tolerance", gm.LeafKey, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy), timestamp.WithBackwardsTolerance(-time.Second)}, false, nil},
		{"fail/nil-clock", gm.LeafKey, gm.Chain(), []timestamp.Option{timestamp.WithPolicy(testPolicy), timestamp.WithClock(nil)}, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := timestamp.NewAuthority(tc.key, tc.chain, tc.opts...)
			if tc.ok != (err == nil) {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				if !errors.Is(err, timestamp.ErrConfig) {
					t.Fatalf("%v does not wrap ErrConfig", err)
				}
				return
			}
			if !a.Policy().Equal(tc.wantPolicy) {
				t.Fatalf("policy %s, want %s", a.Policy(), tc.wantPolicy)
			}
		})
	}
}

// TestClockReadRace: a request that read the clock before another one but
// reaches the check after it must not look like a clock going backwards.
// The first clock reading is held until the second request was answered
// (or 200 ms passed, when the Authority serialises the readings itself).
func TestClockReadRace(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	var calls atomic.Int32
	secondDone := make(chan struct{})
	clock := func() time.Time {
		if calls.Add(1) == 1 {
			select {
			case <-secondDone:
			case <-time.After(200 * time.Millisecond):
			}
			return t0
		}
		return t0.Add(2 * time.Millisecond)
	}
	a := newAuthority(t, timestamp.WithClock(clock))
	first := make(chan error, 1)
	go func() {
		_, err := a.Timestamp(context.Background(), make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
		first <- err
	}()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err := a.Timestamp(context.Background(), make([]byte, 32), timestamp.SM3, timestamp.TokenOptions{})
	close(secondDone)
	if err != nil {
		t.Fatalf("second request: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first request, whose clock reading was older: %v", err)
	}
}
