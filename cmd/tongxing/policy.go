package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/authz"
	"github.com/tongxing/tongxing/policies"
	"github.com/tongxing/tongxing/server"
)

func newPolicy(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Gateway policy: build and sign bundles, run the Rego tests, explain decisions, activate bundles",
	}
	cmd.AddCommand(newPolicyBuild(g), newPolicyTest(), newPolicyEval(g), newPolicyPush(g), newPolicyShow(g))
	return cmd
}

// policyFS is the policy directory dir, or the built-in example policy
// when dir is empty.
func policyFS(dir string) (fs.FS, string) {
	if dir == "" {
		return policies.FS, "built-in example policy"
	}
	return os.DirFS(dir), dir
}

func newPolicyBuild(g *globals) *cobra.Command {
	var dir, out, revision string
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build a policy directory into a bundle signed with the data directory's policy-signer key",
		Long: `build reads a policy directory (Rego modules and data.json, as in policies/;
*_test.rego files stay out) and writes a standard OPA bundle (.tar.gz) signed
with OPA's bundle signature format (ES256, key id tongxing-policy) by the
policy-signer key in the data directory (created by the first serve; its
public key is DATA/pki/policy-signer.pub.pem). Stock opa verifies it:

  opa build --bundle policy.tar.gz --verification-key DATA/pki/policy-signer.pub.pem \
      --verification-key-id tongxing-policy --signing-alg ES256 -o /dev/null

The revision defaults to "r-" and 12 hex digits of a hash of the content.
Activate the bundle with ` + "`tongxing policy push`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config(cmd)
			if err != nil {
				return err
			}
			fsys, name := policyFS(dir)
			b, err := authz.Build(fsys, revision)
			if err != nil {
				return err
			}
			if _, err := authz.Load(cmd.Context(), b); err != nil {
				return fmt.Errorf("%s does not compile: %w", name, err)
			}
			key, closeKM, err := server.PolicySigner(cmd.Context(), &cfg)
			if err != nil {
				return err
			}
			defer closeKM()
			if err := authz.Sign(b, key); err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := authz.Write(&buf, b); err != nil {
				return err
			}
			if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s: revision %s, %d modules, signed (verification key %s)\n", out, b.Manifest.Revision, len(b.Modules), cfg.PolicyVerificationKeyFile())
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "policy directory (default: the built-in example policy)")
	cmd.Flags().StringVarP(&out, "output", "o", "policy.tar.gz", "bundle file to write")
	cmd.Flags().StringVar(&revision, "revision", "", "bundle revision (default: derived from the content)")
	return cmd
}

func newPolicyTest() *cobra.Command {
	var dir string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the Rego unit tests (test_* rules) of a policy directory with OPA's test runner",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fsys, name := policyFS(dir)
			results, err := authz.RunTests(cmd.Context(), fsys)
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				if !r.Pass() {
					failed++
					fmt.Fprintf(cmd.OutOrStdout(), "FAIL %s\n", r.String())
				} else if verbose {
					fmt.Fprintf(cmd.OutOrStdout(), "PASS %s\n", r.String())
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d passed, %d failed\n", name, len(results)-failed, failed)
			if len(results) == 0 {
				return errors.New("no tests found")
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d policy tests failed", failed, len(results))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "policy directory (default: the built-in example policy)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing tests too")
	return cmd
}

func newPolicyEval(g *globals) *cobra.Command {
	var dir, bundleFile, input string
	var explain bool
	cmd := &cobra.Command{
		Use:   "eval --input input.json",
		Short: "Evaluate and explain one gateway decision",
		Long: `eval evaluates data.tongxing.gateway.decision for an input document (see
policies/README.md) with a policy directory or a signed bundle (verified with
DATA/pki/policy-signer.pub.pem) and prints the decision; --explain adds OPA's
evaluation trace.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := os.ReadFile(input)
			if err != nil {
				return fmt.Errorf("--input: %w", err)
			}
			if len(raw) > 1<<20 {
				return errors.New("--input: larger than 1 MiB")
			}
			var in any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&in); err != nil {
				return fmt.Errorf("--input: %w", err)
			}
			var p *authz.Policy
			if bundleFile != "" {
				cfg, err := g.config(cmd)
				if err != nil {
					return err
				}
				v, err := server.ReadPolicyVerifier(&cfg)
				if err != nil {
					return err
				}
				f, err := os.Open(bundleFile)
				if err != nil {
					return err
				}
				defer f.Close()
				b, err := authz.Read(f, v)
				if err != nil {
					return err
				}
				if p, err = authz.Load(cmd.Context(), b); err != nil {
					return err
				}
			} else {
				fsys, _ := policyFS(dir)
				b, err := authz.ReadDir(fsys)
				if err != nil {
					return err
				}
				if p, err = authz.Load(cmd.Context(), b); err != nil {
					return err
				}
			}
			var trace io.Writer
			var tb strings.Builder
			if explain {
				trace = &tb
			}
			d, err := p.Explain(cmd.Context(), in, trace)
			if explain {
				fmt.Fprintln(g.stdout, tb.String())
			}
			if err != nil {
				return err
			}
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(map[string]any{"revision": p.Revision(), "decision": d})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "policy directory (default: the built-in example policy)")
	cmd.Flags().StringVar(&bundleFile, "bundle", "", "signed bundle instead of a directory")
	cmd.Flags().StringVar(&input, "input", "", "input document (JSON)")
	cmd.Flags().BoolVar(&explain, "explain", false, "print the evaluation trace")
	cmd.MarkFlagRequired("input")
	return cmd
}

func newPolicyPush(g *globals) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "push BUNDLE",
		Short: "Activate a signed bundle on the server (sysadmin); every replica loads it without restart",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd, &cf, access.RoleSysadmin)
			if err != nil {
				return err
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var info authz.BundleJSON
			if err := c.send(cmd, http.MethodPut, "/authz/v1/bundle", "application/gzip", bytes.NewReader(raw), &info); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "activated revision %s (sha256 %s) by %s; this replica evaluates with %s\n", info.Revision, info.SHA256, info.ActivatedBy, info.Loaded)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}

func newPolicyShow(g *globals) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the active bundle's revision (sysadmin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd, &cf, access.RoleSysadmin)
			if err != nil {
				return err
			}
			var info map[string]any
			if err := c.do(cmd, http.MethodGet, "/authz/v1/bundle", nil, &info); err != nil {
				return err
			}
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(info)
		},
	}
	cf.register(cmd)
	return cmd
}
