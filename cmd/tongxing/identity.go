package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/server"
	"github.com/tongxing/tongxing/store"
)

// withProvider opens the database and the OIDC provider of the configured
// data directory for an operator command on the server host.
func (g *globals) withProvider(cmd *cobra.Command, fn func(ctx context.Context, p *authn.Provider) error) error {
	cfg, err := g.config(cmd)
	if err != nil {
		return err
	}
	pass, err := server.LoadPassphrase(&cfg)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	db, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	km, err := softkms.New(filepath.Join(cfg.Data, "keys"), pass)
	if err != nil {
		return err
	}
	defer km.Close()
	p, err := server.OpenProvider(ctx, &cfg, db, km)
	if err != nil {
		return err
	}
	return fn(ctx, p)
}

func newUsers(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Citizen accounts of the sign-on service"}
	var (
		nu            authn.NewUser
		passwordStdin bool
	)
	add := &cobra.Command{
		Use:     "add USERNAME",
		Short:   "Add an account (password from $TONGXING_USER_PASSWORD or --password-stdin)",
		Example: `  printf '%s' 'correct horse battery staple' | tongxing users add zhangsan --password-stdin --name 张三 --id-number 11010519491231002X`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nu.Username = args[0]
			switch {
			case passwordStdin:
				b, err := io.ReadAll(io.LimitReader(bufio.NewReader(cmd.InOrStdin()), 4096))
				if err != nil {
					return err
				}
				nu.Password = strings.TrimRight(string(b), "\r\n")
			default:
				nu.Password = os.Getenv("TONGXING_USER_PASSWORD")
			}
			if nu.Password == "" {
				return fmt.Errorf("no password: pipe it with --password-stdin or set TONGXING_USER_PASSWORD")
			}
			return g.withProvider(cmd, func(ctx context.Context, p *authn.Provider) error {
				u, err := p.Users().AddUser(ctx, nu)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "added account %s (id %s)\n", nu.Username, u.ID)
				return nil
			})
		},
	}
	f := add.Flags()
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	f.StringVar(&nu.Name, "name", "", "full name")
	f.StringVar(&nu.Email, "email", "", "e-mail address")
	f.StringVar(&nu.Phone, "phone", "", "phone number")
	f.StringVar(&nu.CitizenID, "id-number", "", "resident identity number (stored only as a keyed hash and its last four characters)")
	cmd.AddCommand(add)
	return cmd
}

func newClients(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Portals and services registered with the sign-on service"}
	var (
		c      authn.ClientConfig
		asJSON bool
	)
	add := &cobra.Command{
		Use:     "add CLIENT_ID",
		Short:   "Register a client; prints its secret once",
		Example: `  tongxing clients add tax-portal --name 税务门户 --department tax --redirect-uri https://tax.example/callback`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.ID = args[0]
			return g.withProvider(cmd, func(ctx context.Context, p *authn.Provider) error {
				secret, err := p.AddClient(ctx, c)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(map[string]string{"client_id": c.ID, "client_secret": secret})
				}
				fmt.Fprintf(g.stdout, "client_id:     %s\n", c.ID)
				if secret != "" {
					fmt.Fprintf(g.stdout, "client_secret: %s   (shown once; only its hash is stored)\n", secret)
				}
				return nil
			})
		},
	}
	f := add.Flags()
	f.StringVar(&c.Name, "name", "", "name shown on the login page")
	f.StringVar(&c.Department, "department", "", "department running the client")
	f.StringSliceVar(&c.RedirectURIs, "redirect-uri", nil, "redirect URI, matched exactly (repeatable)")
	f.StringVar(&c.TokenEndpointAuthMethod, "auth-method", "client_secret_basic", "client_secret_basic, client_secret_post or none (public client, PKCE)")
	f.StringSliceVar(&c.Scopes, "scope", nil, "scopes the client may obtain (default: all)")
	f.StringVar(&c.MinACR, "min-acr", "", "least assurance level, e.g. urn:tongxing:loa:3")
	f.StringVar(&c.SubjectType, "subject-type", "", "pairwise (default) or public")
	f.StringVar(&c.IDTokenSignedResponseAlg, "id-token-alg", "", "RS256 (default), ES256 or SM2")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(add)
	return cmd
}
