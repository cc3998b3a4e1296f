package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tongxing:", err)
		os.Exit(1)
	}
}

// globals are the flags every command shares.
type globals struct {
	configFile string
	data       string
	database   string
	listen     string
	httpListen string
	publicURL  string
	stdout     io.Writer
	stderr     io.Writer
}

// config returns the effective configuration: defaults, then the --config
// file (or, without one, DATA/config.yaml when it exists), then flags.
func (g *globals) config(cmd *cobra.Command) (server.Config, error) {
	flags := cmd.Flags()
	file := g.configFile
	if file == "" {
		if p := server.DataConfigFile(g.data); fileExists(p) {
			file = p
		}
	}
	cfg, err := server.LoadConfig(file)
	if err != nil {
		return cfg, err
	}
	if file != g.configFile && !flags.Changed("data") {
		cfg.Data = g.data // DATA/config.yaml cannot move its own directory
	}
	if flags.Changed("data") {
		cfg.Data = g.data
	}
	if flags.Changed("database") {
		cfg.Database = g.database
	}
	if flags.Lookup("listen") != nil && flags.Changed("listen") {
		cfg.Listen = g.listen
	}
	if flags.Lookup("http-listen") != nil && flags.Changed("http-listen") {
		cfg.HTTPListen = g.httpListen
	}
	if flags.Changed("public-url") {
		cfg.PublicURL = g.publicURL
	}
	if err := cfg.Resolve(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (g *globals) logger(cfg server.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr, opts))
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "tongxing",
		Short: "Tongxing (通行): PKI security and identity gateway",
		Long: `Tongxing (通行): PKI security and identity gateway.

Start with ` + "`tongxing serve`" + ` (a development PKI on the first start, in
./tongxing-data); the other commands are its clients and find it through
DATA/config.yaml, with the officer token of the role they need from
DATA/secrets/ROLE-token. The README's tour walks through every role.`,
		Example: `  tongxing serve
  tongxing ca enrol-code --profile citizen --name 张三 --id-number 11010519491231002X
  tongxing audit tail -n 20`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.configFile, "config", "", "YAML configuration file")
	pf.StringVar(&g.data, "data", "tongxing-data", "data directory")
	pf.StringVar(&g.publicURL, "public-url", "https://localhost:8443", "public base URL: written into certificates, the OIDC issuer")
	pf.StringVar(&g.database, "database", "", "PostgreSQL URL (postgres://...) or SQLite file (default DATA/tongxing.db)")
	root.AddCommand(newServe(g), newInit(g), newConfig(g), newCA(g), newAudit(g), newUsers(g), newClients(g), newOfficers(g), newLogin(g))
	root.AddCommand(newPolicy(g), newGateway(g), newKey(g))
	addFilingCommands(root, g)
	groupRun(root)
	nameArgs(root)
	setExamples(root)
	root.SetFlagErrorFunc(flagError)
	root.SetGlobalNormalizationFunc(normalizeFlags)
	return root
}

