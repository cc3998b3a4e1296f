package timestamp_test

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/timestamp"
)

// rawReq builds a TimeStampReq from pre-encoded fields, for malformed cases.
func rawReq(fields ...[]byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, f := range fields {
			b.AddBytes(f)
		}
	})
	return b.BytesOrPanic()
}

func enc(f func(b *cryptobyte.Builder)) []byte {
	b := cryptobyte.NewBuilder(nil)
	f(b)
	return b.BytesOrPanic()
}

func TestParseRequest(t *testing.T) {
	v1 := enc(func(b *cryptobyte.Builder) { b.AddASN1Int64(1) })
	mi := enc(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(timestamp.SHA256.OID())
				b.AddASN1NULL()
			})
			b.AddASN1OctetString(make([]byte, 32))
		})
	})
	miParams := enc(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(timestamp.SHA256.OID())
				b.AddASN1Int64(0)
			})
			b.AddASN1OctetString(make([]byte, 32))
		})
	})
	policy := enc(func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(testPolicy) })
	nonce := enc(func(b *cryptobyte.Builder) { b.AddASN1Int64(12345) })
	good := rawReq(v1, mi, policy, nonce, []byte{0x01, 0x01, 0xff})
	longLen := append([]byte{0x30, 0x81, byte(len(good) - 2)}, good[2:]...)
	indefinite := append(append([]byte{0x30, 0x80}, good[2:]...), 0, 0)
	full := &timestamp.TimeStampReq{
		Version:        1,
		MessageImprint: imprint(timestamp.SM3.OID(), 32),
		ReqPolicy:      otherPolicy,
		Nonce:          big.NewInt(-7),
		CertReq:        true,
		Extensions: []timestamp.Extension{
			{ID: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{4, 0}},
			{ID: asn1.ObjectIdentifier{1, 2, 4}, Critical: true, Value: []byte{}},
		},
	}
	tests := []struct {
		name string
		der  []byte
		want error // nil: accepted and re-encodes identically
	}{
		{"ok/openssl-shape", good, nil},
		{"ok/minimal", rawReq(v1, mi), nil},
		{"ok/all-fields", mustMarshal(t, full), nil},
		{"ok/no-hash-params", mustMarshal(t, &timestamp.TimeStampReq{Version: 1, MessageImprint: timestamp.MessageImprint{HashAlgorithm: timestamp.SHA256.OID(), HashedMessage: make([]byte, 32)}}), nil},
		{"ok/version-2-parses", rawReq(enc(func(b *cryptobyte.Builder) { b.AddASN1Int64(2) }), mi), nil},
		{"fail/empty", nil, timestamp.BadDataFormat},
		{"fail/trailing-byte", append(append([]byte(nil), good...), 0), timestamp.BadDataFormat},
		{"fail/long-form-length", longLen, timestamp.BadDataFormat},
		{"fail/indefinite-length", indefinite, timestamp.BadDataFormat},
		{"fail/explicit-certreq-false", rawReq(v1, mi, []byte{0x01, 0x01, 0x00}), timestamp.BadDataFormat},
		{"fail/boolean-not-ff", rawReq(v1, mi, []byte{0x01, 0x01, 0x01}), timestamp.BadDataFormat},
		{"fail/non-minimal-nonce", rawReq(v1, mi, []byte{0x02, 0x02, 0x00, 0x01}), timestamp.BadDataFormat},
		{"fail/nonce-before-policy", rawReq(v1, mi, nonce, policy), timestamp.BadDataFormat},
		{"fail/empty-extensions", rawReq(v1, mi, []byte{0xa0, 0x00}), timestamp.BadDataFormat},
		{"fail/extension-critical-false", rawReq(v1, mi, enc(func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 3})
					b.AddASN1Boolean(false)
					b.AddASN1OctetString(nil)
				})
			})
		})), timestamp.BadDataFormat},
		{"fail/hash-params-not-null", rawReq(v1, miParams), timestamp.BadAlg},
		{"fail/missing-imprint", rawReq(v1), timestamp.BadDataFormat},
		{"fail/not-a-sequence", []byte{0x04, 0x00}, timestamp.BadDataFormat},
		{"fail/oversize", make([]byte, timestamp.MaxRequestSize+1), timestamp.BadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := timestamp.ParseRequest(tc.der)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || r != nil {
					t.Fatalf("got %v (request %v), want %v", err, r, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			re, err := r.Marshal()
			if err != nil || !bytes.Equal(re, tc.der) {
				t.Fatalf("re-encoding differs: %v\n got %x\nwant %x", err, re, tc.der)
			}
		})
	}
}

