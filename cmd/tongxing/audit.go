package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/auditlog"
	"github.com/tongxing/tongxing/auditlog/sm2note"
	"github.com/tongxing/tongxing/store"
)

func newAudit(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Audit log: tail, search, export, verify (security officer)"}
	cmd.AddCommand(newAuditTail(g), newAuditSearch(g), newAuditExport(g), newAuditVerify(g), newAuditVerifyBundle(g))
	return cmd
}

// searchPage is one page of GET /audit/v1/entries.
type searchPage struct {
	Entries    []json.RawMessage `json:"entries"`
	NextCursor string            `json:"next_cursor"`
}

func newAuditTail(g *globals) *cobra.Command {
	var (
		cf     clientFlags
		n      int
		since  time.Duration
		follow bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print the newest entries as a table, or JSON lines with --json (through the API: the read is itself logged)",
		Example: `  tongxing audit tail -n 20
  tongxing audit tail --since 7d --json | jq .action
  tongxing audit tail -f`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd, &cf, access.RoleAuditor)
			if err != nil {
				return err
			}
			q := url.Values{"from": {time.Now().Add(-since).UTC().Format(time.RFC3339Nano)}, "limit": {"1000"}}
			var last []json.RawMessage
			for {
				var page searchPage
				if err := c.do(cmd, "GET", "/audit/v1/entries?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				last = append(last, page.Entries...)
				if len(last) > n {
					last = last[len(last)-n:]
				}
				if page.NextCursor == "" {
					if !follow {
						break
					}
					if err := printAudit(g.stdout, asJSON, last); err != nil {
						return err
					}
					last = nil
					select {
					case <-cmd.Context().Done():
						return nil
					case <-time.After(2 * time.Second):
					}
					continue
				}
				q.Set("cursor", page.NextCursor)
			}
			return printAudit(g.stdout, asJSON, last)
		},
	}
	cf.register(cmd)
	cmd.Flags().IntVarP(&n, "lines", "n", 20, "how many entries")
	newDays(cmd.Flags(), &since, "since", 24*time.Hour, "look back this far (e.g. 30m, 24h, 7d)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON lines (auditlog's canonical entries) instead of a table")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new entries")
	return cmd
}

func newAuditSearch(g *globals) *cobra.Command {
	var (
		cf                                            clientFlags
		from, to, actor, department, action, decision string
		subject                                       string
		limit                                         int
		asJSON                                        bool
	)
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Search entries by time, actor, department, action, decision or citizen (through the API)",
		Example: `  tongxing audit search --action ca.certificate.revoke --from 2026-11-01T00:00:00Z
  tongxing audit search --actor officer:li --limit 50`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd, &cf, access.RoleAuditor)
			if err != nil {
				return err
			}
			q := nonEmpty(map[string]string{"from": from, "to": to, "actor": actor, "department": department, "action": action, "decision": decision, "subject": subject})
			printed := 0
			p := newAuditPrinter(g.stdout, asJSON)
			for printed < limit {
				q.Set("limit", strconv.Itoa(min(1000, limit-printed)))
				var page searchPage
				if err := c.do(cmd, "GET", "/audit/v1/entries?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				for _, e := range page.Entries {
					if err := p.print(e); err != nil {
						return err
					}
					printed++
				}
				if page.NextCursor == "" || len(page.Entries) == 0 {
					break
				}
				q.Set("cursor", page.NextCursor)
			}
			return p.flush()
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "entries at or after this RFC 3339 time")
	f.StringVar(&to, "to", "", "entries before this RFC 3339 time")
	f.StringVar(&actor, "actor", "", "actor subject, e.g. officer:li")
	f.StringVar(&department, "department", "", "actor's or object's department")
	f.StringVar(&action, "action", "", "action, e.g. ca.certificate.issue")
	f.StringVar(&decision, "decision", "", "allow or deny")
	f.StringVar(&subject, "subject", "", "citizen subject (sent to the server, which searches by its keyed hash)")
	f.IntVar(&limit, "limit", 100, "at most this many entries")
	f.BoolVar(&asJSON, "json", false, "print JSON lines (auditlog's canonical entries) instead of a table")
	return cmd
}

