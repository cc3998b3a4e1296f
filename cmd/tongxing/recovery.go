package main

import (
	"crypto/ecdsa"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/spf13/cobra"

	"github.com/tongxing/tongxing/access"
	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/ca/kmc"
	"github.com/tongxing/tongxing/cmd/tongxing/internal/filing"
	"github.com/tongxing/tongxing/kms"
	"github.com/tongxing/tongxing/kms/softkms"
	"github.com/tongxing/tongxing/server"
)

// maxKeyFile bounds the public key, certificate and key files the recovery
// commands read.
const maxKeyFile = 64 << 10

func newRecovery(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recovery",
		Short: "Recover an escrowed e证通 encryption key under dual control (registration officers)",
		Long: `A registration officer requests the recovery of the key escrowed for an
encryption certificate, naming the SM2 public key it is to be enveloped to
(the subscriber's new signing key, say). Two OTHER registration officers
approve; then any registration officer delivers it, once: the key comes
back as a GB/T 35276 SM2EnvelopedKey that only the holder of the named
public key's private key can open. Every step is in the audit log.`,
	}
	cmd.AddCommand(newRecoveryRequest(g), newRecoveryList(g), newRecoveryShow(g), newRecoveryDecide(g, "approve"),
		newRecoveryDecide(g, "reject"), newRecoveryDeliver(g))
	return cmd
}

// readDeliverTo returns the PEM PUBLIC KEY in file, which holds a public
// key or a certificate (the key is taken from it).
func readDeliverTo(file string) (string, error) {
	b, err := filing.ReadLimited(file, maxKeyFile)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return "", fmt.Errorf("%s holds no PEM block", file)
	}
	switch block.Type {
	case "PUBLIC KEY":
		return string(pem.EncodeToMemory(block)), nil
	case "CERTIFICATE":
		cert, err := smx509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
		der, err := smx509.MarshalPKIXPublicKey(cert.PublicKey)
		if err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
	}
	return "", fmt.Errorf("%s holds a %s, want a PUBLIC KEY or a CERTIFICATE", file, block.Type)
}

// readHolderKey reads the SM2 key a delivery is enveloped to, and its
// passphrase (passFile, else $TONGXING_KEY_PASSPHRASE).
func readHolderKey(keyFile, passFile string) (*sm2.PrivateKey, []byte, error) {
	pass, err := softkms.LoadPassphrase(os.Getenv(server.EnvPassphrase), passFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--key needs its passphrase (--passphrase-file or %s): %w", server.EnvPassphrase, err)
	}
	b, err := filing.ReadLimited(keyFile, maxKeyFile)
	if err != nil {
		return nil, nil, err
	}
	k, err := kms.ParseEncryptedPEM(b, pass)
	if err != nil {
		return nil, nil, fmt.Errorf("--key %s: %w", keyFile, err)
	}
	holder, ok := k.(*sm2.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("--key %s is not an SM2 key", keyFile)
	}
	return holder, pass, nil
}

// openDelivery opens the enveloped key of d with holder, checks it
// against the delivered certificate and writes it to path, encrypted
// under pass.
func openDelivery(d *kmc.DeliveryJSON, holder *sm2.PrivateKey, pass []byte, path string) error {
	key, err := sm2.ParseEnvelopedPrivateKey(holder, d.EnvelopedKey)
	if err != nil {
		return err
	}
	block, _ := pem.Decode([]byte(d.EncCertificate))
	if block == nil {
		return errors.New("the delivered encryption certificate is not PEM")
	}
	cert, err := smx509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !key.PublicKey.Equal(pub) {
		return fmt.Errorf("the recovered key does not match certificate %s", ca.SerialHex(cert.SerialNumber))
	}
	keyPEM, err := kms.MarshalEncryptedPEM(key, pass)
	if err != nil {
		return err
	}
	return os.WriteFile(path, keyPEM, 0o600)
}

