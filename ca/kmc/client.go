package kmc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/problem"
)

// MaxDualResponse is the largest dual enrolment response [RequestDual] reads.
const MaxDualResponse = 256 << 10

// ErrBadResponse: the server's answer to a dual enrolment is malformed or
// inconsistent (keys and certificates that do not match).
var ErrBadResponse = errors.New("kmc: bad dual enrolment response")

// RequestDual asks the KMC at baseURL (e.g. https://ca.example:8443) for a
// dual-certificate pair: it makes a CSR with signKey, posts it with code (an
// enterprise-sign enrolment code) to /ca/v1/kmc/dual, and opens the GM/T 0092
// CSRResponse with signKey. It checks that the signing certificate holds
// signKey's public key, that the decrypted encryption key matches the
// encryption certificate, and that the PEM certificates agree with those in
// the CSRResponse. hc nil means http.DefaultClient.
//
// It does NOT verify the certificates' chains or validity; the caller does
// that against the roots it trusts. Errors from the server are
// [*problem.Details].
func RequestDual(ctx context.Context, hc *http.Client, baseURL, code string, signKey *sm2.PrivateKey, opts ...DualOption) (*DualResult, *sm2.PrivateKey, error) {
	if signKey == nil {
		return nil, nil, errors.New("kmc: no signing key")
	}
	var o dualOptions
	for _, fn := range opts {
		fn(&o)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	csr, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{SignatureAlgorithm: smx509.SM2WithSM3}, signKey)
	if err != nil {
		return nil, nil, fmt.Errorf("kmc: make CSR: %w", err)
	}
	dr := DualRequestJSON{
		CSR:           string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})),
		EnrolmentCode: code,
	}
	if o.loginKey != nil {
		lcsr, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{}, o.loginKey)
		if err != nil {
			return nil, nil, fmt.Errorf("kmc: make login CSR: %w", err)
		}
		dr.LoginCSR = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: lcsr}))
	}
	body, err := json.Marshal(dr)
	if err != nil {
		return nil, nil, err
	}
	url := strings.TrimSuffix(baseURL, "/") + "/ca/v1/kmc/dual"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("kmc: dual enrolment at %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("kmc: dual enrolment at %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("kmc: dual enrolment at %s: %w", url, problem.Read(resp))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxDualResponse+1))
	if err != nil {
		return nil, nil, fmt.Errorf("kmc: dual enrolment at %s: read response: %w", url, err)
	}
	if len(data) > MaxDualResponse {
		return nil, nil, fmt.Errorf("%w: more than %d bytes", ErrBadResponse, MaxDualResponse)
	}
	res, encKey, err := ParseDualResponse(signKey, data)
	if err != nil {
		return nil, nil, err
	}
	res.Repeated = resp.StatusCode == http.StatusOK
	if o.loginKey != nil && res.Login == nil {
		return nil, nil, fmt.Errorf("%w: no login certificate", ErrBadResponse)
	}
	if res.Login != nil && (o.loginKey == nil || !publicKeysEqual(o.loginKey.Public(), res.Login.Certificate.PublicKey)) {
		return nil, nil, fmt.Errorf("%w: the login certificate is not for the login key", ErrBadResponse)
	}
	return res, encKey, nil
}

// DualOption adds to a [RequestDual] request.
type DualOption func(*dualOptions)

type dualOptions struct{ loginKey crypto.Signer }

// WithLoginKey asks for an enterprise-login certificate (ECDSA P-256, TLS
// client authentication) for key in the same request; the result's Login
// holds it.
func WithLoginKey(key crypto.Signer) DualOption { return func(o *dualOptions) { o.loginKey = key } }

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ae, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ae.Equal(b)
}

