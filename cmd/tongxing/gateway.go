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
	"github.com/tongxing/tongxing/server"
)

func newGateway(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "gateway", Short: "Gateway tools: verify the evidence of a call"}
	cmd.AddCommand(newVerifyEvidence(g))
	return cmd
}

// evidenceFlags are the flags of gateway verify-evidence.
type evidenceFlags struct {
	method, path, query, callerTok, ts, bodyFile, audience, prefix, keysFile, server string
	caFiles                                                                          []string
	proofFile, auditKeys                                                             string
	checkExpiry                                                                      bool
}

func newVerifyEvidence(g *globals) *cobra.Command {
	var e evidenceFlags
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
		RunE: func(cmd *cobra.Command, _ []string) error { return e.run(cmd, g) },
	}
	f := cmd.Flags()
	f.StringVar(&e.method, "method", "GET", "request method as received")
	f.StringVar(&e.path, "path", "", "request path as received (percent-encoded)")
	f.StringVar(&e.query, "query", "", "raw query as received")
	f.StringVar(&e.callerTok, "caller-token", "", "value of Tongxing-Caller")
	f.StringVar(&e.ts, "timestamp", "", "value of Tongxing-Timestamp")
	f.StringVar(&e.bodyFile, "body", "", "file holding the request body (default: empty)")
	f.StringVar(&e.audience, "audience", "", "the receiving department (checked against the token's audience)")
	f.StringVar(&e.prefix, "path-prefix", "", "path of the upstream URL, removed from --path")
	f.StringVar(&e.keysFile, "keys", "", "the gateway's JWKS (saved GET /gateway/v1/keys)")
	f.StringVar(&e.server, "server", "", "fetch the keys from this Tongxing server")
	f.StringArrayVar(&e.caFiles, "ca", nil, "PEM CA certificates anchoring the TSA (default DATA/pki/gm-root.crt and gm-issuing.crt)")
	f.StringVar(&e.proofFile, "proof", "", "evidence response (GET /gateway/v1/evidence/{index}) to check the inclusion proof")
	f.StringVar(&e.auditKeys, "audit-keys", "", "checkpoint verifier keys (default DATA/pki/audit-note-keys.txt)")
	f.BoolVar(&e.checkExpiry, "check-expiry", false, "also refuse an expired Tongxing-Caller token")
	cmd.MarkFlagRequired("audience")
	cmd.MarkFlagRequired("path")
	cmd.MarkFlagRequired("caller-token")
	cmd.MarkFlagRequired("timestamp")
	return cmd
}

// run verifies the call's evidence and prints what it proves.
func (e *evidenceFlags) run(cmd *cobra.Command, g *globals) error {
	cfg, err := g.config(cmd)
	if err != nil {
		return err
	}
	keys, err := e.keys(cmd, &cfg)
	if err != nil {
		return err
	}
	if len(e.caFiles) == 0 {
		root := cfg.RootCertFile(kms.GM)
		e.caFiles = []string{root, filepath.Join(filepath.Dir(root), "gm-issuing.crt")}
	}
	roots, inter, err := tsaPools(e.caFiles)
	if err != nil {
		return err
	}
	var body []byte
	if e.bodyFile != "" {
		if body, err = filing.ReadLimited(e.bodyFile, 64<<20); err != nil {
			return err
		}
	}
	h := http.Header{}
	h.Set(gateway.HeaderCaller, e.callerTok)
	h.Set(gateway.HeaderTimestamp, e.ts)
	v := &gateway.Verifier{Keys: keys, Audience: e.audience, TSARoots: roots, TSAIntermediates: inter, PathPrefix: e.prefix, IgnoreExpiry: !e.checkExpiry}
	ev, err := v.Verify(e.method, e.path, e.query, h, body)
	if err != nil {
		return err
	}
	c := ev.Claims
	fmt.Fprintf(g.stdout, "Tongxing-Caller: valid, signed by the gateway\n  caller      %s (department %s)\n  called      %s %s%s?%s\n  resource    %s, purpose %q\n  audit index %d\n  digest      %s\nTongxing-Timestamp: valid, SM2, serial %s, time %s\n",
		c.Subject, c.Department, c.Method, c.Audience, c.Path, c.Query, c.Resource, c.Purpose, c.AuditIndex, c.Digest, ev.TSASerial, ev.TimestampTime.UTC().Format(time.RFC3339Nano))
	if e.proofFile == "" {
		return nil
	}
	return e.checkProof(g, &cfg, c.Digest)
}

