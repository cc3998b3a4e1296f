package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/kmc"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/server"
)

func kmsSuite(s string) kms.Suite { return kms.Suite(s) }

// parseValidity accepts Go durations and whole days (d) or years (y, 365d).
func parseValidity(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "y": 365 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("%q is not a positive number of %s", s, map[string]string{"d": "days", "y": "years"}[suffix])
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration (e.g. 20y, 3650d, 8760h)", s)
	}
	return d, nil
}

func newCA(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "Certificate authority: enrolment codes, requests, inventory"}
	cmd.AddCommand(newEnrolCode(g), newRequest(g), newList(g), newShow(g),
		newStatus(g, "revoke"), newStatus(g, "hold"), newStatus(g, "release"), newRecovery(g))
	return cmd
}

func newEnrolCode(g *globals) *cobra.Command {
	var (
		cf   clientFlags
		req  ca.CodeRequestJSON
		dns  []string
		ips  []string
		ttl  time.Duration
		asJS bool
		q    bool
	)
	cmd := &cobra.Command{
		Use:   "enrol-code",
		Short: "Create a single-use enrolment code bound to a profile and subject (registration officer)",
		Example: `  tongxing ca enrol-code --profile citizen --name 张三 --id-number 11010519491231002X
  tongxing ca enrol-code --profile enterprise-sign --organization 示例科技有限公司 --uscc 91350100M000100Y43
  tongxing ca enrol-code --profile service --department tax --service invoice-api --dns invoice.tax.example`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd, &cf, access.RoleRA)
			if err != nil {
				return err
			}
			req.Subject.DNSNames, req.Subject.IPAddresses = dns, ips
			req.TTL = ttl.String()
			var out ca.CodeJSON
			if err := c.do(cmd, "POST", "/ca/v1/enrolment-codes", req, &out); err != nil {
				return err
			}
			if asJS {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			if q {
				_, err := fmt.Fprintln(g.stdout, out.Code)
				return err
			}
			fmt.Fprintf(g.stdout, "enrolment code: %s\nprofile:        %s\nexpires:        %s\nid:             %s\n", out.Code, out.Profile, out.ExpiresAt.Format(time.RFC3339), out.ID)
			if out.HardwareKey {
				fmt.Fprintln(g.stdout, "key storage:    hardware (as vetted)")
			}
			return nil
		},
	}
	f := cmd.Flags()
	cf.register(cmd)
	f.StringVar(&req.Profile, "profile", "", "certificate profile (citizen, enterprise-sign, service; ocsp, tsa and enterprise-enc are never issued from codes)")
	f.StringVar(&req.Subject.Name, "name", "", "person, agent or signer name")
	f.StringVar(&req.Subject.IDNumber, "id-number", "", "resident identity number (GB 11643)")
	f.StringVar(&req.Subject.Organization, "organization", "", "organisation name")
	f.StringVar(&req.Subject.USCC, "uscc", "", "unified social credit code (GB 32100)")
	f.StringVar(&req.Subject.Department, "department", "", "department slug")
	f.StringVar(&req.Subject.Service, "service", "", "service slug")
	f.StringSliceVar(&dns, "dns", nil, "DNS names (service)")
	f.StringSliceVar(&ips, "ip", nil, "IP addresses (service)")
	newDays(f, &ttl, "ttl", 72*time.Hour, "how long the code stays valid (e.g. 72h, 3d)")
	f.BoolVar(&req.HardwareKey, "hardware-key", false, "you vetted that the subscriber's key is held in hardware: the certificate carries the hardware key-storage policy (citizen, enterprise-sign)")
	f.BoolVar(&asJS, "json", false, "print JSON")
	f.BoolVarP(&q, "quiet", "q", false, "print only the code (for scripts: CODE=$(tongxing ca enrol-code -q ...))")
	cmd.MarkFlagsMutuallyExclusive("json", "quiet")
	_ = cmd.MarkFlagRequired("profile")
	return cmd
}