func newServe(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (creates a development PKI on first start)",
		Long: `serve runs Tongxing: the HTTPS API, OpenID Connect provider and portals on
--listen (default :8443), CRLs, OCSP and CA certificates over plain HTTP on
--http-listen (default :8080), and the gateway on gateway.listen (:9443)
once a department has an upstream. It binds its listeners before it writes
anything: a port in use, or a second serve on the same SQLite database,
stops it at once (choose another --listen, or stop the other process).

First start. With no PKI in the data directory (--data, default
./tongxing-data), serve makes a development one, as ` + "`tongxing init`" + ` would:
  DATA/pki/         the CA certificates (gm: SM2, intl: ECDSA P-256) and roots
  DATA/keys/        the CA keys, encrypted under the key passphrase
  DATA/secrets/     passphrase (generated, 0600) and one officer token per
                    role: sysadmin-token, ra-token, auditor-token (0600)
  DATA/tls/         the server's certificate for --public-url's host
  DATA/config.yaml  public_url, organisation and example departments;
                    read by every later command given --data
  DATA/tongxing.db  the SQLite database (or --database postgres://...)
It prints where the roots are and how to trust them; later starts reuse
everything. For production run ` + "`tongxing init`" + ` first with a passphrase of
your own.

Environment:
  TONGXING_KEY_PASSPHRASE  passphrase of the CA keys (else key_passphrase_file,
                           default DATA/secrets/passphrase)
  TONGXING_TOKEN           officer token for the client commands

Configuration: --config FILE, else DATA/config.yaml; flags override both.
` + "`tongxing config print`" + ` shows every effective value.`,
		Example: `  tongxing serve
  tongxing serve --data /srv/tongxing --public-url https://ca.example.gov.cn --listen :443 --http-listen :80
  tongxing serve --config tongxing.yaml --database postgres://tongxing@db/tongxing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config(cmd)
			if err != nil {
				return err
			}
			log := g.logger(cfg)
			ctx := cmd.Context()
			// Bind first: a second serve on the same ports or SQLite
			// database stops here, before it writes anything.
			ls, err := server.Listen(&cfg)
			if err != nil {
				return err
			}
			defer ls.Close()
			if !server.Initialized(&cfg) {
				fmt.Fprintf(g.stderr, "No PKI in %s: creating development CA hierarchies (gm: SM2, intl: ECDSA P-256).\n", cfg.Data)
				if _, err := server.DevBootstrap(ctx, &cfg, g.stderr); err != nil {
					return err
				}
				if cfg, err = g.config(cmd); err != nil { // now with DATA/config.yaml
					return err
				}
			}
			s, err := server.Open(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Fprint(g.stderr, server.TrustInstructions(&cfg))
			fmt.Fprintf(g.stderr, "Serving %s (listening on %s)\n", cfg.PublicURL, cfg.Listen)
			if cfg.HTTPListen != "" {
				fmt.Fprintf(g.stderr, "CRLs, OCSP and CA certificates also at %s (plain HTTP, listening on %s)\n", cfg.PublicHTTPURL, cfg.HTTPListen)
			}
			return s.Serve(ctx, ls, nil)
		},
	}
	cmd.Flags().StringVar(&g.listen, "listen", ":8443", "TLS listen address")
	cmd.Flags().StringVar(&g.httpListen, "http-listen", ":8080", "plain-HTTP listen address of the repository (CRLs, OCSP, CA certificates); empty: none")
	return cmd
}

func newInit(g *globals) *cobra.Command {
	var (
		org, suites, passFile         string
		caNames                       map[string]string
		rootValidity, issuingValidity string
		nameConstraints, allowWeak    bool
		saveTokens                    bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the CA hierarchies, the keys (encrypted) and the first officers",
		Long: `init creates, in the data directory, a root and an issuing CA for each suite
(gm: SM2/SM3, intl: ECDSA P-256/SHA-256). CA keys are encrypted with the
passphrase from $TONGXING_KEY_PASSPHRASE or --key-passphrase-file.
One officer of each role (sysadmin, ra, auditor) is created; their tokens
are printed once, only their hashes are stored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config(cmd)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			if f.Changed("org") {
				cfg.PKI.Organization = org
			}
			if f.Changed("suites") {
				cfg.PKI.Suites = nil
				for _, s := range strings.Split(suites, ",") {
					cfg.PKI.Suites = append(cfg.PKI.Suites, kmsSuite(strings.TrimSpace(s)))
				}
			}
			if f.Changed("root-validity") {
				if cfg.PKI.RootValidity, err = parseValidity(rootValidity); err != nil {
					return fmt.Errorf("--root-validity: %w", err)
				}
			}
			if f.Changed("issuing-validity") {
				if cfg.PKI.IssuingValidity, err = parseValidity(issuingValidity); err != nil {
					return fmt.Errorf("--issuing-validity: %w", err)
				}
			}
			if f.Changed("ca-name") {
				if cfg.PKI.CommonNames == nil {
					cfg.PKI.CommonNames = map[string]string{}
				}
				for k, v := range caNames {
					switch k {
					case "gm-root", "gm-issuing", "intl-root", "intl-issuing":
						cfg.PKI.CommonNames[k] = v
					default:
						return fmt.Errorf("--ca-name %s: the CAs are gm-root, gm-issuing, intl-root and intl-issuing", k)
					}
				}
			}
			if f.Changed("key-passphrase-file") {
				cfg.KeyPassphraseFile = passFile
			}
			if f.Changed("name-constraints") {
				cfg.PKI.NameConstraints = nameConstraints
			}
			if err := cfg.Resolve(); err != nil {
				return err
			}
			return runInit(cmd, g, &cfg, allowWeak, saveTokens)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&allowWeak, "allow-weak-passphrase", false, "accept a short or common CA key passphrase (labs and tests only)")
	f.BoolVar(&saveTokens, "save-tokens", false, "keep the first officers' tokens in DATA/secrets/ROLE-token (0600), where the client commands given --data find them, instead of printing them (labs; in production each holder keeps their own)")
	f.StringVar(&org, "org", "Tongxing", "organisation name in the CA subjects")
	f.StringVar(&suites, "suites", "gm,intl", "algorithm suites to create hierarchies for")
	f.StringVar(&rootValidity, "root-validity", "20y", "root CA validity (e.g. 20y, 7300d, 175200h)")
	f.StringVar(&issuingValidity, "issuing-validity", "10y", "issuing CA validity")
	f.StringToStringVar(&caNames, "ca-name", nil, "common name of a CA, e.g. --ca-name gm-root=\"示例市 SM2 根 CA\" (repeatable)")
	f.StringVar(&passFile, "key-passphrase-file", "", "file holding the CA key passphrase (when $TONGXING_KEY_PASSPHRASE is unset)")
	f.BoolVar(&nameConstraints, "name-constraints", false, "critical name constraints on the intl issuing CA: the departments' domains and IP ranges and tls.hosts (pki.name_constraints)")
	return cmd
}

