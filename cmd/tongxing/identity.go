package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/authn"
)

// readPassword returns the password from standard input (--password-stdin)
// or $TONGXING_USER_PASSWORD.
func readPassword(cmd *cobra.Command, stdin bool) (string, error) {
	pw := os.Getenv("TONGXING_USER_PASSWORD")
	if stdin {
		b, err := io.ReadAll(io.LimitReader(bufio.NewReader(cmd.InOrStdin()), 4096))
		if err != nil {
			return "", err
		}
		pw = strings.TrimRight(string(b), "\r\n")
	}
	if pw == "" {
		return "", fmt.Errorf("no password: pipe it with --password-stdin or set TONGXING_USER_PASSWORD")
	}
	return pw, nil
}

func printAccount(g *globals, a *authn.AccountJSON, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(g.stdout).Encode(a)
	}
	fmt.Fprintf(g.stdout, "account:  %s (id %s)\n", a.Username, a.ID)
	if a.Name != "" {
		fmt.Fprintf(g.stdout, "name:     %s\n", a.Name)
	}
	fmt.Fprintf(g.stdout, "totp:     %v\n", a.TOTP)
	if !a.LockedUntil.IsZero() {
		fmt.Fprintf(g.stdout, "locked:   until %s\n", a.LockedUntil.Format(time.RFC3339))
	}
	if a.Officer != "" {
		fmt.Fprintf(g.stdout, "officer:  %s (its password and one-time code cannot be reset by a sysadmin)\n", a.Officer)
	}
	return nil
}

func newUsers(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Citizen accounts of the sign-on service (system administrator)"}

	var (
		cf            clientFlags
		nu            authn.NewUserJSON
		passwordStdin bool
		asJSON        bool
	)
	add := &cobra.Command{
		Use:     "add USERNAME",
		Short:   "Add an account (password from $TONGXING_USER_PASSWORD or --password-stdin)",
		Example: `  printf '%s' 'correct horse battery staple' | tongxing users add zhangsan --password-stdin --name 张三 --id-number 11010519491231002X`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nu.Username = args[0]
			pw, err := readPassword(cmd, passwordStdin)
			if err != nil {
				return err
			}
			nu.Password = pw
			c, err := g.client(cmd, &cf, access.RoleSysadmin)
			if err != nil {
				return err
			}
			var a authn.AccountJSON
			if err := c.do(cmd, "POST", "/authn/v1/users", nu, &a); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(a)
			}
			fmt.Fprintf(g.stdout, "added account %s (id %s)\n", a.Username, a.ID)
			return nil
		},
	}
	cf.register(add)
	f := add.Flags()
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	f.StringVar(&nu.Name, "name", "", "full name")
	f.StringVar(&nu.Email, "email", "", "e-mail address")
	f.StringVar(&nu.Phone, "phone", "", "phone number")
	f.StringVar(&nu.IDNumber, "id-number", "", "resident identity number (stored only as a keyed hash and its last four characters)")
	f.BoolVar(&asJSON, "json", false, "print JSON")

	cmd.AddCommand(add, newUserList(g), newUserAction(g, "show"), newUserAction(g, "unlock"), newUserAction(g, "totp-reset"), newUserPassword(g))
	return cmd
}