func printRecovery(g *globals, r *kmc.RecoveryJSON, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(g.stdout).Encode(r)
	}
	fmt.Fprintf(g.stdout, "recovery:   %s\nserial:     %s\nstatus:     %s\nrequested:  %s by %s\nreason:     %s\napprovals:  %d of %d",
		r.ID, r.EncSerial, r.Status, r.CreatedAt.Format(time.RFC3339), r.RequestedBy, r.Reason, len(r.Approvals), r.RequiredApprovals)
	for _, a := range r.Approvals {
		fmt.Fprintf(g.stdout, " %s", a.Officer)
	}
	fmt.Fprintf(g.stdout, "\nexpires:    %s\n", r.ExpiresAt.Format(time.RFC3339))
	if _, spki, err := kmc.ParseDeliverTo([]byte(r.DeliverTo)); err == nil {
		fmt.Fprintf(g.stdout, "deliver to: %s\n", kmc.KeyFingerprint(spki))
	}
	if r.ClosedBy != "" {
		fmt.Fprintf(g.stdout, "closed:     %s by %s\n", r.ClosedAt.Format(time.RFC3339), r.ClosedBy)
	}
	for _, e := range r.Events {
		fmt.Fprintf(g.stdout, "  %s  %-18s %-20s %s\n", e.At.Format(time.RFC3339), e.What, e.Actor, e.Detail)
	}
	return nil
}

func newRecoveryRequest(g *globals) *cobra.Command {
	var (
		cf                clientFlags
		reason, deliverTo string
		asJSON, quiet     bool
	)
	cmd := &cobra.Command{
		Use:     "request ENC_SERIAL --reason TEXT --deliver-to FILE",
		Short:   "Request the recovery of an escrowed encryption key (registration officer)",
		Example: `  tongxing ca recovery request 4209...134d --reason "subscriber lost the key; ticket 1234" --deliver-to ecert/sign-cert.pem`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := readDeliverTo(deliverTo)
			if err != nil {
				return fmt.Errorf("--deliver-to: %w", err)
			}
			c, err := g.client(cmd, &cf, access.RoleRA)
			if err != nil {
				return err
			}
			var r kmc.RecoveryJSON
			if err := c.do(cmd, "POST", "/ca/v1/kmc/recoveries", kmc.RecoveryRequestJSON{EncSerial: args[0], Reason: reason, DeliverTo: pub}, &r); err != nil {
				return err
			}
			if quiet {
				_, err := fmt.Fprintln(g.stdout, r.ID)
				return err
			}
			if err := printRecovery(g, &r, asJSON); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(g.stdout, "next: %d registration officers other than you run\n  tongxing ca recovery approve %s\n", r.RequiredApprovals, r.ID)
			}
			return nil
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&reason, "reason", "", "why the key is recovered (recorded)")
	f.StringVar(&deliverTo, "deliver-to", "", "PEM SM2 public key or certificate the key is to be enveloped to")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the recovery ID")
	_ = cmd.MarkFlagRequired("reason")
	_ = cmd.MarkFlagRequired("deliver-to")
	return cmd
}

