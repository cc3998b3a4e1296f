package timestamp_test

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/timestamp"
)

// FuzzParseRequest checks that ParseRequest never panics, that an accepted
// request re-encodes to exactly the input (strict DER), and that the
// Authority answers every input with an encodable TimeStampResp whose
// failure matches the parse error.
func FuzzParseRequest(f *testing.F) {
	for _, alg := range []timestamp.HashAlgorithm{timestamp.SM3, timestamp.SHA256, timestamp.SHA384, timestamp.SHA512} {
		r, err := timestamp.NewRequest(make([]byte, alg.Size()), alg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(mustMarshal(f, r))
	}
	f.Add(mustMarshal(f, &timestamp.TimeStampReq{Version: 1, MessageImprint: imprint(oidMD5, 16), ReqPolicy: testPolicy,
		Nonce: big.NewInt(-1), CertReq: true, Extensions: []timestamp.Extension{{ID: asn1.ObjectIdentifier{1, 2}, Critical: true, Value: []byte{1}}}}))
	f.Add(mustMarshal(f, &timestamp.TimeStampReq{Version: 1, MessageImprint: timestamp.MessageImprint{HashAlgorithm: timestamp.SHA256.OID(), HashedMessage: make([]byte, 32)}}))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	a := newAuthority(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := timestamp.ParseRequest(b)
		if err == nil {
			der, err := r.Marshal()
			if err != nil {
				t.Fatalf("accepted request does not encode: %v", err)
			}
			if !bytes.Equal(der, b) {
				t.Fatalf("accepted request re-encodes differently:\n in %x\nout %x", b, der)
			}
		} else if r != nil {
			t.Fatal("request returned with an error")
		} else if !errors.Is(err, timestamp.BadDataFormat) && !errors.Is(err, timestamp.BadAlg) && !errors.Is(err, timestamp.BadRequest) {
			t.Fatalf("parse error without a failure info: %v", err)
		}
		resp := a.Respond(ctx, b)
		if _, merr := resp.Marshal(); merr != nil {
			t.Fatalf("response does not encode: %v", merr)
		}
		if err != nil && (resp.Status != timestamp.StatusRejection || resp.Token != nil) {
			t.Fatalf("unparseable request granted: %+v", resp)
		}
		if resp.Status == timestamp.StatusGranted {
			tok, perr := timestamp.ParseToken(resp.Token)
			if perr != nil || !bytes.Equal(tok.Info.MessageImprint.HashedMessage, r.MessageImprint.HashedMessage) {
				t.Fatalf("granted token unusable: %v", perr)
			}
		}
	})
}

// FuzzParseToken checks that the token and CMS parsers never panic, that
// a parsed token keeps its input and has one signer, and that verification
// of arbitrary input does not panic and never succeeds for a digest other
// than the token's imprint.
func FuzzParseToken(f *testing.F) {
	a := newAuthority(f, timestamp.WithTSAName())
	for _, alg := range []timestamp.HashAlgorithm{timestamp.SM3, timestamp.SHA256} {
		for _, certReq := range []bool{false, true} {
			tok := mustTimestamp(f, a, []byte("seed"), alg, timestamp.TokenOptions{CertReq: certReq, Nonce: big.NewInt(5)})
			f.Add(tok.Raw)
		}
	}
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	p := pkis(f)
	gmRoots, intlRoots := p[kms.GM].Roots(), p[kms.Intl].Roots()
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := timestamp.ParseToken(b)
		if err != nil {
			if tok != nil || !errors.Is(err, timestamp.ErrMalformedToken) {
				t.Fatalf("error %v with token %v", err, tok)
			}
			return
		}
		if !bytes.Equal(tok.Raw, b) || tok.Info == nil || len(tok.SignedData.SignerInfos) != 1 {
			t.Fatal("parsed token inconsistent with input")
		}
		if _, err := tok.Info.Marshal(); err != nil {
			t.Fatalf("parsed TSTInfo does not encode: %v", err)
		}
		wrong := make([]byte, len(tok.Info.MessageImprint.HashedMessage))
		copy(wrong, tok.Info.MessageImprint.HashedMessage)
		if len(wrong) > 0 {
			wrong[0] ^= 0xff
		}
		for _, opts := range []timestamp.VerifyOptions{
			{Digest: tok.Info.MessageImprint.HashedMessage, Roots: gmRoots, Certificates: []*smx509.Certificate{p[kms.GM].Leaf}},
			{Digest: tok.Info.MessageImprint.HashedMessage, Roots: intlRoots, Certificates: []*smx509.Certificate{p[kms.Intl].Leaf}},
		} {
			_, _ = timestamp.VerifyToken(b, opts)
			opts.Digest = wrong
			if _, err := timestamp.VerifyToken(b, opts); err == nil {
				t.Fatal("verified with a digest other than the imprint")
			}
		}
	})
}

// FuzzParseResponse checks that ParseResponse never panics and that what
// it accepts encodes again.
func FuzzParseResponse(f *testing.F) {
	for _, r := range []timestamp.TimeStampResp{
		{Status: timestamp.StatusRejection, FailInfo: timestamp.SystemFailure, StatusString: []string{"x"}},
		{Status: timestamp.StatusGranted, Token: []byte{0x30, 0x00}},
	} {
		der, err := r.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := timestamp.ParseResponse(b)
		if err != nil {
			return
		}
		if _, err := r.Marshal(); err != nil {
			t.Fatalf("parsed response does not encode: %v", err)
		}
		_ = r.Err()
	})
}
