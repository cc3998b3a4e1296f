package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/store"
)

// EnvPassphrase is the environment variable holding the CA key passphrase.
const EnvPassphrase = "TONGXING_KEY_PASSPHRASE"

// Initialized reports whether the data directory already holds a PKI.
func Initialized(cfg *Config) bool {
	m, _ := filepath.Glob(filepath.Join(cfg.pkiDir(), "*.crt"))
	return len(m) > 0
}

// InitResult is what [Init] created.
type InitResult struct {
	CAs []*ca.Issuer
	// Officers are the first officers, one of each role, with their
	// tokens: shown once; only their hashes are stored.
	Officers  []access.FirstOfficer
	RootFiles []string
}

// Init creates the PKI in cfg.Data: both CA hierarchies (keys encrypted under
// the passphrase), the pseudonym key, and a first officer of each role
// (sysadmin, ra, auditor) with a token. It refuses to run on an initialised
// directory.
func Init(ctx context.Context, cfg *Config, passphrase []byte) (*InitResult, error) {
	if Initialized(cfg) {
		return nil, fmt.Errorf("init: %s already holds a PKI (%w)", cfg.pkiDir(), ca.ErrPKIExists)
	}
	if err := os.MkdirAll(cfg.secretsDir(), 0o700); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	db, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	km, err := softkms.New(cfg.keysDir(), passphrase)
	if err != nil {
		return nil, err
	}
	defer km.Close()
	if err := writeSecret(filepath.Join(cfg.secretsDir(), "pseudonym.key"), nil, 32); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	pkiOpts, err := cfg.pkiHardening()
	if err != nil {
		return nil, err
	}
	cas, err := ca.InitPKI(ctx, km, cfg.pkiDir(), ca.PKIOptions{
		Policies:        pkiOpts.Policies,
		NameConstraints: pkiOpts.NameConstraints,
		Organization:    cfg.PKI.Organization,
		Suites:          cfg.PKI.Suites,
		RootValidity:    cfg.PKI.RootValidity,
		IssuingValidity: cfg.PKI.IssuingValidity,
		CommonNames:     cfg.PKI.CommonNames,
	})
	if err != nil {
		return nil, err
	}
	// The callers tell the operator about the officers; no log lines.
	first, err := access.New(db, access.WithLogger(slog.New(slog.DiscardHandler))).Bootstrap(ctx, "system:init")
	if err != nil {
		return nil, err
	}
	res := &InitResult{CAs: cas, Officers: first}
	for _, c := range cas {
		if c.Root {
			res.RootFiles = append(res.RootFiles, filepath.Join(cfg.pkiDir(), c.Name+".crt"))
		}
	}
	return res, nil
}

// LoadPassphrase returns the CA key passphrase from TONGXING_KEY_PASSPHRASE or
// cfg.KeyPassphraseFile.
func LoadPassphrase(cfg *Config) ([]byte, error) {
	p, err := softkms.LoadPassphrase(os.Getenv(EnvPassphrase), cfg.KeyPassphraseFile)
	if err != nil {
		return nil, fmt.Errorf("key passphrase: set %s or write it to %s (mode 0600): %w", EnvPassphrase, cfg.KeyPassphraseFile, err)
	}
	return p, nil
}

// DevBootstrap is the zero-configuration first start: it generates a random
// passphrase file (unless a passphrase is configured), runs [Init], and saves
// each first officer's token to its own 0600 file,
// [Config.OfficerTokenFile] of its role. Messages for the operator go to w.
func DevBootstrap(ctx context.Context, cfg *Config, w io.Writer) (*InitResult, error) {
	pass, err := LoadPassphrase(cfg)
	if err != nil {
		if os.Getenv(EnvPassphrase) != "" {
			return nil, err
		}
		if _, statErr := os.Stat(cfg.KeyPassphraseFile); statErr == nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(cfg.KeyPassphraseFile), 0o700); err != nil {
			return nil, err
		}
		pass, err = softkms.GeneratePassphraseFile(cfg.KeyPassphraseFile)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "WARNING: development start: generated a random CA key passphrase in %s (mode 0600).\n", cfg.KeyPassphraseFile)
		fmt.Fprintf(w, "WARNING: anyone who can read that file can use the CA keys. For production run `tongxing init` with %s set.\n", EnvPassphrase)
	}
	res, err := Init(ctx, cfg, pass)
	if err != nil {
		return nil, err
	}
	for _, o := range res.Officers {
		if err := writeSecret(cfg.OfficerTokenFile(o.Role), []byte(o.Token+"\n"), 0); err != nil {
			return nil, err
		}
	}
	if _, err := WriteDataConfig(cfg); err != nil {
		return nil, err
	}
	for _, o := range res.Officers {
		fmt.Fprintf(w, "WARNING: the token of the first %s officer (%s) is in %s (mode 0600); move it somewhere safe.\n", o.Role, o.Name, cfg.OfficerTokenFile(o.Role))
	}
	return res, nil
}

