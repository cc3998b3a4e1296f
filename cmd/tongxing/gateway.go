package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/cmd/tongxing/internal/filing"
	"github.com/tongxing/tongxing/gateway"
	"github.com/tongxing/tongxing/kms"
)

func newGateway(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "gateway", Short: "Gateway tools: verify the evidence of a call"}
	cmd.AddCommand(newVerifyEvidence(g))
	return cmd
}

func newVerifyEvidence(g *globals) *cobra.Command {
	var (
		method, path, query, callerTok, ts, bodyFile, audience, prefix, keysFile, server string
		caFiles                                                                          []string
		proofFile, auditKeys                                                             string
		checkExpiry                                                                      bool
	)
	cmd := &cobra.Command{
		Use:   "verify-evidence",
		Short: "Check a call's Tongxing-Caller token and timestamp (and, with --proof, its audit inclusion proof) with the published keys alone",
		Long: `verify-evidence checks, offline, what an upstream received with a call:
the Tongxing-Caller token (ES256 signature by a key of the gateway's published
key set, audience, the request it names: method, path, query, SM3 of the
body, and the request digest recomputed from them) and the Tongxing-Timestamp
token (SM2 signature of a TSA chaining to the gm root, imprint = the digest).
Keys come from --keys (a JWKS file saved from GET /gateway/v1/keys) or are
fetched from --server; TSA roots default to DATA/pki/gm-root.crt with
DATA/pki/gm-issuing.crt. Token expiry is not checked unless --check-expiry
(evidence is usually checked after the fact); replay cannot be checked
offline. With --proof (the body of GET /gateway/v1/evidence/{index}) and
--audit-keys (DATA/pki/audit-note-keys.txt) the checkpoint signature and the
entry's inclusion proof are checked too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config(cmd)
			if err != nil {
				return err
			}
			var keys jose.JSONWebKeySet
			switch {
			case keysFile != "":
				b, err := os.ReadFile(keysFile)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(b, &keys); err != nil {
					return fmt.Errorf("--keys: %w", err)
				}
			case server != "":
				pool := x509.NewCertPool()
				if b, err := os.ReadFile(cfg.RootCertFile(kms.Intl)); err == nil {
					pool.AppendCertsFromPEM(b)
				}
				hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
				ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
				defer cancel()
				if keys, err = gateway.FetchKeys(ctx, hc, server+"/gateway/v1/keys"); err != nil {
					return err
				}
			default:
				return errors.New("give --keys (a saved JWKS) or --server")
			}
			if len(caFiles) == 0 {
				root := cfg.RootCertFile(kms.GM)
				caFiles = []string{root, filepath.Join(filepath.Dir(root), "gm-issuing.crt")}
			}
			roots, inter := smx509.NewCertPool(), smx509.NewCertPool()
			for _, f := range caFiles {
				certs, err := filing.ReadCerts(f)
				if err != nil {
					return err
				}
				for _, c := range certs {
					if c.CheckSignatureFrom(c) == nil {
						roots.AddCert(c)
					} else {
						inter.AddCert(c)
					}
				}
			}
			var body []byte
			if bodyFile != "" {
				if body, err = filing.ReadLimited(bodyFile, 64<<20); err != nil {
					return err
				}
			}
			h := http.Header{}
			h.Set(gateway.HeaderCaller, callerTok)
			h.Set(gateway.HeaderTimestamp, ts)
			v := &gateway.Verifier{Keys: keys, Audience: audience, TSARoots: roots, TSAIntermediates: inter, PathPrefix: prefix, IgnoreExpiry: !checkExpiry}
			ev, err := v.Verify(method, path, query, h, body)
			if err != nil {
				return err
			}
			c := ev.Claims
			fmt.Fprintf(g.stdout, "Tongxing-Caller: valid, signed by the gateway\n  caller      %s (department %s)\n  called      %s %s%s?%s\n  resource    %s, purpose %q\n  audit index %d\n  digest      %s\nTongxing-Timestamp: valid, SM2, serial %s, time %s\n",
				c.Subject, c.Department, c.Method, c.Audience, c.Path, c.Query, c.Resource, c.Purpose, c.AuditIndex, c.Digest, ev.TSASerial, ev.TimestampTime.UTC().Format(time.RFC3339Nano))
			if proofFile != "" {
				if auditKeys == "" {
					auditKeys = cfg.AuditNoteKeysFile()
				}
				first, rest, err := noteVerifiers(auditKeys)
				if err != nil {
					return err
				}
				b, err := filing.ReadLimited(proofFile, 1<<20)
				if err != nil {
					return err
				}
				var resp gateway.EvidenceResponse
				if err := json.Unmarshal(b, &resp); err != nil {
					return fmt.Errorf("--proof: %w", err)
				}
				e, err := gateway.VerifyEvidenceResponse(&resp, first, rest...)
				if err != nil {
					return err
				}
				if e.RequestDigest != c.Digest {
					return fmt.Errorf("the audit entry %d records digest %s, not the call's %s", e.Index, e.RequestDigest, c.Digest)
				}
				fmt.Fprintf(g.stdout, "Audit entry %d: included in the signed checkpoint of size %d (%s, decision %q, policy %s)\n", e.Index, resp.TreeSize, e.Action, e.Decision, e.PolicyRevision)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&method, "method", "GET", "request method as received")
	f.StringVar(&path, "path", "", "request path as received (percent-encoded)")
	f.StringVar(&query, "query", "", "raw query as received")
	f.StringVar(&callerTok, "caller-token", "", "value of Tongxing-Caller")
	f.StringVar(&ts, "timestamp", "", "value of Tongxing-Timestamp")
	f.StringVar(&bodyFile, "body", "", "file holding the request body (default: empty)")
	f.StringVar(&audience, "audience", "", "the receiving department (checked against the token's audience)")
	f.StringVar(&prefix, "path-prefix", "", "path of the upstream URL, removed from --path")
	f.StringVar(&keysFile, "keys", "", "the gateway's JWKS (saved GET /gateway/v1/keys)")
	f.StringVar(&server, "server", "", "fetch the keys from this Tongxing server")
	f.StringArrayVar(&caFiles, "ca", nil, "PEM CA certificates anchoring the TSA (default DATA/pki/gm-root.crt and gm-issuing.crt)")
	f.StringVar(&proofFile, "proof", "", "evidence response (GET /gateway/v1/evidence/{index}) to check the inclusion proof")
	f.StringVar(&auditKeys, "audit-keys", "", "checkpoint verifier keys (default DATA/pki/audit-note-keys.txt)")
	f.BoolVar(&checkExpiry, "check-expiry", false, "also refuse an expired Tongxing-Caller token")
	cmd.MarkFlagRequired("path")
	cmd.MarkFlagRequired("caller-token")
	cmd.MarkFlagRequired("timestamp")
	return cmd
}
