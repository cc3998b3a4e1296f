package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/access"
)

func newOfficers(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "officers",
		Short: "Officers (三员分立): sysadmin, ra and auditor, each admitting their own",
		Long: `Every officer holds exactly one role: sysadmin (configuration, sign-on
accounts and clients, proposing officers), ra (enrolment codes, certificates,
revocation, key-recovery approvals) or auditor (the audit log).

A sysadmin proposes a new officer (add), a sign-on account for one (bind) or
a new token for one who lost theirs (reissue). An officer of the TARGET role,
neither the proposer nor the officer concerned, approves it. add and reissue
then need both halves to claim the token: the proposer's code (from add or
reissue) and the approver's code (from approve), handed to the new officer,
who runs claim. Every step is in the audit log.`,
	}
	cmd.AddCommand(newOfficerList(g), newOfficerProposals(g), newOfficerAdd(g), newOfficerReissue(g), newOfficerBind(g),
		newOfficerDecide(g, "approve"), newOfficerDecide(g, "reject"), newOfficerClaim(g), newOfficerRevoke(g),
		newOfficerUnbind(g), newOfficerToken(g), newOfficerWhoami(g))
	return cmd
}

// roleFlag selects whose token file an officer command uses.
func roleFlag(cmd *cobra.Command, role *string, def string) {
	cmd.Flags().StringVar(role, "role", def, "use the token of this role's officer (DATA/secrets/ROLE-token) unless --token or $TONGXING_TOKEN is given")
}

func (g *globals) officerClient(cmd *cobra.Command, cf *clientFlags, role string) (*client, error) {
	if role == "" && cf.token == "" && os.Getenv(EnvToken) == "" {
		return nil, fmt.Errorf("which officer? pass --role sysadmin|ra|auditor (to use DATA/secrets/ROLE-token), --token, or set %s", EnvToken)
	}
	if role != "" {
		if err := access.ValidRole(role); err != nil {
			return nil, fmt.Errorf("--role: %w", err)
		}
	}
	if role == "" {
		role = access.RoleSysadmin // a token is given; the file is not read
	}
	return g.client(cmd, cf, role)
}