func newRequest(g *globals) *cobra.Command {
	var (
		cf                  clientFlags
		profile, code, out  string
		suiteName, passFile string
		dual, login, quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "request",
		Short: "Generate a key and CSR, enrol with a code, and write key (encrypted), certificate and chain",
		Long: `request makes a key pair and a CSR, enrols with the code, and writes key.pem
(encrypted PKCS#8), cert.pem and chain.pem into -o/--output, with key.pass,
the generated passphrase, unless --passphrase-file or $TONGXING_KEY_PASSPHRASE
gives one. Nothing is written until the certificate is issued: a request that
fails (server down, code refused) leaves nothing behind and can be run again.
If the answer is lost on the way, it asks again with the same key: the CA
answers a repeated request with the same code and key with the same
certificate.

SM2 keys (gm) are encrypted in the GM/T form (PBKDF2-HMAC-SM3, SM4-CBC);
ECDSA keys (intl: services, login certificates) with PBKDF2-HMAC-SHA256 and
AES-256-CBC, which OpenSSL, curl and nginx read as they are
(ssl_password_file key.pass). ` + "`tongxing key export`" + ` writes other formats.

--login (citizen and enterprise-sign codes) also asks, in the same request, for
an ECDSA P-256 login certificate for the same identity, for browser
certificate login: login-key.pem, login-cert.pem and login-chain.pem. For a
browser:
  tongxing key export login-key.pem --format pkcs12 --cert login-cert.pem --chain login-chain.pem -o login.p12`,
		Example: `  tongxing ca request --profile citizen --code CODE -o ./my-cert --login
  tongxing ca request --profile enterprise --dual --code CODE -o ./e-cert`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd, &cf, "")
			if err != nil {
				return err
			}
			if !dual && profile == "enterprise" {
				return fmt.Errorf("--profile enterprise is the e证通 pair: add --dual (or ask for an enterprise-sign code for a signing certificate alone)")
			}
			if dual {
				return requestDual(cmd, g, c, profile, code, out, passFile, login, quiet)
			}
			return requestOne(cmd, g, c, profile, code, out, kms.Suite(suiteName), passFile, login, quiet)
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&profile, "profile", "", "certificate profile")
	f.StringVar(&code, "code", "", "enrolment code from the registration officer")
	f.StringVarP(&out, "output", "o", ".", "output directory (made 0700 if missing)")
	f.StringVar(&suiteName, "suite", "", "key suite, gm or intl (default: the profile's first)")
	f.StringVar(&passFile, "passphrase-file", "", "file with the passphrase for the keys (default: $TONGXING_KEY_PASSPHRASE, else generated into OUT/key.pass)")
	f.BoolVar(&dual, "dual", false, "e证通 dual certificates (--profile enterprise): a signing pair made here, an encryption pair made and escrowed by the KMC")
	f.BoolVar(&login, "login", false, "also an ECDSA P-256 login certificate for browser certificate login (citizen, enterprise-sign)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the serial(s) on one line: the certificate's (--dual: signing, then encryption), then the login certificate's")
	_ = cmd.MarkFlagRequired("profile")
	_ = cmd.MarkFlagRequired("code")
	return cmd
}

