// Package filing is the file handling of the command line's signed-filing
// commands (tongxing ts, sign and verify): files read within a size
// limit, PEM certificates, trust anchors and signer chains, encrypted
// keys, digests, and what a signature holds (its time-stamp, its TSA's
// name, why it failed). Errors name the flag whose file is at fault.
package filing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/timestamp/cms"
)

// EnvPassphrase names the environment variable of the key passphrase, as
// the server reads it (server.EnvPassphrase), in error messages.
const EnvPassphrase = "TONGXING_KEY_PASSPHRASE"

// Invalid summarises the failed checks of an invalid report.
func Invalid(rep *signature.Report) error {
	var why []string
	for _, c := range rep.Checks {
		if c.Status == signature.Failed {
			why = append(why, c.Name+": "+strings.TrimPrefix(c.Detail, c.Name+": "))
		}
	}
	if len(why) == 0 {
		why = append(why, "a required check did not pass")
	}
	return fmt.Errorf("signature is INVALID: %s", strings.Join(why, "; "))
}

// Digest hashes a file with alg, streaming.
func Digest(path string, alg timestamp.HashAlgorithm) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := alg.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// ReadLimited reads a file of at most limit bytes.
func ReadLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// ReadCerts reads every CERTIFICATE block of a PEM file.
func ReadCerts(path string) ([]*smx509.Certificate, error) {
	b, err := ReadLimited(path, 4<<20)
	if err != nil {
		return nil, err
	}
	var certs []*smx509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := smx509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return certs, nil
}

// Roots reads the --ca files: self-signed certificates become trust
// anchors, the others intermediates.
func Roots(files []string) (*smx509.CertPool, *smx509.CertPool, error) {
	roots, inter := smx509.NewCertPool(), smx509.NewCertPool()
	n := 0
	for _, file := range files {
		certs, err := ReadCerts(file)
		if err != nil {
			return nil, nil, fmt.Errorf("--ca: %w", err)
		}
		for _, c := range certs {
			if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
				roots.AddCert(c)
				n++
			} else {
				inter.AddCert(c)
			}
		}
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("--ca: no self-signed root certificate in %s", strings.Join(files, ", "))
	}
	return roots, inter, nil
}

// Chain returns the signer certificate followed by its issuers, in
// order, from the --cert file and the chain file.
func Chain(certFile, chainFile string, chainGiven bool) ([]*smx509.Certificate, error) {
	certs, err := ReadCerts(certFile)
	if err != nil {
		return nil, fmt.Errorf("--cert: %w", err)
	}
	if !chainGiven {
		chainFile = filepath.Join(filepath.Dir(certFile), "chain.pem")
		if _, err := os.Stat(chainFile); err != nil {
			chainFile = ""
		}
	}
	pool := certs[1:]
	if chainFile != "" {
		more, err := ReadCerts(chainFile)
		if err != nil {
			return nil, fmt.Errorf("--chain: %w", err)
		}
		pool = append(pool, more...)
	}
	chain := []*smx509.Certificate{certs[0]}
	for {
		last := chain[len(chain)-1]
		if bytes.Equal(last.RawIssuer, last.RawSubject) {
			break
		}
		var next *smx509.Certificate
		for _, c := range pool {
			if bytes.Equal(last.RawIssuer, c.RawSubject) && last.CheckSignatureFrom(c) == nil && !c.Equal(last) {
				next = c
				break
			}
		}
		if next == nil || len(chain) > 8 {
			break
		}
		chain = append(chain, next)
	}
	return chain, nil
}

// Key decrypts the signing key in keyFile, an encrypted PKCS#8 PEM of at
// most kms.MaxPEMSize bytes. The passphrase is read from passFile when
// passGiven, else it is envPass (the value of $TONGXING_KEY_PASSPHRASE)
// when set, else read from KEYDIR/key.pass.
func Key(keyFile, passFile string, passGiven bool, envPass string) (crypto.Signer, error) {
	keyPEM, err := ReadLimited(keyFile, kms.MaxPEMSize)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	env := envPass
	if passGiven {
		env = ""
	} else if env == "" {
		passFile = filepath.Join(filepath.Dir(keyFile), "key.pass")
		if _, err := os.Stat(passFile); err != nil {
			return nil, fmt.Errorf("no passphrase for %s: set %s, pass --passphrase-file, or keep it in %s", keyFile, EnvPassphrase, passFile)
		}
	}
	pass, err := softkms.LoadPassphrase(env, passFile)
	if err != nil {
		return nil, err
	}
	key, err := kms.ParseEncryptedPEM(keyPEM, pass)
	clear(pass)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", keyFile, err)
	}
	return key, nil
}

// CheckOIDs checks the --oids choice against the key: GM/T 0010 OIDs
// need an SM2 key; RFC 5652 OIDs suit both (ECDSA always uses them).
func CheckOIDs(oids string, key crypto.Signer) error {
	suite, err := kms.SuiteOf(key.Public())
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	switch {
	case oids == "":
		return nil
	case oids == "gmt0010" && suite == kms.GM, oids == "pkcs7":
		return nil
	case oids == "gmt0010":
		return errors.New("--oids gmt0010 needs an SM2 key; ECDSA signatures use the RFC 5652 OIDs")
	default:
		return fmt.Errorf("--oids %q: use gmt0010 or pkcs7", oids)
	}
}

// Sign signs the file, streaming it when detached.
func Sign(ctx context.Context, s *signature.Signer, path string, attached bool) ([]byte, error) {
	if attached {
		content, err := ReadLimited(path, cms.MaxSize-64<<10)
		if err != nil {
			return nil, fmt.Errorf("%w (sign large files detached)", err)
		}
		return s.Sign(ctx, content)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.SignReader(ctx, f)
}

// TimestampTime returns the genTime of the signature time-stamp in
// p7s, if any.
func TimestampTime(p7s []byte) (time.Time, bool) {
	sd, err := cms.Parse(p7s)
	if err != nil || len(sd.SignerInfos) != 1 {
		return time.Time{}, false
	}
	a := sd.SignerInfos[0].UnsignedAttribute(signature.OIDSignatureTimeStampToken)
	if a == nil || len(a.Values) != 1 {
		return time.Time{}, false
	}
	tok, err := timestamp.ParseToken(a.Values[0])
	if err != nil {
		return time.Time{}, false
	}
	return tok.Info.GenTime, true
}

// GeneralName renders the TSA name of a token (a directoryName), or
// "" when absent or of another kind.
func GeneralName(der []byte) string {
	var gn asn1.RawValue
	if len(der) == 0 {
		return ""
	}
	if _, err := asn1.Unmarshal(der, &gn); err != nil || gn.Class != asn1.ClassContextSpecific || gn.Tag != 4 {
		return ""
	}
	var rdn pkix.RDNSequence
	if _, err := asn1.Unmarshal(gn.Bytes, &rdn); err != nil {
		return ""
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdn)
	return name.String()
}