func newOfficerList(g *globals) *cobra.Command {
	var (
		cf     clientFlags
		role   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the officers (any officer)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.officerClient(cmd, &cf, role)
			if err != nil {
				return err
			}
			var out struct {
				Officers []access.Officer `json:"officers"`
			}
			if err := c.do(cmd, "GET", "/officers/v1/officers", nil, &out); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tTOKEN EXPIRES\tACCOUNT\tAPPROVED BY")
			for _, o := range out.Officers {
				exp := "-"
				if !o.TokenExpiresAt.IsZero() {
					exp = o.TokenExpiresAt.Format("2006-01-02")
				}
				acct := o.Username
				if acct == "" {
					acct = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Name, o.Role, o.Status, exp, acct, o.ApprovedBy)
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	roleFlag(cmd, &role, access.RoleSysadmin)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newOfficerProposals(g *globals) *cobra.Command {
	var (
		cf           clientFlags
		role, status string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "proposals",
		Short: "List proposed officer changes (any officer)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.officerClient(cmd, &cf, role)
			if err != nil {
				return err
			}
			var out struct {
				Proposals []access.Proposal `json:"proposals"`
			}
			if err := c.do(cmd, "GET", "/officers/v1/proposals?"+nonEmpty(map[string]string{"status": status}).Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tOFFICER\tROLE\tSTATUS\tPROPOSED BY\tEXPIRES")
			for _, p := range out.Proposals {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Kind, p.Officer, p.Role, p.Status, p.ProposedBy, p.ExpiresAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	roleFlag(cmd, &role, access.RoleSysadmin)
	cmd.Flags().StringVar(&status, "status", "pending", "pending, approved, rejected, claimed, applied, expired, failed, or \"\" for all")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// propose posts req as the sysadmin and prints the proposer's code and
// what happens next.
func propose(cmd *cobra.Command, g *globals, cf *clientFlags, req access.ProposalRequest, asJSON, quiet bool) error {
	c, err := g.client(cmd, cf, access.RoleSysadmin)
	if err != nil {
		return err
	}
	var out access.ProposalJSON
	if err := c.do(cmd, "POST", "/officers/v1/proposals", req, &out); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(g.stdout).Encode(out)
	}
	p := out.Proposal
	if quiet {
		_, err := fmt.Fprintln(g.stdout, strings.TrimSpace(p.ID+" "+out.ProposerCode))
		return err
	}
	fmt.Fprintf(g.stdout, "proposal:      %s (%s %s, role %s)\nexpires:       %s\n", p.ID, p.Kind, p.Officer, p.Role, p.ExpiresAt.Format(time.RFC3339))
	if out.ProposerCode != "" {
		fmt.Fprintf(g.stdout, "proposer code: %s   (shown once; give it to %s, not to the approver)\n", out.ProposerCode, p.Officer)
	}
	fmt.Fprintf(g.stdout, "next: an officer of role %s other than you and %s runs\n  tongxing officers approve %s --role %s\n", p.Role, p.Officer, p.ID, p.Role)
	if out.ProposerCode != "" {
		fmt.Fprintf(g.stdout, "then %s runs\n  tongxing officers claim %s --proposer-code CODE --approver-code CODE\n", p.Officer, p.ID)
	}
	return nil
}

func newOfficerAdd(g *globals) *cobra.Command {
	var (
		cf     clientFlags
		req    access.ProposalRequest
		asJSON bool
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:     "add NAME --role ROLE",
		Short:   "Propose a new officer (sysadmin); an officer of that role admits them",
		Example: `  tongxing officers add li.ra --role ra`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Kind, req.Officer = access.KindAdd, args[0]
			return propose(cmd, g, &cf, req, asJSON, quiet)
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Role, "role", "", "the new officer's role: sysadmin, ra or auditor")
	f.StringVar(&req.User, "user", "", "bind this sign-on account to the officer (optional)")
	f.StringVar(&req.Comment, "comment", "", "why (recorded)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the proposal ID and the proposer code, on one line")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func newOfficerReissue(g *globals) *cobra.Command {
	var (
		cf     clientFlags
		req    access.ProposalRequest
		asJSON bool
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "reissue NAME",
		Short: "Propose a new token for an officer who lost theirs (sysadmin); another officer of the role approves",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Kind, req.Officer = access.KindToken, args[0]
			return propose(cmd, g, &cf, req, asJSON, quiet)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&req.Comment, "comment", "", "why (recorded)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the proposal ID and the proposer code, on one line")
	return cmd
}

func newOfficerBind(g *globals) *cobra.Command {
	var (
		cf     clientFlags
		req    access.ProposalRequest
		asJSON bool
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:     "bind NAME --user USERNAME",
		Short:   "Propose binding a sign-on account to an officer (sysadmin); another officer of the role approves",
		Example: `  tongxing officers bind li.ra --user li`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Kind, req.Officer = access.KindBind, args[0]
			return propose(cmd, g, &cf, req, asJSON, quiet)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&req.User, "user", "", "the sign-on account")
	cmd.Flags().StringVar(&req.Comment, "comment", "", "why (recorded)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the proposal ID and the proposer code, on one line")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

// newOfficerDecide makes `officers approve|reject ID`.
func newOfficerDecide(g *globals, verb string) *cobra.Command {
	var (
		cf            clientFlags
		role, comment string
		asJSON, quiet bool
	)
	short := map[string]string{
		"approve": "Approve a proposal as an officer of its role (not its proposer, nor the officer it concerns)",
		"reject":  "Reject a proposal (an officer of its role), or withdraw your own",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " PROPOSAL_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.officerClient(cmd, &cf, role)
			if err != nil {
				return err
			}
			var body any
			if comment != "" {
				body = access.CommentJSON{Comment: comment}
			}
			var out access.ProposalJSON
			if err := c.do(cmd, "POST", "/officers/v1/proposals/"+url.PathEscape(args[0])+"/"+verb, body, &out); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			if quiet {
				_, err := fmt.Fprintln(g.stdout, out.ApproverCode)
				return err
			}
			p := out.Proposal
			fmt.Fprintf(g.stdout, "proposal:      %s (%s %s, role %s): %s\n", p.ID, p.Kind, p.Officer, p.Role, p.Status)
			if out.ApproverCode != "" {
				fmt.Fprintf(g.stdout, "approver code: %s   (shown once; give it to %s, not to the proposer)\n", out.ApproverCode, p.Officer)
				fmt.Fprintf(g.stdout, "claim by:      %s\n  tongxing officers claim %s --proposer-code CODE --approver-code CODE\n", p.ExpiresAt.Format(time.RFC3339), p.ID)
			}
			return nil
		},
	}
	cf.register(cmd)
	roleFlag(cmd, &role, "")
	if verb == "reject" {
		cmd.Flags().StringVar(&comment, "comment", "", "why (recorded)")
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the approver code")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// writeTokenFile writes token to path (0600) through a temporary file.
func writeTokenFile(path, token string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := path + ".tmp-" + hex.EncodeToString(rnd[:])
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func newOfficerClaim(g *globals) *cobra.Command {
	var (
		cf       clientFlags
		req      access.ClaimJSON
		ttl, out string
		asJSON   bool
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "claim PROPOSAL_ID --proposer-code CODE --approver-code CODE",
		Short: "Claim your officer token with both codes of an approved proposal (no token needed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Proposal = args[0]
			if ttl != "" {
				d, err := parseValidity(ttl)
				if err != nil {
					return fmt.Errorf("--ttl: %w", err)
				}
				req.TTL = d.String()
			}
			c, err := g.client(cmd, &cf, "")
			if err != nil {
				return err
			}
			var tok access.TokenJSON
			if err := c.do(cmd, "POST", "/officers/v1/claim", req, &tok); err != nil {
				return err
			}
			if out != "" {
				if err := writeTokenFile(out, tok.Token); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "officer %s (role %s): token written to %s (mode 0600), expires %s\n", tok.Officer, tok.Role, out, tok.ExpiresAt.Format(time.RFC3339))
				return nil
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(tok)
			}
			if quiet {
				_, err := fmt.Fprintln(g.stdout, tok.Token)
				return err
			}
			fmt.Fprintf(g.stdout, "officer: %s (role %s)\ntoken:   %s   (shown once; only its hash is stored)\nexpires: %s\n", tok.Officer, tok.Role, tok.Token, tok.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&req.ProposerCode, "proposer-code", "", "the code the proposing sysadmin was given")
	f.StringVar(&req.ApproverCode, "approver-code", "", "the code the approving officer was given")
	f.StringVar(&ttl, "ttl", "", "token lifetime (default 90d, at most 366d)")
	f.StringVarP(&out, "output", "o", "", "write the token to this file (0600) instead of printing it")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the token")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("proposer-code")
	_ = cmd.MarkFlagRequired("approver-code")
	return cmd
}

func newOfficerRevoke(g *globals) *cobra.Command {
	var (
		cf      clientFlags
		comment string
	)
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke an officer and their tokens (sysadmin); never the last usable officer of a role",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd, &cf, access.RoleSysadmin)
			if err != nil {
				return err
			}
			var body any
			if comment != "" {
				body = access.CommentJSON{Comment: comment}
			}
			var o access.Officer
			if err := c.do(cmd, "POST", "/officers/v1/officers/"+url.PathEscape(args[0])+"/revoke", body, &o); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "officer %s (role %s): %s\n", o.Name, o.Role, o.Status)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&comment, "comment", "", "why (recorded)")
	return cmd
}

func newOfficerUnbind(g *globals) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "unbind NAME",
		Short: "Remove the sign-on account bound to an officer (sysadmin; takes effect at once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd, &cf, access.RoleSysadmin)
			if err != nil {
				return err
			}
			var o access.Officer
			if err := c.do(cmd, "POST", "/officers/v1/officers/"+url.PathEscape(args[0])+"/unbind", nil, &o); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "officer %s: no sign-on account\n", o.Name)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}

func newOfficerToken(g *globals) *cobra.Command {
	var (
		cf        clientFlags
		role, ttl string
		out       string
	)
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Renew your own token before it expires; the old one is revoked",
		Long: `token replaces the officer token in use with a new one. When the token came
from DATA/secrets/ROLE-token (or -o is given), the new token is written
there (0600); otherwise it is printed once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.officerClient(cmd, &cf, role)
			if err != nil {
				return err
			}
			var body access.RenewJSON
			if ttl != "" {
				d, err := parseValidity(ttl)
				if err != nil {
					return fmt.Errorf("--ttl: %w", err)
				}
				body.TTL = d.String()
			}
			var tok access.TokenJSON
			if err := c.do(cmd, "POST", "/officers/v1/token", body, &tok); err != nil {
				return err
			}
			if out == "" {
				out = c.tokenFile
			}
			if out != "" {
				if err := writeTokenFile(out, tok.Token); err != nil {
					return fmt.Errorf("the token was renewed but not saved (the old one is revoked): %w\ntoken: %s", err, tok.Token)
				}
				fmt.Fprintf(g.stdout, "officer %s: new token in %s, expires %s\n", tok.Officer, out, tok.ExpiresAt.Format(time.RFC3339))
				return nil
			}
			fmt.Fprintf(g.stdout, "officer: %s (role %s)\ntoken:   %s   (shown once)\nexpires: %s\n", tok.Officer, tok.Role, tok.Token, tok.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	cf.register(cmd)
	roleFlag(cmd, &role, "")
	cmd.Flags().StringVar(&ttl, "ttl", "", "token lifetime (default 90d, at most 366d)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the new token to this file (0600)")
	return cmd
}

func newOfficerWhoami(g *globals) *cobra.Command {
	var (
		cf   clientFlags
		role string
	)
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the officer and expiry of a token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.officerClient(cmd, &cf, role)
			if err != nil {
				return err
			}
			var me access.MeJSON
			if err := c.do(cmd, "GET", "/officers/v1/me", nil, &me); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "officer %s, role %s, token expires %s\n", me.Officer, me.Role, me.TokenExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	cf.register(cmd)
	roleFlag(cmd, &role, "")
	return cmd
}