// requestOne makes a key of suite (default: the profile's first) and a CSR,
// enrols with code (and, with login, for a login certificate too), and
// writes the keys (encrypted), certificates and chains into out.
func requestOne(cmd *cobra.Command, g *globals, c *client, profile, code, out string, suite kms.Suite, passFile string, login, quiet bool) error {
	if suite == "" {
		suite = defaultSuite(profile)
	}
	if err := suite.Valid(); err != nil {
		return fmt.Errorf("--suite: %w", err)
	}
	pass, generated, err := subscriberPassphrase(out, passFile)
	if err != nil {
		return err
	}
	names := []string{"key.pem", "cert.pem", "chain.pem"}
	if login {
		names = append(names, "login-key.pem", "login-cert.pem", "login-chain.pem")
	}
	if err := checkOut(out, generated, names); err != nil {
		return err
	}
	key, err := suite.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	csrDER, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{SignatureAlgorithm: suite.SignatureAlgorithm()}, key)
	if err != nil {
		return fmt.Errorf("create CSR: %w", err)
	}
	body := ca.EnrolRequestJSON{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})), Profile: profile, EnrolmentCode: code}
	var loginKey *ecdsa.PrivateKey
	if login {
		if loginKey, body.LoginCSR, err = newLoginCSR(); err != nil {
			return err
		}
	}
	var issued ca.IssuedJSON
	if err := retryLost(cmd, g, func() error { return c.do(cmd, "POST", "/ca/v1/certificates", body, &issued) }); err != nil {
		return requestError(err, profile, login)
	}
	if login && issued.Login == nil {
		return fmt.Errorf("the server returned no login certificate")
	}
	keyPEM, err := encryptSubscriberKey(key, pass)
	if err != nil {
		return err
	}
	files := []outFile{
		{"key.pem", string(keyPEM), 0o600},
		{"cert.pem", issued.Certificate, 0o644},
		{"chain.pem", strings.Join(issued.Chain, ""), 0o644},
	}
	if login {
		lf, err := loginFiles(loginKey, pass, issued.Login)
		if err != nil {
			return err
		}
		files = append(files, lf...)
	}
	if err := writeFiles(out, withPass(files, generated, pass)); err != nil {
		return err
	}
	if quiet {
		warnGenerated(g, generated)
		if login {
			_, err := fmt.Fprintln(g.stdout, issued.Serial, issued.Login.Serial)
			return err
		}
		_, err := fmt.Fprintln(g.stdout, issued.Serial)
		return err
	}
	fmt.Fprintf(g.stdout, "issued %s certificate, serial %s\n  %s (encrypted)\n  %s\n  %s\n", profile, issued.Serial,
		filepath.Join(out, "key.pem"), filepath.Join(out, "cert.pem"), filepath.Join(out, "chain.pem"))
	if login {
		fmt.Fprintf(g.stdout, "issued login certificate, serial %s\n  %s (encrypted, AES-256)\n  %s\n  %s\n", issued.Login.Serial,
			filepath.Join(out, "login-key.pem"), filepath.Join(out, "login-cert.pem"), filepath.Join(out, "login-chain.pem"))
	}
	warnGenerated(g, generated)
	return nil
}

// outFile is a file request writes.
type outFile struct {
	name, data string
	mode       os.FileMode
}

// writeFiles creates dir (0700) and the files in it, none of which may
// exist; when one cannot be written, those already written are removed
// (and dir, if it was made here and is left empty).
func writeFiles(dir string, files []outFile) error {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i, f := range files {
		if err := writeNew(filepath.Join(dir, f.name), []byte(f.data), f.mode); err != nil {
			for _, w := range files[:i] {
				os.Remove(filepath.Join(dir, w.name))
			}
			if statErr != nil {
				os.Remove(dir)
			}
			return fmt.Errorf("write %s: %w", filepath.Join(dir, f.name), err)
		}
	}
	return nil
}

// checkOut fails, before any key is made or request sent, when one of the
// files a request would write into out exists already. generated is the
// passphrase file to write, if any.
func checkOut(out, generated string, names []string) error {
	if generated != "" {
		names = append(names, filepath.Base(generated))
	}
	for _, n := range names {
		if p := filepath.Join(out, n); fileExists(p) {
			return fmt.Errorf("%s exists; choose another --output directory (files of an earlier request are never overwritten)", p)
		}
	}
	return nil
}

// warnGenerated tells, on standard error, where a generated passphrase
// file was written.
func warnGenerated(g *globals, generated string) {
	if generated != "" {
		fmt.Fprintf(g.stderr, "WARNING: the key passphrase was generated into %s (mode 0600); keep it apart from the keys.\n", generated)
	}
}

// withPass adds the generated passphrase file, when there is one, to the
// files a request writes, first, so that no key is ever left without it.
func withPass(files []outFile, generated string, pass []byte) []outFile {
	if generated == "" {
		return files
	}
	return append([]outFile{{filepath.Base(generated), string(pass) + "\n", 0o600}}, files...)
}

// requestError names the next step after a refused or failed enrolment;
// nothing has been written by then, so the same command can be run again.
func requestError(err error, profile string, login bool) error {
	var hint string
	switch {
	case profile == "enterprise":
		hint = "the e证通 pair is requested with --dual"
	case strings.Contains(err.Error(), "enrolment code"):
		hint = "ask the registration officer for a new code (codes are single-use and expire)"
	}
	if hint != "" {
		return fmt.Errorf("%w\n(%s; nothing was written, run the command again when fixed)", err, hint)
	}
	return fmt.Errorf("%w\n(nothing was written; run the command again when fixed)", err)
}

