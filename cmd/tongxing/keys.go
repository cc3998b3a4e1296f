package main

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/emmansun/gmsm/pkcs"
	"github.com/emmansun/gmsm/pkcs8"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/server"
)

// opensslIterations is the PBKDF2-HMAC-SHA256 iteration count of the keys
// written for outside software (OWASP's figure for SHA-256); below
// kms.MaxPBKDF2Iterations, so Tongxing reads them too.
const opensslIterations = 600_000

// encryptOpenSSL encrypts key as a PEM "ENCRYPTED PRIVATE KEY" (PKCS#8,
// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC): the form OpenSSL, nginx,
// curl and browsers' import tools read.
func encryptOpenSSL(key crypto.Signer, pass []byte) ([]byte, error) {
	if len(pass) == 0 {
		return nil, kms.ErrEmptyPassphrase
	}
	der, err := pkcs8.MarshalPrivateKey(key, pass, pkcs.NewPBESEncrypter(pkcs.AES256CBC, pkcs.NewPBKDF2Opts(pkcs.SHA256, 16, opensslIterations)))
	if err != nil {
		return nil, fmt.Errorf("encrypt key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: kms.PEMType, Bytes: der}), nil
}

// encryptSubscriberKey encrypts a key `ca request` made: SM2 keys in the
// GM/T form (PBKDF2-HMAC-SM3, SM4-CBC), ECDSA keys in the form OpenSSL
// reads (a service's TLS key must load in nginx).
func encryptSubscriberKey(key crypto.Signer, pass []byte) ([]byte, error) {
	if k, ok := key.(*ecdsa.PrivateKey); ok && k.Curve != sm2.P256() {
		return encryptOpenSSL(key, pass)
	}
	return kms.MarshalEncryptedPEM(key, pass)
}

func newKey(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Subscriber keys: convert for other software",
		Args:  noSubcommand,
	}
	cmd.AddCommand(newKeyExport(g))
	return cmd
}

// keyFormats are the formats `key export` writes.
var keyFormats = []string{"pkcs8", "sec1", "pkcs12"}

func newKeyExport(g *globals) *cobra.Command {
	var format, passFile, certFile, chainFile, out string
	cmd := &cobra.Command{
		Use:   "export KEY_FILE",
		Short: "Write a key written by `ca request` in a format other software reads",
		Long: `export decrypts KEY_FILE (an encrypted PKCS#8 key from ` + "`ca request`" + `) and writes it
to --output (mode 0600, never over an existing file) as:

  pkcs8   unencrypted PKCS#8 PEM ("PRIVATE KEY"): nginx ssl_certificate_key, Go, Java
  sec1    unencrypted SEC 1 PEM ("EC PRIVATE KEY"): older OpenSSL-based software
  pkcs12  a PKCS#12 file with --cert and --chain, encrypted under the same
          passphrase (AES-256-CBC, PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC):
          browsers, Windows, Java keystores (intl keys only)

ECDSA keys from ` + "`ca request`" + ` are already in the form OpenSSL reads: nginx can use
key.pem with ssl_password_file key.pass as it is. An unencrypted key is as
good as the certificate to whoever reads it: keep it 0600 and delete it when
the software holding it no longer needs it.

The passphrase is read from --passphrase-file, else $TONGXING_KEY_PASSPHRASE,
else key.pass next to KEY_FILE.`,
		Example: `  tongxing key export invoice-api/key.pem --format pkcs8 -o invoice-api/key.unencrypted.pem
  tongxing key export invoice-api/key.pem --format pkcs12 --cert invoice-api/cert.pem --chain invoice-api/chain.pem -o invoice-api.p12`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, pass, err := readSubscriberKey(args[0], passFile)
			if err != nil {
				return err
			}
			data, err := exportKey(key, pass, format, certFile, chainFile)
			if err != nil {
				return err
			}
			if err := writeNew(out, data, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s (%s)\n", out, format)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "pkcs8", "pkcs8, sec1 or pkcs12")
	f.StringVar(&passFile, "passphrase-file", "", "file with the key's passphrase (default: $TONGXING_KEY_PASSPHRASE, else key.pass next to the key)")
	f.StringVar(&certFile, "cert", "", "certificate of the key (pkcs12)")
	f.StringVar(&chainFile, "chain", "", "issuing CA certificates (pkcs12)")
	f.StringVarP(&out, "output", "o", "", "file to write (0600; must not exist)")
	_ = cmd.MarkFlagRequired("output")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(keyFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// readSubscriberKey decrypts keyFile with the passphrase of passFile, else
// $TONGXING_KEY_PASSPHRASE, else key.pass beside the key.
func readSubscriberKey(keyFile, passFile string) (crypto.Signer, []byte, error) {
	env := os.Getenv(server.EnvPassphrase)
	if passFile == "" && env == "" {
		passFile = filepath.Join(filepath.Dir(keyFile), "key.pass")
	}
	if passFile != "" {
		env = ""
	}
	pass, err := softkms.LoadPassphrase(env, passFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (pass --passphrase-file or set %s)", err, server.EnvPassphrase)
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	key, err := kms.ParseEncryptedPEM(data, pass)
	if errors.Is(err, kms.ErrWrongPassphrase) {
		return nil, nil, fmt.Errorf("%s: %w: is it the passphrase of this key?", keyFile, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	return key, pass, nil
}

// exportKey encodes key in format.
func exportKey(key crypto.Signer, pass []byte, format, certFile, chainFile string) ([]byte, error) {
	switch format {
	case "pkcs8":
		der, err := smx509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	case "sec1":
		var der []byte
		var err error
		switch k := key.(type) {
		case *sm2.PrivateKey:
			der, err = smx509.MarshalSM2PrivateKey(k)
		case *ecdsa.PrivateKey:
			der, err = smx509.MarshalECPrivateKey(k)
		default:
			return nil, fmt.Errorf("sec1 holds EC keys only, not %T", key)
		}
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	case "pkcs12":
		if _, ok := key.(*sm2.PrivateKey); ok {
			return nil, errors.New("pkcs12 is for intl (ECDSA) keys: the software that reads PKCS#12 files does not know SM2; use --format pkcs8")
		}
		if certFile == "" {
			return nil, errors.New("pkcs12 needs --cert (and usually --chain)")
		}
		certs, err := readPEMCerts(certFile, chainFile)
		if err != nil {
			return nil, err
		}
		return encodePKCS12(key, certs, pass)
	default:
		return nil, fmt.Errorf("--format %q: choose pkcs8, sec1 or pkcs12", format)
	}
}

// readPEMCerts returns the DER certificates of the PEM files (empty names
// skipped), in order.
func readPEMCerts(files ...string) ([][]byte, error) {
	var certs [][]byte
	for _, f := range files {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		n := 0
		for {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			if _, err := smx509.ParseCertificate(b.Bytes); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			certs = append(certs, b.Bytes)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%s holds no PEM certificate", f)
		}
	}
	return certs, nil
}

// writeNew creates path with mode and data, failing if it exists; on a
// write error the file is removed.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
