package main

import (
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/ca/revcheck"
	"github.com/tongxing/tongxing/cmd/tongxing/internal/filing"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/server"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/timestamp/cms"
)

// addFilingCommands adds the commands for signed filings to root:
// ts (request and verify RFC 3161 / GM/T 0033 time-stamps), sign and verify.
func addFilingCommands(root *cobra.Command, g *globals) {
	root.AddCommand(newTimestampCmd(g), newSignCmd(g), newVerifyCmd(g))
}

// httpClient returns the server base URL and an HTTP client trusting the
// roots the ca client commands trust.
func (g *globals) httpClient(cmd *cobra.Command, f *clientFlags) (string, *http.Client, error) {
	c, err := g.client(cmd, f, "")
	if err != nil {
		return "", nil, err
	}
	return c.base, c.http, nil
}

func newTimestampCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ts", Short: "Trusted time-stamps (RFC 3161, GM/T 0033): request and verify"}
	cmd.AddCommand(newTSRequestCmd(g), newTSVerifyCmd())
	return cmd
}

func newTSRequestCmd(g *globals) *cobra.Command {
	var (
		trust      clientFlags
		gm, intl   bool
		tsaURL     string
		outputPath string
	)
	cmd := &cobra.Command{
		Use:   "request FILE",
		Short: "Time-stamp a file at a TSA and write the reply (.tsr)",
		Long: `request hashes FILE (SM3 with --gm, the default; SHA-256 with --intl), asks the
time-stamp authority for a token with a random nonce and the TSA certificate,
checks that the token answers the request, and writes the DER TimeStampResp.
It does not verify the TSA's signature; use "tongxing ts verify" for that.`,
		Example: `  tongxing ts request filing.pdf -o filing.pdf.tsr
  tongxing ts request filing.pdf --intl --url https://tsa.example.gov.cn/tsa -o filing.pdf.tsr`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			suite := kms.GM
			if intl {
				suite = kms.Intl
			}
			base, hc, err := g.httpClient(cmd, &trust)
			if err != nil {
				return err
			}
			if tsaURL == "" {
				tsaURL = base + "/tsa"
			}
			digest, err := filing.Digest(args[0], timestamp.HashOf(suite))
			if err != nil {
				return err
			}
			c := &timestamp.Client{URL: tsaURL, HTTPClient: hc}
			tok, err := c.Timestamp(cmd.Context(), digest, timestamp.HashOf(suite))
			if err != nil {
				return fmt.Errorf("time-stamp %s: %w", args[0], err)
			}
			der, err := (&timestamp.TimeStampResp{Status: timestamp.StatusGranted, Token: tok.Raw}).Marshal()
			if err != nil {
				return err
			}
			if outputPath == "" {
				outputPath = args[0] + ".tsr"
			}
			if err := os.WriteFile(outputPath, der, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "time-stamped %s (%s %s)\n  time:   %s\n  serial: %s\n  policy: %s\n  reply:  %s\n",
				args[0], timestamp.HashOf(suite), hex.EncodeToString(digest), tok.Info.GenTime.UTC().Format(time.RFC3339Nano),
				tok.Info.SerialNumber, tok.Info.Policy, outputPath)
			return nil
		},
	}
	trust.registerTrust(cmd, true)
	f := cmd.Flags()
	f.BoolVar(&gm, "gm", false, "gm suite: SM3 imprint, SM2-signed GM/T 0033 token (default)")
	f.BoolVar(&intl, "intl", false, "intl suite: SHA-256 imprint, ECDSA-signed RFC 3161 token")
	f.StringVar(&tsaURL, "url", "", "TSA URL (default: SERVER/tsa)")
	f.StringVarP(&outputPath, "output", "o", "", "reply file (default: FILE.tsr)")
	cmd.MarkFlagsMutuallyExclusive("gm", "intl")
	return cmd
}