// retryLost runs enrol and, when the answer is lost on the way (a network
// error, not an answer from the server), runs it again with the same keys,
// twice at most: the CA answers a repeated enrolment with the same code and
// key with the same certificate.
func retryLost(cmd *cobra.Command, g *globals, enrol func() error) error {
	var err error
	for attempt := range 3 {
		if err = enrol(); err == nil {
			return nil
		}
		var ue *url.Error
		if !errors.As(err, &ue) || notSent(err) || cmd.Context().Err() != nil {
			return err
		}
		fmt.Fprintf(g.stderr, "no answer from the server (%v); asking again with the same key (%d/2)\n", err, attempt+1)
		time.Sleep(time.Second << attempt)
	}
	return err
}

// newLoginCSR makes an ECDSA P-256 key and a PEM CSR for it.
func newLoginCSR() (*ecdsa.PrivateKey, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	der, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{}, key)
	if err != nil {
		return nil, "", fmt.Errorf("create login CSR: %w", err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// loginFiles are the login key, encrypted with algorithms OpenSSL and
// browsers' import tools read (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC), and
// its certificate and chain.
func loginFiles(key *ecdsa.PrivateKey, pass []byte, iss *ca.IssuedJSON) ([]outFile, error) {
	keyPEM, err := encryptOpenSSL(key, pass)
	if err != nil {
		return nil, fmt.Errorf("login key: %w", err)
	}
	return []outFile{
		{"login-key.pem", string(keyPEM), 0o600},
		{"login-cert.pem", iss.Certificate, 0o644},
		{"login-chain.pem", strings.Join(iss.Chain, ""), 0o644},
	}, nil
}

// defaultSuite is the first suite of a built-in profile, or gm.
func defaultSuite(profile string) kms.Suite {
	profiles, err := ca.LoadProfiles(ca.BuiltinProfiles())
	if p, ok := profiles[profile]; err == nil && ok {
		return p.Suites[0]
	}
	return kms.GM
}

func subscriberPassphrase(out, passFile string) (pass []byte, generated string, err error) {
	if passFile != "" || os.Getenv(server.EnvPassphrase) != "" {
		p, err := softkms.LoadPassphrase(os.Getenv(server.EnvPassphrase), passFile)
		return p, "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", err
	}
	// Written with the keys once the certificate is issued (withPass), so a
	// failed request leaves no passphrase file behind.
	return []byte(base64.RawURLEncoding.EncodeToString(raw)), filepath.Join(out, "key.pass"), nil
}

func newList(g *globals) *cobra.Command {
	var (
		cf                       clientFlags
		profile, subject, status string
		limit                    int
		asJS                     bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List issued certificates (registration officer)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd, &cf, access.RoleRA)
			if err != nil {
				return err
			}
			q := nonEmpty(map[string]string{"profile": profile, "subject": subject, "status": status})
			q.Set("limit", strconv.Itoa(limit))
			var out struct {
				Certificates []ca.Record `json:"certificates"`
			}
			if err := c.do(cmd, "GET", "/ca/v1/certificates?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJS {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERIAL\tPROFILE\tSTATUS\tNOT AFTER\tSUBJECT")
			for _, r := range out.Certificates {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Serial, r.Profile, r.Status, r.NotAfter.Format("2006-01-02"), r.Subject)
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&profile, "profile", "", "only this profile")
	f.StringVar(&subject, "subject", "", "subject contains")
	f.StringVar(&status, "status", "", "valid, revoked or hold")
	f.IntVar(&limit, "limit", 100, "at most this many")
	f.BoolVar(&asJS, "json", false, "print JSON")
	return cmd
}

func newShow(g *globals) *cobra.Command {
	var (
		cf                        clientFlags
		pemOnly, statusOnly, asJS bool
	)
	cmd := &cobra.Command{
		Use:   "show SERIAL",
		Short: "Show one certificate (registration officer; anyone with --status-only)",
		Long: `show prints a certificate's record and PEM, which needs a registration
officer's token. Without one, --status-only asks for what anyone may see:
the status (valid, revoked, hold) and the revocation reason and time.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			role := access.RoleRA
			if statusOnly {
				role = ""
			}
			c, err := g.client(cmd, &cf, role)
			if err != nil {
				return err
			}
			serial, err := ca.ParseSerial(args[0])
			if err != nil {
				return err
			}
			if statusOnly {
				var st ca.StatusJSON
				if err := c.do(cmd, "GET", "/ca/v1/certificates/"+serial, nil, &st); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "serial:       %s\nstatus:       %s\n", st.Serial, st.Status)
				if st.Reason != nil {
					fmt.Fprintf(g.stdout, "reason:       %s\nsince:        %s\n", st.Reason, st.RevokedAt.Format(time.RFC3339))
				}
				return nil
			}
			var rec ca.RecordJSON
			if err := c.do(cmd, "GET", "/ca/v1/certificates/"+serial, nil, &rec); err != nil {
				return err
			}
			if pemOnly {
				_, err := io.WriteString(g.stdout, rec.Certificate)
				return err
			}
			var hist struct {
				Events []ca.Event `json:"events"`
			}
			if err := c.do(cmd, "GET", "/ca/v1/certificates/"+serial+"/events", nil, &hist); err != nil {
				return err
			}
			if asJS {
				return json.NewEncoder(g.stdout).Encode(struct {
					ca.RecordJSON
					Events []ca.Event `json:"events"`
				}{rec, hist.Events})
			}
			return printRecord(g.stdout, rec, hist.Events)
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&pemOnly, "pem", false, "print only the PEM certificate")
	cmd.Flags().BoolVar(&statusOnly, "status-only", false, "only the status, without an officer token")
	cmd.Flags().BoolVar(&asJS, "json", false, "print the record and its status history as JSON")
	cmd.MarkFlagsMutuallyExclusive("pem", "status-only", "json")
	return cmd
}

// printRecord prints a certificate's record, its revocation (reason and
// time) when revoked or on hold, its status history and its PEM.
func printRecord(w io.Writer, rec ca.RecordJSON, events []ca.Event) error {
	fmt.Fprintf(w, "serial:       %s\nprofile:      %s\nsuite:        %s\nstatus:       %s\n", rec.Serial, rec.Profile, rec.Suite, rec.Status)
	if rec.Reason != nil {
		fmt.Fprintf(w, "reason:       %s\nsince:        %s\n", rec.Reason, rec.RevokedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "subject:      %s\nissuer:       %s\nnot before:   %s\nnot after:    %s\nrequested by: %s\n",
		rec.Subject, rec.Issuer, rec.NotBefore.Format(time.RFC3339), rec.NotAfter.Format(time.RFC3339), rec.RequestedBy)
	fmt.Fprintf(w, "history:\n")
	tbl := newTable("  TIME", "CHANGE", "REASON", "BY", "COMMENT")
	tbl.row("  "+rec.CreatedAt.Format(time.RFC3339), "issued", "-", cell(rec.RequestedBy, 40), "-")
	for _, e := range events {
		reason := "-"
		if e.Reason != nil {
			reason = e.Reason.String()
		}
		tbl.row("  "+e.At.Format(time.RFC3339), string(e.From)+" → "+string(e.To), reason, cell(e.Actor, 40), cell(e.Comment, 60))
	}
	if err := tbl.write(w); err != nil {
		return err
	}
	_, err := io.WriteString(w, rec.Certificate)
	return err
}

func newStatus(g *globals, verb string) *cobra.Command {
	var (
		cf              clientFlags
		reason, comment string
	)
	short := map[string]string{
		"revoke":  "Revoke a certificate (final) with an RFC 5280 reason (registration officer)",
		"hold":    "Suspend a certificate (certificateHold) until released (registration officer)",
		"release": "End a certificate's suspension (registration officer)",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " SERIAL",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd, &cf, access.RoleRA)
			if err != nil {
				return err
			}
			serial, err := ca.ParseSerial(args[0])
			if err != nil {
				return err
			}
			var rec ca.RecordJSON
			body := ca.StatusRequestJSON{Reason: reason, Comment: comment}
			if err := c.do(cmd, "POST", "/ca/v1/certificates/"+serial+"/"+verb, body, &rec); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: %s", rec.Serial, rec.Status)
			if rec.Reason != nil {
				fmt.Fprintf(g.stdout, " (%s since %s)", rec.Reason, rec.RevokedAt.Format(time.RFC3339))
			}
			fmt.Fprintln(g.stdout)
			return nil
		},
	}
	cf.register(cmd)
	if verb == "revoke" {
		cmd.Flags().StringVar(&reason, "reason", "unspecified", "keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise, unspecified")
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why (recorded with the change)")
	return cmd
}

// requestDual runs the e证通 dual-certificate exchange with the KMC and
// writes sign-{key,cert,chain}.pem and enc-{key,cert,chain}.pem (and, with
// login, login-{key,cert,chain}.pem), the keys encrypted.
func requestDual(cmd *cobra.Command, g *globals, c *client, profile, code, out, passFile string, login, quiet bool) error {
	if profile != "enterprise" && profile != kmc.SignProfile {
		return fmt.Errorf("--dual is for --profile enterprise (the e证通 pair), not %q", profile)
	}
	pass, generated, err := subscriberPassphrase(out, passFile)
	if err != nil {
		return err
	}
	names := []string{"sign-key.pem", "sign-cert.pem", "sign-chain.pem", "enc-key.pem", "enc-cert.pem", "enc-chain.pem"}
	if login {
		names = append(names, "login-key.pem", "login-cert.pem", "login-chain.pem")
	}
	if err := checkOut(out, generated, names); err != nil {
		return err
	}
	signKey, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	var (
		opts     []kmc.DualOption
		loginKey *ecdsa.PrivateKey
	)
	if login {
		if loginKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return err
		}
		opts = append(opts, kmc.WithLoginKey(loginKey))
	}
	var (
		res    *kmc.DualResult
		encKey *sm2.PrivateKey
	)
	if err := retryLost(cmd, g, func() (err error) {
		res, encKey, err = kmc.RequestDual(cmd.Context(), c.http, c.base, code, signKey, opts...)
		return c.explain(err)
	}); err != nil {
		return requestError(err, "", login)
	}
	pemChain := func(certs []*smx509.Certificate) string {
		var b strings.Builder
		for _, c := range certs {
			b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		}
		return b.String()
	}
	signPEM, err := kms.MarshalEncryptedPEM(signKey, pass)
	if err != nil {
		return err
	}
	encPEM, err := kms.MarshalEncryptedPEM(encKey, pass)
	if err != nil {
		return err
	}
	files := []outFile{
		{"sign-key.pem", string(signPEM), 0o600},
		{"sign-cert.pem", pemChain([]*smx509.Certificate{res.SignCertificate}), 0o644},
		{"sign-chain.pem", pemChain(res.SignChain), 0o644},
		{"enc-key.pem", string(encPEM), 0o600},
		{"enc-cert.pem", pemChain([]*smx509.Certificate{res.EncCertificate}), 0o644},
		{"enc-chain.pem", pemChain(res.EncChain), 0o644},
	}
	if login {
		lf, err := loginFiles(loginKey, pass, &ca.IssuedJSON{Certificate: pemChain([]*smx509.Certificate{res.Login.Certificate}),
			Chain: []string{pemChain(res.Login.Chain)}, Serial: res.Login.Record.Serial})
		if err != nil {
			return err
		}
		files = append(files, lf...)
	}
	if err := writeFiles(out, withPass(files, generated, pass)); err != nil {
		return err
	}
	if quiet {
		warnGenerated(g, generated)
		serials := []string{res.SignSerial, res.EncSerial}
		if login {
			serials = append(serials, res.Login.Record.Serial)
		}
		_, err := fmt.Fprintln(g.stdout, strings.Join(serials, " "))
		return err
	}
	fmt.Fprintf(g.stdout, "issued e证通 pair\n  signing    serial %s: %s, %s\n  encryption serial %s: %s, %s (key escrowed by the KMC)\n",
		res.SignSerial, filepath.Join(out, "sign-key.pem"), filepath.Join(out, "sign-cert.pem"),
		res.EncSerial, filepath.Join(out, "enc-key.pem"), filepath.Join(out, "enc-cert.pem"))
	if login {
		fmt.Fprintf(g.stdout, "  login      serial %s: %s, %s\n", res.Login.Record.Serial, filepath.Join(out, "login-key.pem"), filepath.Join(out, "login-cert.pem"))
	}
	warnGenerated(g, generated)
	return nil
}