// keys reads the gateway's key set from --keys or fetches it from
// --server, and checks that the intl root vouches for every key.
func (e *evidenceFlags) keys(cmd *cobra.Command, cfg *server.Config) (jose.JSONWebKeySet, error) {
	var keys jose.JSONWebKeySet
	root := x509.NewCertPool()
	b, err := os.ReadFile(cfg.RootCertFile(kms.Intl))
	if err != nil || !root.AppendCertsFromPEM(b) {
		return keys, fmt.Errorf("the intl root that vouches for the gateway's keys: %s: %v", cfg.RootCertFile(kms.Intl), err)
	}
	if keys, err = e.readKeys(cmd, root); err != nil {
		return keys, err
	}
	return keys, gateway.CheckKeys(keys, root, cfg.CA.TrustDomain, time.Now())
}

// readKeys reads the gateway's key set from --keys or from --server over
// TLS anchored at root.
func (e *evidenceFlags) readKeys(cmd *cobra.Command, root *x509.CertPool) (jose.JSONWebKeySet, error) {
	var keys jose.JSONWebKeySet
	switch {
	case e.keysFile != "":
		b, err := os.ReadFile(e.keysFile)
		if err != nil {
			return keys, err
		}
		if err := json.Unmarshal(b, &keys); err != nil {
			return keys, fmt.Errorf("--keys: %w", err)
		}
		return keys, nil
	case e.server != "":
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: root, MinVersion: tls.VersionTLS12}}}
		ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
		defer cancel()
		return gateway.FetchKeys(ctx, hc, e.server+"/gateway/v1/keys")
	}
	return keys, errors.New("give --keys (a saved JWKS) or --server")
}

// tsaPools reads the --ca files: self-signed certificates anchor the TSA,
// the others are intermediates.
func tsaPools(files []string) (roots, inter *smx509.CertPool, err error) {
	roots, inter = smx509.NewCertPool(), smx509.NewCertPool()
	for _, f := range files {
		certs, err := filing.ReadCerts(f)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range certs {
			if c.CheckSignatureFrom(c) == nil {
				roots.AddCert(c)
			} else {
				inter.AddCert(c)
			}
		}
	}
	return roots, inter, nil
}

// checkProof checks the evidence response of --proof: the checkpoint's
// signatures with the audit keys, the entry's inclusion, and that the
// entry records the call's digest.
func (e *evidenceFlags) checkProof(g *globals, cfg *server.Config, digest string) error {
	if e.auditKeys == "" {
		e.auditKeys = cfg.AuditNoteKeysFile()
	}
	first, rest, err := noteVerifiers(e.auditKeys)
	if err != nil {
		return err
	}
	b, err := filing.ReadLimited(e.proofFile, 1<<20)
	if err != nil {
		return err
	}
	var resp gateway.EvidenceResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return fmt.Errorf("--proof: %w", err)
	}
	entry, err := gateway.VerifyEvidenceResponse(&resp, first, rest...)
	if err != nil {
		return err
	}
	if entry.RequestDigest != digest {
		return fmt.Errorf("the audit entry %d records digest %s, not the call's %s", entry.Index, entry.RequestDigest, digest)
	}
	fmt.Fprintf(g.stdout, "Audit entry %d: included in the signed checkpoint of size %d (%s, decision %q, policy %s)\n", entry.Index, resp.TreeSize, entry.Action, entry.Decision, entry.PolicyRevision)
	return nil
}