func newAuditExport(g *globals) *cobra.Command {
	var (
		cf               clientFlags
		from, to, action string
		out              string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export an evidence bundle: entries with inclusion proofs and the checkpoint they prove against",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd, &cf, access.RoleAuditor)
			if err != nil {
				return err
			}
			q := nonEmpty(map[string]string{"from": from, "to": to, "action": action})
			body, err := c.stream(cmd, "/audit/v1/export?"+q.Encode())
			if err != nil {
				return err
			}
			defer body.Close()
			w := g.stdout
			if out != "" && out != "-" {
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			_, err = io.Copy(w, body)
			return err
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "entries at or after this RFC 3339 time")
	f.StringVar(&to, "to", "", "entries before this RFC 3339 time")
	f.StringVar(&action, "action", "", "only this action")
	f.StringVarP(&out, "output", "o", "-", "bundle file (JSON lines); - for standard output")
	return cmd
}

// printAudit prints entries as a table or, asJSON, as JSON lines.
func printAudit(w io.Writer, asJSON bool, entries []json.RawMessage) error {
	p := newAuditPrinter(w, asJSON)
	for _, e := range entries {
		if err := p.print(e); err != nil {
			return err
		}
	}
	return p.flush()
}

// noteVerifiers reads the checkpoint verifier keys written by the server.
func noteVerifiers(path string) (note.Verifier, []note.Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint verifier keys: %w", err)
	}
	var (
		first note.Verifier
		rest  []note.Verifier
	)
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var v note.Verifier
		if sm2, err := sm2note.NewVerifierFromKey(line); err == nil {
			v = sm2
		} else if ed, err := note.NewVerifier(line); err == nil {
			v = ed
		} else {
			return nil, nil, fmt.Errorf("%s: %q is not a verifier key", path, line)
		}
		if first == nil {
			first = v
		} else {
			rest = append(rest, v)
		}
	}
	if first == nil {
		return nil, nil, fmt.Errorf("%s holds no verifier key", path)
	}
	return first, rest, nil
}

func newAuditVerify(g *globals) *cobra.Command {
	var keys string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the whole tree from storage, check every checkpoint's signatures and consistency, name the first bad index",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config(cmd)
			if err != nil {
				return err
			}
			if keys == "" {
				keys = cfg.AuditNoteKeysFile()
			}
			first, rest, err := noteVerifiers(keys)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			db, err := store.Open(ctx, cfg.Database)
			if err != nil {
				return err
			}
			defer db.Close()
			rep, err := auditlog.NewReader(db).Verify(ctx, first, rest...)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "audit log OK: %d entries, root %x, %d checkpoints verified (%s)\n", rep.Size, rep.Root, rep.Checkpoints, rep.Elapsed.Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&keys, "keys", "", "checkpoint verifier keys (default DATA/pki/audit-note-keys.txt)")
	return cmd
}

func newAuditVerifyBundle(g *globals) *cobra.Command {
	var key, origin string
	cmd := &cobra.Command{
		Use:   "verify-bundle BUNDLE.jsonl",
		Short: "Verify an exported evidence bundle offline against the audit public key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return fmt.Errorf("--key AUDIT-PUB.pem is required (the server writes it to DATA/pki/audit-sm2.pub.pem)")
			}
			pemBytes, err := os.ReadFile(key)
			if err != nil {
				return err
			}
			pub, err := sm2note.ParsePublicKeyPEM(pemBytes)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			if origin == "" {
				cfg, err := g.config(cmd)
				if err != nil {
					return err
				}
				origin = cfg.Audit.Origin
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			rep, err := auditlog.VerifyBundleKey(f, origin, pub)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "bundle OK: %d entries proven against checkpoint %s size %d\n", rep.Entries, rep.Checkpoint.Origin, rep.Checkpoint.Size)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "PEM SM2 audit public key")
	cmd.Flags().StringVar(&origin, "origin", "", "the audit log's origin (default: audit.origin of the configuration)")
	return cmd
}