// runInit checks the passphrase and creates the PKI of cfg, the first
// officers and DATA/config.yaml, and tells the operator about them.
func runInit(cmd *cobra.Command, g *globals, cfg *server.Config, allowWeak, saveTokens bool) error {
	if server.Initialized(cfg) {
		return fmt.Errorf("%s already holds a PKI: init runs once per data directory (start it with `tongxing serve --data %s`)", cfg.Data, cfg.Data)
	}
	pass, err := server.LoadPassphrase(cfg)
	if err != nil {
		return err
	}
	if why := weakPassphrase(pass); why != "" {
		if !allowWeak {
			return fmt.Errorf("the CA key passphrase is too weak: %s. Anyone who copies the data directory can try passphrases offline; choose one of at least %d characters that is not a common password (e.g. five random words), or, for a lab, pass --allow-weak-passphrase", why, minPassphrase)
		}
		fmt.Fprintf(g.stderr, "WARNING: weak CA key passphrase accepted (--allow-weak-passphrase): %s.\n", why)
	}
	res, err := server.Init(cmd.Context(), cfg, pass)
	if err != nil {
		return err
	}
	wrote, err := server.WriteDataConfig(cfg)
	if err != nil {
		return err
	}
	for _, c := range res.CAs {
		fmt.Fprintf(g.stdout, "created %-13s %s (until %s)\n", c.Name, c.Cert.Subject, c.Cert.NotAfter.Format("2006-01-02"))
	}
	fmt.Fprintf(g.stdout, "\nFirst officers, one of each role; their tokens are shown once, store them safely\n(each officer keeps their own; see `tongxing officers --help`):\n")
	for _, o := range res.Officers {
		if saveTokens {
			if err := writeTokenFile(cfg.OfficerTokenFile(o.Role), o.Token); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "  %-8s %-10s token in %s (0600)   (expires %s)\n", o.Role, o.Name, cfg.OfficerTokenFile(o.Role), o.ExpiresAt.Format("2006-01-02"))
			continue
		}
		fmt.Fprintf(g.stdout, "  %-8s %-10s %s   (expires %s)\n", o.Role, o.Name, o.Token, o.ExpiresAt.Format("2006-01-02"))
	}
	fmt.Fprintln(g.stdout)
	if wrote {
		fmt.Fprintf(g.stdout, "Wrote %s (public_url %s, organisation %s): serve and the client commands given --data %s use it.\n\n",
			server.DataConfigFile(cfg.Data), cfg.PublicURL, cfg.PKI.Organization, cfg.Data)
	}
	fmt.Fprint(g.stdout, server.TrustInstructions(cfg))
	return nil
}

func newConfig(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Configuration"}
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (defaults, file, flags)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config(cmd)
			if err != nil {
				return err
			}
			b, err := cfg.YAML()
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(b)
			return err
		},
	}
	print.Flags().StringVar(&g.listen, "listen", ":8443", "TLS listen address")
	print.Flags().StringVar(&g.httpListen, "http-listen", ":8080", "plain-HTTP listen address of the repository")
	cmd.AddCommand(print)
	return cmd
}