func newUserList(g *globals) *cobra.Command {
	var (
		cf       clientFlags
		q, after string
		limit    int
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List accounts by user name (the listing is recorded in the audit log)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd, &cf, access.RoleSysadmin)
			if err != nil {
				return err
			}
			params := nonEmpty(map[string]string{"q": q, "after": after})
			params.Set("limit", strconv.Itoa(limit))
			var out struct {
				Users []authn.AccountJSON `json:"users"`
			}
			if err := c.do(cmd, "GET", "/authn/v1/users?"+params.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tNAME\tTOTP\tLOCKED UNTIL\tOFFICER")
			for _, a := range out.Users {
				locked := "-"
				if !a.LockedUntil.IsZero() {
					locked = a.LockedUntil.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", a.Username, a.Name, a.TOTP, locked, a.Officer)
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&q, "q", "", "only accounts whose user name or name contains this")
	f.StringVar(&after, "after", "", "start after this user name (paging)")
	f.IntVar(&limit, "limit", 100, "at most this many")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// newUserAction makes `users show|unlock|totp-reset USERNAME`.
func newUserAction(g *globals, verb string) *cobra.Command {
	var (
		cf     clientFlags
		asJSON bool
	)
	short := map[string]string{
		"show":       "Show an account",
		"unlock":     "End the login lockout of an account after failed passwords",
		"totp-reset": "Remove an account's one-time-code factor (refused for an account bound to an officer)",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " USERNAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd, &cf, access.RoleSysadmin)
			if err != nil {
				return err
			}
			method, path := "POST", "/authn/v1/users/"+url.PathEscape(args[0])+"/"+verb
			if verb == "show" {
				method, path = "GET", "/authn/v1/users/"+url.PathEscape(args[0])
			}
			var a authn.AccountJSON
			if err := c.do(cmd, method, path, nil, &a); err != nil {
				return err
			}
			return printAccount(g, &a, asJSON)
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newUserPassword(g *globals) *cobra.Command {
	var (
		cf            clientFlags
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "password USERNAME",
		Short: "Set a new password for an account (refused for an account bound to an officer)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd, passwordStdin)
			if err != nil {
				return err
			}
			c, err := g.client(cmd, &cf, access.RoleSysadmin)
			if err != nil {
				return err
			}
			var a authn.AccountJSON
			if err := c.do(cmd, "POST", "/authn/v1/users/"+url.PathEscape(args[0])+"/password", authn.PasswordJSON{Password: pw}, &a); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "password of %s set\n", a.Username)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newClients(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Portals and services registered with the sign-on service (system administrator)"}
	var (
		cf     clientFlags
		c      authn.ClientConfig
		asJSON bool
	)
	add := &cobra.Command{
		Use:   "add CLIENT_ID",
		Short: "Register a client; prints its secret once",
		Example: `  tongxing clients add tax-portal --name 税务门户 --department tax --redirect-uri https://tax.example/callback \
      --post-logout-redirect-uri https://tax.example/ --backchannel-logout-uri https://tax.example/logout
  tongxing clients add tax-invoice --name 发票服务 --department tax --target-department renshe --subject-type public`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.ID = args[0]
			cl, err := g.client(cmd, &cf, access.RoleSysadmin)
			if err != nil {
				return err
			}
			var out authn.ClientSecretJSON
			if err := cl.do(cmd, "POST", "/authn/v1/clients", c, &out); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			fmt.Fprintf(g.stdout, "client_id:     %s\n", out.ClientID)
			if out.ClientSecret != "" {
				fmt.Fprintf(g.stdout, "client_secret: %s   (shown once; only its hash is stored)\n", out.ClientSecret)
			}
			return nil
		},
	}
	cf.register(add)
	f := add.Flags()
	f.StringVar(&c.Name, "name", "", "name shown on the login page")
	f.StringVar(&c.Department, "department", "", "department running the client")
	f.StringSliceVar(&c.RedirectURIs, "redirect-uri", nil, "redirect URI, matched exactly (repeatable)")
	f.StringVar(&c.TokenEndpointAuthMethod, "auth-method", "client_secret_basic", "client_secret_basic, client_secret_post or none (public client, PKCE)")
	f.StringSliceVar(&c.Scopes, "scope", nil, "scopes the client may obtain (default: all)")
	f.StringVar(&c.MinACR, "min-acr", "", "least assurance level, e.g. urn:tongxing:loa:3")
	f.StringVar(&c.SubjectType, "subject-type", "", "pairwise (default) or public")
	f.StringVar(&c.SectorIdentifier, "sector-identifier", "", "host name pairwise subjects are computed for (default: the redirect URIs' host)")
	f.StringVar(&c.IDTokenSignedResponseAlg, "id-token-alg", "", "RS256 (default), ES256 or SM2")
	f.StringSliceVar(&c.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "where RP-initiated logout may return the browser, matched exactly (repeatable)")
	f.StringVar(&c.BackchannelLogoutURI, "backchannel-logout-uri", "", "receives logout tokens when a session the client took part in ends")
	f.StringSliceVar(&c.TargetDepartments, "target-department", nil, "a department this service may get access tokens for (client credentials, token exchange; repeatable)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(add)
	return cmd
}