// dataConfigHeader introduces the configuration Tongxing writes into a
// data directory.
const dataConfigHeader = `# Tongxing configuration kept with this data directory; read by every
# command given --data (or run next to it) without --config: the client
# commands find the server at public_url.
# The departments below are EXAMPLES (.example domains, no upstreams):
# replace them with your own. See docs/ARCHITECTURE.md.
`

// dataConfig is what Tongxing writes into DATA/config.yaml: what the set-up
// chose that later commands must agree on.
type dataConfig struct {
	PublicURL         string                  `yaml:"public_url"`
	KeyPassphraseFile string                  `yaml:"key_passphrase_file,omitempty"`
	PKI               dataConfigPKI           `yaml:"pki"`
	Departments       []department.Department `yaml:"departments"`
}

type dataConfigPKI struct {
	Organization string `yaml:"organization"`
}

// WriteDataConfig writes DATA/config.yaml, unless it exists, with the
// public URL, the organisation of the PKI (its TSA and TLS certificates
// name it too), the key passphrase file when it is not the default, and
// the departments (the examples when the configuration names none). It
// reports whether it wrote the file.
func WriteDataConfig(cfg *Config) (bool, error) {
	path := DataConfigFile(cfg.Data)
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	deps := cfg.Departments
	if len(deps) == 0 {
		deps = department.Examples()
	}
	dc := dataConfig{PublicURL: cfg.PublicURL, PKI: dataConfigPKI{Organization: cfg.PKI.Organization}, Departments: deps}
	if cfg.KeyPassphraseFile != filepath.Join(cfg.Data, "secrets", "passphrase") {
		dc.KeyPassphraseFile = cfg.KeyPassphraseFile
	}
	body, err := yaml.Marshal(dc)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return false, err
	}
	if err := os.WriteFile(path, append([]byte(dataConfigHeader), body...), 0o644); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	cfg.Departments = deps
	return true, nil
}

// writeSecret creates path (0600, never overwriting) with data, or with n
// random bytes when data is nil.
func writeSecret(path string, data []byte, n int) error {
	if data == nil {
		data = make([]byte, n)
		if _, err := rand.Read(data); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// TrustInstructions explains how to trust the roots that exist in the data
// directory, for the operator.
func TrustInstructions(cfg *Config) string {
	var b strings.Builder
	intl, gm := cfg.RootCertFile("intl"), cfg.RootCertFile("gm")
	b.WriteString("Root certificates:\n")
	if fileExists(intl) {
		fmt.Fprintf(&b, "  intl (ECDSA P-256): %s   <- the HTTPS server certificate chains to this one\n", intl)
	}
	if fileExists(gm) {
		fmt.Fprintf(&b, "  gm   (SM2/SM3):     %s\n", gm)
	}
	if fileExists(intl) {
		fmt.Fprintf(&b, "Trust the intl root for this server:\n  curl --cacert %s %s/healthz\n", intl, cfg.PublicURL)
		fmt.Fprintf(&b, "  Debian/Ubuntu: sudo cp %s /usr/local/share/ca-certificates/tongxing-intl-root.crt && sudo update-ca-certificates\n", intl)
	}
	if fileExists(gm) {
		issuing := filepath.Join(cfg.pkiDir(), "gm-issuing.crt")
		fmt.Fprintf(&b, "Verify SM2 certificates with OpenSSL 3 (one link at a time: OpenSSL 3 applies the SM2 ID only to the target certificate):\n")
		fmt.Fprintf(&b, "  openssl verify -vfyopt distid:1234567812345678 -CAfile %s %s\n", gm, issuing)
		fmt.Fprintf(&b, "  openssl verify -vfyopt distid:1234567812345678 -partial_chain -CAfile %s cert.pem\n", issuing)
	}
	return b.String()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
