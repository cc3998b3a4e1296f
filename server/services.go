package server

import (
	"context"
	"encoding/asn1"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/acmeca"
	"github.com/tongxing/tongxing/ca/kmc"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/signature"
	"github.com/tongxing/tongxing/store"
	"github.com/tongxing/tongxing/timestamp"
	"github.com/tongxing/tongxing/timestamp/sqlmark"
)

// openOCSP makes sure each issuing CA has a delegated responder and returns
// the responder.
func (s *Server) openOCSP(ctx context.Context) (*ca.OCSPResponder, error) {
	var keys []*ca.ResponderKey
	for _, c := range s.CA.CAs() {
		if c.Root {
			continue
		}
		k, err := s.CA.EnsureResponder(ctx, s.km, s.cfg.pkiDir(), c.Name)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return ca.NewOCSPResponder(s.CA, s.db, keys)
}

// openKMC opens the KMC with its master key from the key manager (see
// kmcMasterKey).
func (s *Server) openKMC(ctx context.Context) (*kmc.Centre, error) {
	mk, err := kmcMasterKey(ctx, s.km, s.cfg.LegacyKMCMasterKeyFile(), s.log)
	if err != nil {
		return nil, err
	}
	defer clear(mk)
	return kmc.New(s.CA, s.db, mk, kmc.WithLogger(s.log), kmc.WithAuditor(caAuditor{s.audit}))
}

// openTSA gives the timestamp authority a key and tsa-profile certificate per
// suite (tsa-gm, tsa-intl) and this replica's high-water mark of genTime in
// the database.
func (s *Server) openTSA(ctx context.Context) (*timestamp.Authority, error) {
	var opts []timestamp.Option
	var first *ca.ResponderKey
	var firstChain []*smx509.Certificate
	for _, suite := range []kms.Suite{kms.GM, kms.Intl} {
		issuer := string(suite) + "-issuing"
		if _, err := s.CA.CA(issuer); err != nil {
			continue
		}
		label := map[kms.Suite]string{kms.GM: "SM2", kms.Intl: "ECDSA"}[suite]
		k, err := s.CA.EnsureServiceKey(ctx, s.km, s.cfg.pkiDir(), ca.ServiceKeySpec{
			Name: "tsa-" + string(suite), Issuer: issuer, Profile: "tsa",
			Subject: ca.Subject{Name: s.cfg.PKI.Organization + " Timestamp Authority (" + label + ")", Organization: s.cfg.PKI.Organization},
		})
		if err != nil {
			return nil, err
		}
		chain, err := s.CA.Chain(issuer)
		if err != nil {
			return nil, err
		}
		chain = append([]*smx509.Certificate{k.Cert}, chain...)
		if first == nil {
			first, firstChain = k, chain
		} else {
			opts = append(opts, timestamp.WithSigner(k.Signer, chain))
		}
	}
	if first == nil {
		return nil, fmt.Errorf("tsa: no issuing CA to certify the timestamp authority")
	}
	policy, err := ca.ParseOID(s.cfg.TSA.Policy)
	if err != nil {
		return nil, fmt.Errorf("config: tsa.policy: %w", err)
	}
	var accepted []asn1.ObjectIdentifier
	for _, p := range s.cfg.TSA.AcceptedPolicies {
		oid, err := ca.ParseOID(p)
		if err != nil {
			return nil, fmt.Errorf("config: tsa.accepted_policies: %w", err)
		}
		accepted = append(accepted, oid)
	}
	mark, err := sqlmark.New(s.db, "tsa/"+s.cfg.ReplicaID)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		timestamp.WithPolicy(policy),
		timestamp.WithAccuracy(s.cfg.TSA.Accuracy),
		timestamp.WithWatermark(mark, 0),
		timestamp.WithBackwardsTolerance(s.cfg.TSA.BackwardsTolerance),
		timestamp.WithLogger(s.log))
	if len(accepted) > 0 {
		opts = append(opts, timestamp.WithAcceptedPolicies(accepted...))
	}
	tsa, err := timestamp.NewAuthority(first.Signer, firstChain, opts...)
	if err != nil {
		return nil, err
	}
	s.registerTSAMetrics(tsa)
	return tsa, nil
}

// registerTSAMetrics exports the TSA's counters, including clock refusals,
// and whether this replica sequences the audit log.
func (s *Server) registerTSAMetrics(tsa *timestamp.Authority) {
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tongxing_audit_sequencer",
		Help: "1 while this replica sequences the audit log (one replica at a time), else 0."}, func() float64 {
		if s.audit.IsSequencer() {
			return 1
		}
		return 0
	}))
	counter := func(name, help string, v func(timestamp.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(tsa.Stats())) })
	}
	s.registry.MustRegister(
		counter("tongxing_tsa_tokens_gm_total", "Timestamp tokens issued with SM2/SM3.", func(st timestamp.Stats) uint64 { return st.TokensGM }),
		counter("tongxing_tsa_tokens_intl_total", "Timestamp tokens issued with ECDSA.", func(st timestamp.Stats) uint64 { return st.TokensIntl }),
		counter("tongxing_tsa_rejections_total", "Timestamp requests rejected.", func(st timestamp.Stats) uint64 { return st.Rejections }),
		counter("tongxing_tsa_clock_backwards_total", "Refusals because the clock went backwards.", func(st timestamp.Stats) uint64 { return st.ClockBackwards }),
		counter("tongxing_tsa_clock_drift_total", "Refusals because the clock drifted past the bound.", func(st timestamp.Stats) uint64 { return st.ClockDrift }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tongxing_tsa_clock_ok", Help: "1 while the TSA clock is trusted, 0 after a clock refusal."}, func() float64 {
			if tsa.Stats().ClockOK {
				return 1
			}
			return 0
		}),
	)
}

