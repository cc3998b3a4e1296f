package server

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tongxing/tongxing/authn"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/department"
	"github.com/tongxing/tongxing/kms"
)

// Config is the effective configuration of `tongxing serve` and `tongxing
// init`: defaults, then the YAML file, then command-line flags.
type Config struct {
	// Listen is the TLS listen address. Default ":8443".
	Listen string `yaml:"listen"`
	// PublicURL is the base URL clients use; it is written into certificates
	// (CRL, OCSP, caIssuers). Default https://localhost:8443.
	PublicURL string `yaml:"public_url"`
	// HTTPListen is the plain-HTTP listen address of the repository: CRLs,
	// OCSP and CA certificates only, signed objects that need no TLS.
	// Default ":8080"; empty turns it off (certificates then name https
	// URLs only).
	HTTPListen string `yaml:"http_listen"`
	// PublicHTTPURL is the base URL of that listener as clients reach it,
	// written into certificates before the https one. Default: http://, the
	// host of public_url and the port of http_listen.
	PublicHTTPURL string `yaml:"public_http_url"`
	// Data is the data directory. Default ./tongxing-data.
	Data string `yaml:"data"`
	// Database is a PostgreSQL URL or a SQLite path. Default DATA/tongxing.db.
	Database string `yaml:"database"`
	// KeyPassphraseFile holds the passphrase of the CA keys when
	// TONGXING_KEY_PASSPHRASE is not set. Default DATA/secrets/passphrase.
	KeyPassphraseFile string `yaml:"key_passphrase_file"`
	// ShutdownTimeout bounds the graceful shutdown. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// PprofListen, when set, serves Go's profiler (net/http/pprof) on its
	// own plain-HTTP listener, e.g. "127.0.0.1:6060", for performance
	// work. Default: off. It exposes the process's internals: keep it on a
	// loopback address.
	PprofListen string `yaml:"pprof_listen"`
	// TrustedProxies are the load balancers (CIDR prefixes or addresses)
	// whose word on the client's address is believed: Forwarded or
	// X-Forwarded-For on HTTP, a PROXY protocol v1/v2 header on TCP
	// passthrough. Everyone else's such headers are ignored (HTTP) or
	// refused (PROXY). Default: none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// DrainDelay is how long a replica told to stop keeps serving while
	// /readyz already reports it unready, so that balancers with active
	// health checks stop sending it requests first. Default 0.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// ReplicaID names this process among replicas sharing a database; it
	// keys per-replica state such as the TSA's high-water mark. It must be
	// stable across restarts and unique among running replicas. Default:
	// the host name and the listen address, e.g. "host1/:8443".
	ReplicaID string `yaml:"replica_id"`

	// Departments is the department registry: the one list that gateway
	// routes, the certificate name policy, ACME, OIDC clients and SPIFFE
	// IDs refer to.
	Departments []department.Department `yaml:"departments"`

	PKI   PKIConfig   `yaml:"pki"`
	CA    CAConfig    `yaml:"ca"`
	TSA   TSAConfig   `yaml:"tsa"`
	Audit AuditConfig `yaml:"audit"`
	ACME  ACMEConfig  `yaml:"acme"`
	OIDC  OIDCConfig  `yaml:"oidc"`
	TLS   TLSConfig   `yaml:"tls"`
	Log   LogConfig   `yaml:"log"`

	// Gateway configures the gateway at /gw/ on its own listener.
	Gateway GatewayConfig `yaml:"gateway"`

	// deprecations are warnings about migrated settings, logged at start.
	deprecations []string
}

// TSAConfig configures the timestamp authority at /tsa.
type TSAConfig struct {
	// Policy is the TSA policy OID written into tokens. The default lies
	// under IANA's documentation enterprise number 32473 (RFC 5612):
	// a deployment sets an OID its organisation has registered.
	Policy string `yaml:"policy"`
	// AcceptedPolicies are further policy OIDs a request may ask for.
	AcceptedPolicies []string `yaml:"accepted_policies"`
	// Accuracy stated in tokens. Default 1s.
	Accuracy time.Duration `yaml:"accuracy"`
	// BackwardsTolerance is how far this replica's clock may appear to go
	// back relative to its own latest token before the TSA refuses.
	// Default 0. Replicas do not compare their clocks with each other.
	BackwardsTolerance time.Duration `yaml:"backwards_tolerance"`
}

// ACMEConfig configures ACME for department service certificates
// (https://HOST/acme/DEPARTMENT/directory). ACME is off while Departments is
// empty.
type ACMEConfig struct {
	// Departments offered ACME; each must be in the department registry,
	// whose name policy (domains, ip_ranges, wildcards) decides what it may
	// order, as for enrolment codes.
	Departments []string `yaml:"departments"`
	// AllowedNames is deprecated: the department registry's name policy
	// replaces it. An entry is migrated at start into that department's
	// domains ("*.x" also allows wildcards) or ip_ranges, with a warning.
	AllowedNames map[string][]string `yaml:"allowed_names,omitempty"`
	// RequireEAB requires external account binding on new accounts.
	RequireEAB bool `yaml:"require_eab"`
}