func newTSVerifyCmd() *cobra.Command {
	var roots []string
	cmd := &cobra.Command{
		Use:   "verify FILE FILE.tsr",
		Short: "Verify a time-stamp reply or token over a file",
		Long: `verify checks a time-stamp reply (DER TimeStampResp, as written by "ts request"
or "openssl ts -reply") or a bare token over FILE: the message imprint, the
TSA's signature and the TSA certificate's chain at the time-stamp time, to the
self-signed roots in the --ca files. A token usually carries only the TSA
certificate: give its issuing CA in a --ca file too (other certificates there
help build the chain). It does NOT check the TSA certificate's revocation.`,
		Example: `  tongxing ts verify filing.pdf filing.pdf.tsr --ca tongxing-data/pki/gm-root.crt --ca tongxing-data/pki/gm-issuing.crt`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rootPool, inter, err := filing.Roots(roots)
			if err != nil {
				return err
			}
			raw, err := filing.ReadLimited(args[1], timestamp.MaxResponseSize)
			if err != nil {
				return err
			}
			token := raw
			if resp, err := timestamp.ParseResponse(raw); err == nil {
				if err := resp.Err(); err != nil {
					return fmt.Errorf("%s: the TSA refused the request: %w", args[1], err)
				}
				token = resp.Token
			}
			tok, err := timestamp.ParseToken(token)
			if err != nil {
				return fmt.Errorf("%s is neither a time-stamp reply nor a token: %w", args[1], err)
			}
			alg, err := timestamp.HashFromOID(tok.Info.MessageImprint.HashAlgorithm)
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			digest, err := filing.Digest(args[0], alg)
			if err != nil {
				return err
			}
			info, err := timestamp.VerifyToken(token, timestamp.VerifyOptions{Digest: digest, Roots: rootPool, Intermediates: inter})
			if err != nil {
				return fmt.Errorf("time-stamp verification FAILED for %s: %w", args[0], err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Verification: OK\n")
			fmt.Fprintf(out, "genTime:   %s (%s)\n", info.GenTime.UTC().Format(time.RFC3339Nano), info.GenTime.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05 MST"))
			if info.Accuracy > 0 {
				fmt.Fprintf(out, "accuracy:  ±%s\n", info.Accuracy)
			}
			fmt.Fprintf(out, "serial:    %s\n", info.SerialNumber)
			fmt.Fprintf(out, "policy:    %s\n", info.Policy)
			fmt.Fprintf(out, "TSA:       %s\n", info.Certificate.Subject)
			if name := filing.GeneralName(info.TSAName); name != "" {
				fmt.Fprintf(out, "TSA name:  %s\n", name)
			}
			fmt.Fprintf(out, "hash:      %s %s\n", info.Hash, hex.EncodeToString(digest))
			fmt.Fprintf(out, "suite:     %s\n", info.Suite)
			if info.Nonce != nil {
				fmt.Fprintf(out, "nonce:     %s\n", info.Nonce.Text(16))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&roots, "ca", nil, "PEM file of trusted root certificates (repeatable)")
	_ = cmd.MarkFlagRequired("ca")
	return cmd
}

func newSignCmd(g *globals) *cobra.Command {
	var (
		trust                              clientFlags
		certFile, keyFile, chainFile       string
		passFile, tsaURL, oids, outputPath string
		attached, detached, noTSA          bool
	)
	cmd := &cobra.Command{
		Use:   "sign FILE",
		Short: "Sign a filing (CMS SignedData .p7s, SM2/SM3) with a trusted time-stamp",
		Long: `sign writes a CMS SignedData over FILE with the e-cert key: SM2/SM3 with the
GM/T 0010 OIDs for an SM2 key, ECDSA/SHA-256 (RFC 5652) for a P-256 key. The
signature is detached by default. Unless --no-tsa is given, the TSA
(default SERVER/tsa) time-stamps the signature value and the token is kept as
the unsigned attribute signatureTimeStampToken (CAdES-T).

The key is the encrypted PKCS#8 that "tongxing ca request" writes. Its
passphrase comes from --passphrase-file, else $TONGXING_KEY_PASSPHRASE,
else KEYDIR/key.pass. The certificate chain comes from --chain, else
CERTDIR/chain.pem when it exists.`,
		Example: `  tongxing sign filing.pdf --cert ecert/cert.pem --key ecert/key.pem -o filing.pdf.p7s
  tongxing sign filing.pdf --cert ecert/cert.pem --key ecert/key.pem --attached --no-tsa`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			chain, err := filing.Chain(certFile, chainFile, flags.Changed("chain"))
			if err != nil {
				return err
			}
			key, err := filing.Key(keyFile, passFile, flags.Changed("passphrase-file"), os.Getenv(server.EnvPassphrase))
			if err != nil {
				return err
			}
			if err := filing.CheckOIDs(oids, key); err != nil {
				return err
			}
			var opts []signature.Option
			if oids == "pkcs7" {
				opts = append(opts, signature.WithPKCS7OIDs())
			}
			if attached {
				opts = append(opts, signature.WithAttached())
			}
			if !noTSA {
				base, hc, err := g.httpClient(cmd, &trust)
				if err != nil {
					return err
				}
				if tsaURL == "" {
					tsaURL = base + "/tsa"
				}
				opts = append(opts, signature.WithTimestamper(&timestamp.Client{URL: tsaURL, HTTPClient: hc}))
			}
			signer, err := signature.NewSigner(key, chain, opts...)
			if err != nil {
				return err
			}
			p7s, err := filing.Sign(cmd.Context(), signer, args[0], attached)
			if err != nil {
				return err
			}
			if outputPath == "" {
				outputPath = args[0] + ".p7s"
			}
			if err := os.WriteFile(outputPath, p7s, 0o644); err != nil {
				return err
			}
			mode := "detached"
			if attached {
				mode = "attached"
			}
			fmt.Fprintf(g.stdout, "signed %s as %q (%s, %s)\n", args[0], chain[0].Subject.CommonName, signer.Suite(), mode)
			if t, ok := filing.TimestampTime(p7s); ok {
				fmt.Fprintf(g.stdout, "  time-stamped at %s by %s\n", t.UTC().Format(time.RFC3339Nano), tsaURL)
			} else {
				fmt.Fprintf(g.stdout, "  no time-stamp: the signing time is only the signer's claim\n")
			}
			fmt.Fprintf(g.stdout, "  signature: %s\n", outputPath)
			return nil
		},
	}
	trust.registerTrust(cmd, true)
	f := cmd.Flags()
	f.StringVar(&certFile, "cert", "", "PEM signer certificate (further certificates in the file join the chain)")
	f.StringVar(&keyFile, "key", "", "encrypted PKCS#8 PEM key of the certificate")
	f.StringVar(&chainFile, "chain", "", "PEM issuer certificates (default: CERTDIR/chain.pem if present)")
	f.StringVar(&passFile, "passphrase-file", "", "file with the key passphrase (default: $TONGXING_KEY_PASSPHRASE, else KEYDIR/key.pass)")
	f.BoolVar(&detached, "detached", false, "leave the content out of the signature (default)")
	f.BoolVar(&attached, "attached", false, "put the content inside the signature")
	f.StringVar(&tsaURL, "tsa", "", "TSA URL for the signature time-stamp (default: SERVER/tsa)")
	f.BoolVar(&noTSA, "no-tsa", false, "do not time-stamp the signature")
	f.StringVar(&oids, "oids", "", "OID set: gmt0010 (GM/T 0010, the default for SM2 keys) or pkcs7 (RFC 5652 signedData/data OIDs; always for ECDSA keys)")
	f.StringVarP(&outputPath, "output", "o", "", "signature file (default: FILE.p7s)")
	cmd.MarkFlagsMutuallyExclusive("detached", "attached")
	cmd.MarkFlagsMutuallyExclusive("tsa", "no-tsa")
	_ = cmd.MarkFlagRequired("cert")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func newVerifyCmd(g *globals) *cobra.Command {
	var (
		trust         clientFlags
		roots         []string
		asJSON, noRev bool
		requireTS     bool
	)
	cmd := &cobra.Command{
		Use:   "verify FILE.p7s [FILE]",
		Short: "Verify a signed filing: content, signature, time-stamp, chain and revocation",
		Long: `verify checks a CMS SignedData (.p7s, DER or PEM) over FILE (for a detached
signature; when FILE is left out and FILE.p7s ends in .p7s, the file without
that suffix is used if it exists) and prints a report. The signer's chain and
the TSA's chain must lead to a self-signed root in the --ca files; other
certificates there and in the signature help build both chains. The signer's
chain is checked at the trusted time of the signature time-stamp, when there
is one.

Revocation of the signer's certificate is asked of its OCSP responder, and of
its CRL when OCSP gives no usable answer, over HTTPS trusting --cacert; a
certificate revoked after the trusted time still counts as good. The exit
status is 0 only for a VALID signature.`,
		Example: `  tongxing verify filing.pdf.p7s filing.pdf --ca tongxing-data/pki/gm-root.crt
  tongxing verify filing.pdf.p7s --ca roots.pem --json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rootPool, inter, err := filing.Roots(roots)
			if err != nil {
				return err
			}
			p7s, err := filing.ReadLimited(args[0], signature.MaxSignatureSize*2)
			if err != nil {
				return err
			}
			if b, _ := pem.Decode(p7s); b != nil {
				p7s = b.Bytes
			}
			// The certificates in the signature may also issue the TSA's
			// certificate, which a token usually carries alone.
			if sd, err := cms.Parse(p7s); err == nil {
				for _, c := range sd.Certificates {
					inter.AddCert(c)
				}
			}
			contentFile := signedFile(args)
			var content []byte
			if contentFile != "" {
				if content, err = os.ReadFile(contentFile); err != nil {
					return err
				}
			}
			opts := signature.VerifyOptions{Roots: rootPool, Intermediates: inter, RequireTimestamp: requireTS}
			if !noRev {
				_, hc, err := g.httpClient(cmd, &trust)
				if err != nil {
					return err
				}
				rc, err := revcheck.New(revcheck.WithHTTPClient(hc))
				if err != nil {
					return err
				}
				opts.Revocation = rc
			}
			rep, err := signature.Verify(cmd.Context(), p7s, content, opts)
			if err != nil {
				return err
			}
			if err := printReport(cmd.OutOrStdout(), rep, asJSON, len(args) == 1 && contentFile != "", contentFile); err != nil {
				return err
			}
			if !rep.Valid {
				return filing.Invalid(rep)
			}
			return nil
		},
	}
	trust.registerTrust(cmd, false)
	f := cmd.Flags()
	f.StringArrayVar(&roots, "ca", nil, "PEM file of trusted root certificates for signers and TSAs (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&noRev, "no-revocation", false, "do not check the signer certificate's revocation")
	f.BoolVar(&requireTS, "require-timestamp", false, "fail a signature without a valid time-stamp")
	_ = cmd.MarkFlagRequired("ca")
	return cmd
}

// signedFile is the file a signature in args[0] is over: args[1], or for
// FILE.p7s alone FILE when it exists, or "" (attached content).
func signedFile(args []string) string {
	if len(args) == 2 {
		return args[1]
	}
	if name, ok := strings.CutSuffix(args[0], ".p7s"); ok {
		if st, err := os.Stat(name); err == nil && st.Mode().IsRegular() {
			return name
		}
	}
	return ""
}

// printReport writes rep as JSON or as text, in text naming the signed
// file when it was found rather than given.
func printReport(out io.Writer, rep *signature.Report, asJSON, found bool, file string) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if found {
		fmt.Fprintf(out, "signed file: %s\n", file)
	}
	_, err := fmt.Fprint(out, rep.Text())
	return err
}