func TestNewRequest(t *testing.T) {
	tests := []struct {
		name   string
		digest []byte
		alg    timestamp.HashAlgorithm
		want   error
	}{
		{"ok/sm3", make([]byte, 32), timestamp.SM3, nil},
		{"ok/sha384", make([]byte, 48), timestamp.SHA384, nil},
		{"fail/short", make([]byte, 31), timestamp.SM3, timestamp.BadDataFormat},
		{"fail/invalid-alg", make([]byte, 32), timestamp.HashAlgorithm(0), timestamp.BadAlg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := timestamp.NewRequest(tc.digest, tc.alg)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err != nil || r.Nonce == nil || !r.CertReq || !r.MessageImprint.NullParams {
				t.Fatalf("request %+v %v", r, err)
			}
			der := mustMarshal(t, r)
			back, err := timestamp.ParseRequest(der)
			if err != nil || back.Nonce.Cmp(r.Nonce) != 0 {
				t.Fatalf("round trip: %v", err)
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		resp timestamp.TimeStampResp
		der  []byte // expected encoding, when given
	}{
		// Known answer: rejection, badAlg -> failInfo BIT STRING 03 02 07 80.
		{"ok/bad-alg", timestamp.TimeStampResp{Status: timestamp.StatusRejection, FailInfo: timestamp.BadAlg},
			[]byte{0x30, 0x09, 0x30, 0x07, 0x02, 0x01, 0x02, 0x03, 0x02, 0x07, 0x80}},
		// systemFailure is bit 25: four octets, 6 unused bits, last octet 0x40.
		{"ok/system-failure", timestamp.TimeStampResp{Status: timestamp.StatusRejection, FailInfo: timestamp.SystemFailure},
			[]byte{0x30, 0x0c, 0x30, 0x0a, 0x02, 0x01, 0x02, 0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40}},
		{"ok/text-and-bits", timestamp.TimeStampResp{Status: timestamp.StatusRejection, StatusString: []string{"时间不可用", "second"},
			FailInfo: timestamp.TimeNotAvailable | timestamp.BadRequest}, nil},
		{"ok/granted-with-token", timestamp.TimeStampResp{Status: timestamp.StatusGranted, Token: []byte{0x30, 0x00}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := tc.resp.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if tc.der != nil && !bytes.Equal(der, tc.der) {
				t.Fatalf("encoding %x, want %x", der, tc.der)
			}
			back, err := timestamp.ParseResponse(der)
			if err != nil {
				t.Fatal(err)
			}
			if back.Status != tc.resp.Status || back.FailInfo != tc.resp.FailInfo || !bytes.Equal(back.Token, tc.resp.Token) ||
				len(back.StatusString) != len(tc.resp.StatusString) {
				t.Fatalf("round trip %+v, want %+v", back, tc.resp)
			}
			if (back.Err() == nil) != (tc.resp.Status == timestamp.StatusGranted) {
				t.Fatalf("Err() = %v", back.Err())
			}
		})
	}
}

func TestTSTInfoGenTime(t *testing.T) {
	base := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	tests := []struct {
		name string
		t    time.Time
	}{
		{"ok/whole-second", base},
		{"ok/millis", base.Add(120 * time.Millisecond)},
		{"ok/nanos", base.Add(123456789)},
		{"ok/non-utc-input", base.In(time.FixedZone("CST", 8*3600))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info := &timestamp.TSTInfo{Version: 1, Policy: testPolicy, MessageImprint: imprint(timestamp.SM3.OID(), 32),
				SerialNumber: big.NewInt(1), GenTime: tc.t}
			der, err := info.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := timestamp.ParseTSTInfo(der)
			if err != nil {
				t.Fatal(err)
			}
			if !back.GenTime.Equal(tc.t) || back.GenTime.Location() != time.UTC {
				t.Fatalf("genTime %s, want %s", back.GenTime, tc.t)
			}
			if re, _ := back.Marshal(); !bytes.Equal(re, der) {
				t.Fatal("TSTInfo does not re-encode identically")
			}
		})
	}
}