// OIDCConfig configures the OpenID Connect provider; its issuer is
// public_url. Clients from here are read at start; `tongxing clients add`
// stores more in the database.
type OIDCConfig struct {
	Clients []authn.ClientConfig `yaml:"clients"`
	// KeyRotation is how long a signing key stays current before the next
	// one, published since the last rotation, replaces it. Default 2160h.
	KeyRotation time.Duration `yaml:"key_rotation"`
	// AccessTokenAlg is the JWS algorithm of access tokens: RS256 (the
	// default, which every resource server accepts), ES256 (P-256, several
	// times cheaper to sign) or SM2 (SM2 with SM3, for resource servers
	// that accept it). ID tokens stay RS256 as OpenID Connect requires.
	AccessTokenAlg string `yaml:"access_token_alg"`
}

// AuditConfig configures the audit log.
type AuditConfig struct {
	// Origin names the log in its checkpoints (C2SP tlog-checkpoint).
	// Default: the public URL's host followed by "/audit".
	Origin string `yaml:"origin"`
	// CheckpointInterval is how often a checkpoint is signed while entries
	// arrive. Default 1s.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
}

// DefaultTSAPolicy is the OID of Tongxing's default timestamp policy.
const DefaultTSAPolicy = "1.3.6.1.4.1.32473.1.1"

// PKIConfig says what `tongxing init` creates.
type PKIConfig struct {
	Organization    string            `yaml:"organization"`
	Suites          []kms.Suite       `yaml:"suites"`
	RootValidity    time.Duration     `yaml:"root_validity"`
	IssuingValidity time.Duration     `yaml:"issuing_validity"`
	CommonNames     map[string]string `yaml:"common_names"`
	// CertificatePolicies of the CA certificates `init` makes. Default
	// anyPolicy (2.5.29.32.0); a list of your own must include every
	// policy your profiles use.
	CertificatePolicies []string `yaml:"certificate_policies"`
	// NameConstraints puts critical name constraints on the intl issuing
	// CA at `init`: the departments' domains and IP ranges and tls.hosts.
	// Default false.
	NameConstraints bool `yaml:"name_constraints"`
}

// CAConfig configures issuance.
type CAConfig struct {
	// TrustDomain of SPIFFE IDs in service certificates. Default tongxing.internal.
	TrustDomain string `yaml:"trust_domain"`
	// ProfilesDir, when set, replaces the built-in profiles with the *.yaml
	// files in that directory.
	ProfilesDir string `yaml:"profiles_dir"`
	// ProfileOptions overrides profile options, e.g.
	// {citizen: {identity_code_extension: true}}.
	ProfileOptions map[string]map[string]any `yaml:"profile_options"`
	// CertificatePolicies replaces the certificatePolicies OIDs of profiles,
	// e.g. {citizen: ["1.2.156.xxx.1.1"]}. The built-in profiles carry
	// EXAMPLE OIDs under 1.3.6.1.4.1.32473 (RFC 5612).
	CertificatePolicies map[string][]string `yaml:"certificate_policies"`
	// KeyStoragePolicies are the policy OIDs that say whether a subscriber's
	// key is held in software or, as the registration officer recorded at
	// vetting, in hardware. Defaults are EXAMPLES: 1.3.6.1.4.1.32473.3.1
	// (software) and 1.3.6.1.4.1.32473.3.2 (hardware).
	KeyStoragePolicies KeyStoragePoliciesConfig `yaml:"key_storage_policies"`
	// Refusals limits refused enrolment requests per source address:
	// a burst, then one more per interval, answered 429 beyond; refusals
	// are audited once per source per audit interval, with a count.
	// Requests that succeed are never limited.
	Refusals RefusalsConfig `yaml:"refusals"`
}

// KeyStoragePoliciesConfig names the key-storage policy OIDs.
type KeyStoragePoliciesConfig struct {
	Software string `yaml:"software"`
	Hardware string `yaml:"hardware"`
}

// RefusalsConfig configures the limits on refused enrolments (ca.RefusalLimits).
type RefusalsConfig struct {
	Burst         int           `yaml:"burst"`          // default 20
	Every         time.Duration `yaml:"every"`          // default 3s
	AuditInterval time.Duration `yaml:"audit_interval"` // default 1m
}

// TLSConfig configures the server certificate made from the intl chain.
type TLSConfig struct {
	// Hosts are the DNS names and IP addresses of the server certificate.
	// Default localhost, 127.0.0.1, ::1.
	Hosts []string `yaml:"hosts"`
}

// LogConfig configures structured logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error; default info
	Format string `yaml:"format"` // text or json; default text
}