// signatureVerifier serves /signature/v1/verify: chains to this server's
// roots, revocation from the CA's inventory.
func (s *Server) signatureVerifier() *signature.VerifyOptions {
	roots := smx509.NewCertPool()
	inter := smx509.NewCertPool()
	for _, c := range s.CA.CAs() {
		if c.Root {
			roots.AddCert(c.Cert)
		} else {
			inter.AddCert(c.Cert)
		}
	}
	return &signature.VerifyOptions{Roots: roots, Intermediates: inter, Revocation: s.CA}
}

// openACME starts the ACME server when departments are configured. Its
// state lives in DATA/acme (bbolt) on SQLite deployments and in the
// PostgreSQL schema "acme" otherwise.
func (s *Server) openACME(ctx context.Context) (*acmeca.Server, error) {
	if len(s.cfg.ACME.Departments) == 0 {
		return nil, nil
	}
	opts := []acmeca.Option{acmeca.WithDepartments(s.cfg.ACME.Departments...), acmeca.WithLogger(s.log)}
	if s.cfg.ACME.RequireEAB {
		opts = append(opts, acmeca.WithExternalAccountBinding())
	}
	if store.IsPostgresDSN(s.cfg.Database) {
		opts = append(opts, acmeca.WithPostgres(s.cfg.Database))
	} else {
		opts = append(opts, acmeca.WithStateDir(filepath.Join(s.cfg.Data, "acme")))
	}
	return acmeca.New(ctx, s.CA, opts...)
}

// caHousekeeping erases the subject data of used and expired enrolment
// codes, and drops full ID numbers codes do not need, at start and every
// hour; every refusal audit interval it writes the audit entries of the
// enrolment refusals counted in windows that closed.
func (s *Server) caHousekeeping(ctx context.Context) {
	purge := time.NewTicker(time.Hour)
	defer purge.Stop()
	flush := time.NewTicker(s.CA.RefusalAuditInterval())
	defer flush.Stop()
	s.purgeCodes(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-purge.C:
			s.purgeCodes(ctx)
		case <-flush.C:
			if err := s.CA.FlushRefusals(ctx, false); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "audit counted enrolment refusals", "err", err)
			}
		}
	}
}

func (s *Server) purgeCodes(ctx context.Context) {
	if purged, minimised, err := s.CA.PurgeCodes(ctx); err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "purge enrolment codes", "err", err)
	} else if purged+minimised > 0 {
		s.log.InfoContext(ctx, "purged enrolment codes", "purged", purged, "minimised", minimised)
	}
}

// keyStoragePolicies parses ca.key_storage_policies.
func (c *Config) keyStoragePolicies() (ca.KeyStoragePolicies, error) {
	sw, err := ca.ParseOID(c.CA.KeyStoragePolicies.Software)
	if err != nil {
		return ca.KeyStoragePolicies{}, fmt.Errorf("config: ca.key_storage_policies.software: %w", err)
	}
	hw, err := ca.ParseOID(c.CA.KeyStoragePolicies.Hardware)
	if err != nil {
		return ca.KeyStoragePolicies{}, fmt.Errorf("config: ca.key_storage_policies.hardware: %w", err)
	}
	return ca.KeyStoragePolicies{Software: sw, Hardware: hw}, nil
}

// caPolicies parses pki.certificate_policies.
func (c *Config) caPolicies() ([]asn1.ObjectIdentifier, error) {
	var out []asn1.ObjectIdentifier
	for _, s := range c.PKI.CertificatePolicies {
		oid, err := ca.ParseOID(s)
		if err != nil {
			return nil, fmt.Errorf("config: pki.certificate_policies: %w", err)
		}
		out = append(out, oid)
	}
	return out, nil
}

// pkiHardening returns what `init` adds to the CA certificates: their
// certificate policies and, with pki.name_constraints, the name constraints
// of the intl issuing CA: every department's domains and IP ranges,
// tls.hosts (Tongxing's own HTTPS names) and the SPIFFE trust domain.
func (c *Config) pkiHardening() (ca.PKIOptions, error) {
	var o ca.PKIOptions
	var err error
	if o.Policies, err = c.caPolicies(); err != nil {
		return o, err
	}
	if !c.PKI.NameConstraints {
		return o, nil
	}
	nc := &ca.NameConstraints{URIDomains: []string{c.CA.TrustDomain}}
	for _, d := range c.Departments {
		nc.DNSDomains = append(nc.DNSDomains, d.Domains...)
		for _, r := range d.IPRanges {
			_, n, err := net.ParseCIDR(strings.TrimSpace(r))
			if err != nil {
				return o, fmt.Errorf("config: department %s: ip_ranges: %q is not a CIDR prefix", d.ID, r)
			}
			nc.IPRanges = append(nc.IPRanges, n)
		}
	}
	for _, h := range c.TLS.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			nc.IPRanges = append(nc.IPRanges, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		} else {
			nc.DNSDomains = append(nc.DNSDomains, strings.ToLower(strings.TrimSuffix(h, ".")))
		}
	}
	o.NameConstraints = map[kms.Suite]*ca.NameConstraints{kms.Intl: nc}
	return o, nil
}
