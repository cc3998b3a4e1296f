package acmeca

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
)

// Option configures [New] and [NewCAS].
type Option func(*options)

type options struct {
	departments []string
	profile     string
	stateDir    string
	postgres    string
	eab         bool
	dial        DialFunc
	log         *slog.Logger
}

// WithDepartments adds departments, by slug, each getting its own ACME
// provisioner and directory /acme/SLUG/directory. At least one is required,
// and each must be in the authority's department registry
// ([ca.WithDepartments]), whose name policy decides what it may order.
func WithDepartments(slugs ...string) Option {
	return func(o *options) { o.departments = append(o.departments, slugs...) }
}

// WithProfile sets the Tongxing profile of ACME certificates. It must take
// department and service and may take dns_names and ip_addresses, and must
// allow the intl suite. Default "service".
func WithProfile(name string) Option { return func(o *options) { o.profile = name } }

// WithStateDir keeps the ACME state in the bbolt file DIR/acme.db, creating
// DIR (mode 0700) when missing. For single-process deployments (SQLite). One
// of WithStateDir and [WithPostgres] is required.
func WithStateDir(dir string) Option { return func(o *options) { o.stateDir = dir } }

// WithPostgres keeps the ACME state in PostgreSQL: the database named by dsn
// (a postgres:// URL or key=value string, as Tongxing's --database), in its
// own schema "acme", created when missing (the role needs CREATE on the
// database). Replicas sharing the database share accounts, orders and nonces.
func WithPostgres(dsn string) Option { return func(o *options) { o.postgres = dsn } }

// WithExternalAccountBinding makes every department require external account
// binding (RFC 8555 §7.3.4) on new-account; keys come from
// [Server.NewExternalAccountKey]. Default: not required (an EAB sent anyway
// is not checked, as step-ca does).
func WithExternalAccountBinding() Option { return func(o *options) { o.eab = true } }

// WithChallengeDialer sets how challenge validation connects: http-01 to
// NAME:80, tls-alpn-01 to NAME:443. Default a net.Dialer with a 30 s timeout.
// Deployments whose services are reached through a port mapping, and tests,
// use it to direct those connections.
func WithChallengeDialer(dial DialFunc) Option { return func(o *options) { o.dial = dial } }

// WithLogger sets the structured logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

func newOptions(opts []Option) (*options, error) {
	o := &options{profile: "service", log: slog.Default()}
	for _, fn := range opts {
		fn(o)
	}
	if len(o.departments) == 0 {
		return nil, errors.New("acmeca: no departments: pass WithDepartments")
	}
	seen := map[string]bool{}
	for _, d := range o.departments {
		if !slugRE.MatchString(d) {
			return nil, fmt.Errorf("acmeca: department %q is not a slug (lower-case letters, digits and '-', at most 63)", d)
		}
		if seen[d] {
			return nil, fmt.Errorf("acmeca: department %q given twice", d)
		}
		seen[d] = true
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return o, nil
}

func (o *options) hasDepartment(d string) bool { return slices.Contains(o.departments, d) }