func newRecoveryList(g *globals) *cobra.Command {
	var (
		cf     clientFlags
		status string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List key recoveries (registration officer)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client(cmd, &cf, access.RoleRA)
			if err != nil {
				return err
			}
			var out struct {
				Recoveries []kmc.RecoveryJSON `json:"recoveries"`
			}
			if err := c.do(cmd, "GET", "/ca/v1/kmc/recoveries?"+nonEmpty(map[string]string{"status": status}).Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSERIAL\tSTATUS\tAPPROVALS\tREQUESTED BY\tEXPIRES")
			for _, r := range out.Recoveries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.ID, r.EncSerial, r.Status, len(r.Approvals), r.RequiredApprovals, r.RequestedBy, r.ExpiresAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&status, "status", "", "requested, approved, delivered or rejected")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newRecoveryShow(g *globals) *cobra.Command {
	var (
		cf     clientFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show RECOVERY_ID",
		Short: "Show a key recovery and its history (registration officer)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd, &cf, access.RoleRA)
			if err != nil {
				return err
			}
			var r kmc.RecoveryJSON
			if err := c.do(cmd, "GET", "/ca/v1/kmc/recoveries/"+url.PathEscape(args[0]), nil, &r); err != nil {
				return err
			}
			return printRecovery(g, &r, asJSON)
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// newRecoveryDecide makes `ca recovery approve|reject ID`.
func newRecoveryDecide(g *globals, verb string) *cobra.Command {
	var (
		cf      clientFlags
		comment string
		asJSON  bool
	)
	short := map[string]string{
		"approve": "Approve a key recovery (a registration officer other than the requester)",
		"reject":  "Reject or withdraw a key recovery (registration officer)",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " RECOVERY_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client(cmd, &cf, access.RoleRA)
			if err != nil {
				return err
			}
			var body any
			if comment != "" {
				body = kmc.RejectJSON{Comment: comment}
			}
			var r kmc.RecoveryJSON
			if err := c.do(cmd, "POST", "/ca/v1/kmc/recoveries/"+url.PathEscape(args[0])+"/"+verb, body, &r); err != nil {
				return err
			}
			return printRecovery(g, &r, asJSON)
		},
	}
	cf.register(cmd)
	if verb == "reject" {
		cmd.Flags().StringVar(&comment, "comment", "", "why (recorded)")
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newRecoveryDeliver(g *globals) *cobra.Command {
	var (
		cf                     clientFlags
		out, keyFile, passFile string
	)
	cmd := &cobra.Command{
		Use:   "deliver RECOVERY_ID -o DIR",
		Short: "Deliver an approved recovery, once: the enveloped key and the encryption certificate (registration officer)",
		Long: `deliver fetches the recovered key, enveloped to the public key named in the
request, and writes OUT/enveloped-key.der (GB/T 35276 SM2EnvelopedKey) and
OUT/enc-cert.pem. It can be delivered only once.

With --key (the private key the envelope is for: the subscriber's signing
key, encrypted PKCS#8, with --passphrase-file or $TONGXING_KEY_PASSPHRASE)
it also opens the envelope, checks the key against the certificate and
writes OUT/enc-key.pem encrypted under the same passphrase.`,
		Example: `  tongxing ca recovery deliver rcv_0123456789abcdef -o recovered
  tongxing ca recovery deliver rcv_0123456789abcdef -o recovered --key ecert/sign-key.pem --passphrase-file ecert/key.pass`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				holder *sm2.PrivateKey
				pass   []byte
			)
			if keyFile != "" {
				var err error
				if holder, pass, err = readHolderKey(keyFile, passFile); err != nil {
					return err
				}
			}
			for _, name := range []string{"enveloped-key.der", "enc-cert.pem", "enc-key.pem"} {
				if _, err := os.Stat(filepath.Join(out, name)); err == nil {
					return fmt.Errorf("%s exists; choose another -o/--output", filepath.Join(out, name))
				}
			}
			c, err := g.client(cmd, &cf, access.RoleRA)
			if err != nil {
				return err
			}
			var d kmc.DeliveryJSON
			if err := c.do(cmd, "POST", "/ca/v1/kmc/recoveries/"+url.PathEscape(args[0])+"/deliver", nil, &d); err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			// The delivery happens once: write what came before anything can fail.
			if err := os.WriteFile(filepath.Join(out, "enveloped-key.der"), d.EnvelopedKey, 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, "enc-cert.pem"), []byte(d.EncCertificate), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "delivered recovery %s of %s\n  %s (SM2EnvelopedKey)\n  %s\n", d.Recovery.ID, d.Recovery.EncSerial,
				filepath.Join(out, "enveloped-key.der"), filepath.Join(out, "enc-cert.pem"))
			if holder == nil {
				return nil
			}
			if err := openDelivery(&d, holder, pass, filepath.Join(out, "enc-key.pem")); err != nil {
				return fmt.Errorf("open the envelope with %s: %w", keyFile, err)
			}
			fmt.Fprintf(g.stdout, "  %s (the recovered key, encrypted; matches the certificate)\n", filepath.Join(out, "enc-key.pem"))
			return nil
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output directory")
	f.StringVar(&keyFile, "key", "", "the private key the envelope is for, to open it (optional)")
	f.StringVar(&passFile, "passphrase-file", "", "passphrase of --key (default $TONGXING_KEY_PASSPHRASE)")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