// DefaultConfig returns the zero-configuration defaults.
func DefaultConfig() Config {
	return Config{
		Listen:          ":8443",
		HTTPListen:      ":8080",
		PublicURL:       "https://localhost:8443",
		Data:            "tongxing-data",
		ShutdownTimeout: 30 * time.Second,
		PKI: PKIConfig{
			Organization:    "Tongxing",
			Suites:          []kms.Suite{kms.GM, kms.Intl},
			RootValidity:    20 * 365 * 24 * time.Hour,
			IssuingValidity: 10 * 365 * 24 * time.Hour,
		},
		CA: CAConfig{TrustDomain: "tongxing.internal",
			KeyStoragePolicies: KeyStoragePoliciesConfig{Software: ca.DefaultSoftwareKeyPolicy.String(), Hardware: ca.DefaultHardwareKeyPolicy.String()},
			Refusals:           RefusalsConfig{Burst: 20, Every: 3 * time.Second, AuditInterval: time.Minute}},
		TSA: TSAConfig{Policy: DefaultTSAPolicy, Accuracy: time.Second},
		TLS: TLSConfig{Hosts: []string{"localhost", "127.0.0.1", "::1"}},
		Log: LogConfig{Level: "info", Format: "text"},
	}
}

// MaxConfigSize bounds the configuration file.
const MaxConfigSize = 1 << 20

// LoadConfig reads a YAML file over the defaults. Unknown keys are errors.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if len(b) > MaxConfigSize {
		return cfg, fmt.Errorf("config %s: %d bytes, at most %d", path, len(b), MaxConfigSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Resolve fills in values derived from others and validates the result.
func (c *Config) Resolve() error {
	if c.Data == "" {
		return fmt.Errorf("config: data directory is empty")
	}
	if c.Database == "" {
		c.Database = filepath.Join(c.Data, "tongxing.db")
	}
	if c.KeyPassphraseFile == "" {
		c.KeyPassphraseFile = filepath.Join(c.Data, "secrets", "passphrase")
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("config: public_url %q is not an absolute http(s) URL", c.PublicURL)
	}
	if err := c.resolveHTTP(u); err != nil {
		return err
	}
	for _, s := range c.PKI.Suites {
		if err := s.Valid(); err != nil {
			return fmt.Errorf("config: pki.suites: %w", err)
		}
	}
	if c.ReplicaID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		c.ReplicaID = host + "/" + c.Listen
	}
	if len(c.ReplicaID) > 200 {
		return fmt.Errorf("config: replica_id is longer than 200 bytes")
	}
	if c.Audit.Origin == "" {
		c.Audit.Origin = u.Host + "/audit"
	}
	switch c.OIDC.AccessTokenAlg {
	case "", authn.AlgRS256, authn.AlgES256, authn.AlgSM2:
	default:
		return fmt.Errorf("config: oidc.access_token_alg %q is not RS256, ES256 or SM2", c.OIDC.AccessTokenAlg)
	}
	if c.OIDC.KeyRotation <= 0 {
		c.OIDC.KeyRotation = 90 * 24 * time.Hour
	}
	if c.Audit.CheckpointInterval <= 0 {
		c.Audit.CheckpointInterval = time.Second
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("config: shutdown_timeout must be positive")
	}
	if err := c.migrateACMEAllowedNames(); err != nil {
		return err
	}
	if _, err := c.DepartmentRegistry(); err != nil {
		return fmt.Errorf("config: departments: %w", err)
	}
	if err := c.Gateway.resolve(); err != nil {
		return err
	}
	if err := c.checkACMEDepartments(); err != nil {
		return err
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format %q is not text or json", c.Log.Format)
	}
	return nil
}

// YAML renders the configuration, for `tongxing config print`.
func (c *Config) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DepartmentRegistry returns the validated registry of c.Departments.
func (c *Config) DepartmentRegistry() (*department.Registry, error) {
	return department.New(c.Departments...)
}

// Paths inside the data directory.
func (c *Config) pkiDir() string     { return filepath.Join(c.Data, "pki") }
func (c *Config) keysDir() string    { return filepath.Join(c.Data, "keys") }
func (c *Config) secretsDir() string { return filepath.Join(c.Data, "secrets") }

// legacyAdminTokenFile is where earlier versions' development start wrote
// the token of the all-powerful admin; the server renames it to
// sysadmin-token at start.
func (c *Config) legacyAdminTokenFile() string { return filepath.Join(c.secretsDir(), "admin-token") }

// OfficerTokenFile is where the development start keeps the token of the
// first officer of role (sysadmin, ra or auditor), and where the server
// writes the token of a first officer it creates at start for a role left
// without a usable one. The CLI reads it for commands of that role.
func (c *Config) OfficerTokenFile(role string) string {
	return filepath.Join(c.secretsDir(), role+"-token")
}

// DataConfigFile is DATA/config.yaml: the configuration kept with the data
// directory, read when no --config file is given.
func DataConfigFile(data string) string { return filepath.Join(data, "config.yaml") }

// RootCertFile is the PEM file of a suite's root CA.
func (c *Config) RootCertFile(s kms.Suite) string {
	return filepath.Join(c.pkiDir(), string(s)+"-root.crt")
}