// ParseDualResponse reads the JSON answer of POST /ca/v1/kmc/dual (at most
// [MaxDualResponse] bytes) for the holder of signKey, with the checks of
// [RequestDual]. Errors wrap [ErrBadResponse].
func ParseDualResponse(signKey *sm2.PrivateKey, data []byte) (*DualResult, *sm2.PrivateKey, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadResponse, fmt.Sprintf(format, args...))
	}
	if len(data) > MaxDualResponse {
		return nil, nil, bad("more than %d bytes", MaxDualResponse)
	}
	var j DualJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, nil, bad("not JSON: %v", err)
	}
	if len(j.CSRResponse) == 0 {
		return nil, nil, bad("no csr_response")
	}
	if err := checkCSRResponse(j.CSRResponse); err != nil {
		return nil, nil, bad("csr_response: %v", err)
	}
	cr, err := smx509.ParseCSRResponse(signKey, j.CSRResponse)
	if err != nil {
		return nil, nil, bad("csr_response: %v", err)
	}
	if cr.EncryptPrivateKey == nil || len(cr.EncryptCerts) == 0 {
		return nil, nil, bad("csr_response holds no encryption key or certificate")
	}
	res := &DualResult{CSRResponse: j.CSRResponse, SignSerial: j.SignSerial, EncSerial: j.EncSerial}
	if res.SignCertificate, err = parsePEMCert(j.SignCertificate); err != nil {
		return nil, nil, bad("sign_certificate: %v", err)
	}
	if res.EncCertificate, err = parsePEMCert(j.EncCertificate); err != nil {
		return nil, nil, bad("enc_certificate: %v", err)
	}
	for _, c := range j.SignChain {
		cert, err := parsePEMCert(c)
		if err != nil {
			return nil, nil, bad("sign_chain: %v", err)
		}
		res.SignChain = append(res.SignChain, cert)
	}
	for _, c := range j.EncChain {
		cert, err := parsePEMCert(c)
		if err != nil {
			return nil, nil, bad("enc_chain: %v", err)
		}
		res.EncChain = append(res.EncChain, cert)
	}
	switch {
	case !bytes.Equal(res.SignCertificate.Raw, cr.SignCerts[0].Raw):
		return nil, nil, bad("sign_certificate differs from the CSRResponse's")
	case !bytes.Equal(res.EncCertificate.Raw, cr.EncryptCerts[0].Raw):
		return nil, nil, bad("enc_certificate differs from the CSRResponse's")
	case !signKey.PublicKey.Equal(res.SignCertificate.PublicKey):
		return nil, nil, bad("the signing certificate is not for this signing key")
	case !cr.EncryptPrivateKey.PublicKey.Equal(res.EncCertificate.PublicKey):
		return nil, nil, bad("the encryption private key does not match the encryption certificate")
	case res.SignSerial != ca.SerialHex(res.SignCertificate.SerialNumber):
		return nil, nil, bad("sign_serial %q is not the signing certificate's", truncate(res.SignSerial, 64))
	case res.EncSerial != ca.SerialHex(res.EncCertificate.SerialNumber):
		return nil, nil, bad("enc_serial %q is not the encryption certificate's", truncate(res.EncSerial, 64))
	}
	if j.Login != nil {
		login, err := parseIssuedJSON(j.Login)
		if err != nil {
			return nil, nil, bad("login: %v", err)
		}
		res.Login = login
	}
	return res, cr.EncryptPrivateKey, nil
}

// parseIssuedJSON reads a certificate, its chain and serial.
func parseIssuedJSON(j *ca.IssuedJSON) (*ca.Issued, error) {
	cert, err := parsePEMCert(j.Certificate)
	if err != nil {
		return nil, fmt.Errorf("certificate: %v", err)
	}
	if j.Serial != ca.SerialHex(cert.SerialNumber) {
		return nil, fmt.Errorf("serial %q is not the certificate's", truncate(j.Serial, 64))
	}
	iss := &ca.Issued{Certificate: cert, Record: &ca.Record{Serial: j.Serial}}
	for _, c := range j.Chain {
		cc, err := parsePEMCert(c)
		if err != nil {
			return nil, fmt.Errorf("chain: %v", err)
		}
		iss.Chain = append(iss.Chain, cc)
	}
	return iss, nil
}

func parsePEMCert(s string) (*smx509.Certificate, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM CERTIFICATE")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("trailing data after the PEM block")
	}
	return smx509.ParseCertificate(block.Bytes)
}

// csrResponseShape mirrors the ASN.1 layout smx509.ParseCSRResponse reads,
// so that checkCSRResponse sees exactly what it will see.
type csrResponseShape struct {
	SignCerts           []asn1.RawValue `asn1:"set"`
	EncryptedPrivateKey asn1.RawValue   `asn1:"optional,tag:0"`
	EncryptCerts        struct {
		Raw asn1.RawContent
	} `asn1:"optional,tag:1"`
}

// checkCSRResponse rejects CSRResponses that the gmsm parser does not
// handle gracefully: no signing certificate, or an SM2EnvelopedKey whose
// encrypted private key is not one 32-byte SM4 block pair.
func checkCSRResponse(der []byte) error {
	var s csrResponseShape
	rest, err := asn1.Unmarshal(der, &s)
	if err != nil || len(rest) > 0 {
		return errors.New("not a DER CSRResponse")
	}
	if len(s.SignCerts) == 0 {
		return errors.New("no signing certificate")
	}
	if len(s.EncryptedPrivateKey.Bytes) == 0 {
		return nil
	}
	var (
		inner, skip cryptobyte.String
		encPriv     asn1.BitString
	)
	in := cryptobyte.String(s.EncryptedPrivateKey.Bytes)
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) ||
		!inner.ReadASN1Element(&skip, cbasn1.SEQUENCE) ||
		!inner.ReadASN1Element(&skip, cbasn1.SEQUENCE) ||
		!inner.SkipASN1(cbasn1.BIT_STRING) ||
		!inner.ReadASN1BitString(&encPriv) {
		return errors.New("malformed SM2EnvelopedKey")
	}
	if encPriv.BitLength != 32*8 {
		return fmt.Errorf("SM2EnvelopedKey encrypts %d bits, want 256", encPriv.BitLength)
	}
	return nil
}
