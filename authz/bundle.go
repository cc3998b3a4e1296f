package authz

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// Bundle signing conventions (OPA's bundle signature format).
const (
	// KeyID is the key id in the JWS header of Tongxing's bundle
	// signatures; stock opa is given it as --verification-key-id.
	KeyID = "tongxing-policy"
	// SigningAlg is the JWS algorithm of bundle signatures.
	SigningAlg = "ES256"
	// Root is the one data root Tongxing's bundles own.
	Root = "tongxing"
	// MaxBundleSize bounds a bundle read by [Read] (compressed and each
	// file uncompressed).
	MaxBundleSize = 32 << 20
	// MaxBundleUncompressed bounds the sum of a bundle's files
	// uncompressed, and MaxBundleFiles their number: a small archive must
	// not unpack into more memory than the policy could use.
	MaxBundleUncompressed = 64 << 20
	MaxBundleFiles        = 10000
)

// ErrSignature is wrapped by [Read] when a bundle's signature is missing,
// malformed or does not verify.
var ErrSignature = errors.New("authz: bundle signature does not verify")

// Build reads a policy directory (Rego modules and data.json documents, as
// OPA lays them out) into a bundle with the given revision and root
// "tongxing". Files named *_test.rego stay out of the bundle; `tongxing
// policy test` runs them. An empty revision is replaced by "r-" and the
// first 12 hex digits of the SHA-256 over the bundle's file hashes, so the
// same content always gets the same revision.
func Build(fsys fs.FS, revision string) (*bundle.Bundle, error) {
	dl, err := bundle.NewFSLoader(fsys)
	if err != nil {
		return nil, fmt.Errorf("authz: read policy directory: %w", err)
	}
	dl = dl.WithFilter(func(path string, info fs.FileInfo, _ int) bool {
		name := info.Name()
		return !info.IsDir() && (strings.HasSuffix(name, "_test.rego") || strings.HasPrefix(name, ".signatures") || name == ".manifest" ||
			!(strings.HasSuffix(name, ".rego") || name == "data.json"))
	}).WithSizeLimitBytes(MaxBundleSize)
	b, err := bundle.NewCustomReader(dl).WithSkipBundleVerification(true).Read()
	if err != nil {
		return nil, fmt.Errorf("authz: build bundle: %w", err)
	}
	if len(b.Modules) == 0 {
		return nil, errors.New("authz: build bundle: the directory holds no Rego module")
	}
	b.Signatures = bundle.SignaturesConfig{}
	roots := []string{Root}
	b.Manifest.Roots = &roots
	b.Manifest.Revision = ""
	if revision == "" {
		files, err := fileHashes(&b)
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		for _, f := range files {
			h.Write([]byte(f.Name + "\x00" + f.Hash + "\x00"))
		}
		revision = "r-" + hex.EncodeToString(h.Sum(nil))[:12]
	}
	b.Manifest.Revision = revision
	b.Manifest.Metadata = map[string]any{BuiltKey: time.Now().UTC().Format(time.RFC3339Nano)}
	return &b, nil
}

// BuiltKey is the manifest metadata member in which [Build] records when
// the bundle was built; signed with the manifest, it lets [Store.Activate]
// refuse to bring back a bundle older than the one in force.
const BuiltKey = "tongxing_built"

// BuiltAt returns when b was built, from its manifest metadata, or the
// zero time for a bundle that does not say (one not built by [Build]).
func BuiltAt(b *bundle.Bundle) time.Time {
	return builtAt(b.Manifest)
}

func builtAt(m bundle.Manifest) time.Time {
	s, _ := m.Metadata[BuiltKey].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// manifestOf reads only the .manifest of the .tar.gz bundle raw, within
// the limits of checkArchive; a bundle without one has the zero manifest.
func manifestOf(raw []byte) (bundle.Manifest, error) {
	var m bundle.Manifest
	err := walkArchive(raw, func(name string, r io.Reader) error {
		if strings.TrimPrefix(name, "/") != ".manifest" {
			return nil
		}
		if err := json.NewDecoder(r).Decode(&m); err != nil {
			return fmt.Errorf("authz: read bundle manifest: %w", err)
		}
		return nil
	})
	return m, err
}

// capturePlugin is the name under which the file-hash capturer below is
// registered with OPA's signer registry.
const capturePlugin = "tongxing-capture-files"

var registerOnce sync.Once

// captureSigner "signs" by returning the file list OPA computed, so that
// Sign can make the JWS with a crypto.Signer. It holds no state.
type captureSigner struct{}

func (captureSigner) GenerateSignedToken(files []bundle.FileInfo, _ *bundle.SigningConfig, _ string) (string, error) {
	b, err := json.Marshal(files)
	return string(b), err
}

// fileHashes returns the names and SHA-256 hashes of b's files as OPA's
// signing computes them (modules by path, data and manifest as canonical
// JSON).
func fileHashes(b *bundle.Bundle) ([]bundle.FileInfo, error) {
	registerOnce.Do(func() { _ = bundle.RegisterSigner(capturePlugin, captureSigner{}) })
	c := *b
	c.Signatures = bundle.SignaturesConfig{}
	if err := c.GenerateSignature(bundle.NewSigningConfig("", SigningAlg, "").WithPlugin(capturePlugin), KeyID, false); err != nil {
		return nil, fmt.Errorf("authz: hash bundle files: %w", err)
	}
	var files []bundle.FileInfo
	if err := json.Unmarshal([]byte(c.Signatures.Signatures[0]), &files); err != nil {
		return nil, fmt.Errorf("authz: hash bundle files: %w", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// Sign signs b in OPA's bundle signature format: .signatures.json holds one
// compact JWS (ES256, header kid KeyID) whose payload lists every file with
// its SHA-256. key must be an ECDSA P-256 key; it is used only through
// crypto.Signer.
func Sign(b *bundle.Bundle, key crypto.Signer) error {
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return errors.New("authz: bundle signing needs an ECDSA P-256 key")
	}
	files, err := fileHashes(b)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(struct {
		Files []bundle.FileInfo `json:"files"`
	}{files})
	if err != nil {
		return err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: cryptosigner.Opaque(key)},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", KeyID))
	if err != nil {
		return fmt.Errorf("authz: bundle signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return fmt.Errorf("authz: sign bundle: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return err
	}
	b.Signatures = bundle.SignaturesConfig{Signatures: []string{tok}}
	return nil
}

// Write writes b as a .tar.gz bundle.
func Write(w io.Writer, b *bundle.Bundle) error {
	return bundle.NewWriter(w).Write(*b)
}

// Verifier holds the public key bundles must be signed with.
type Verifier struct {
	pem string
}

// NewVerifier returns a verifier for the ECDSA P-256 public key pub.
func NewVerifier(pub crypto.PublicKey) (*Verifier, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, errors.New("authz: the bundle verification key must be ECDSA P-256")
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	return &Verifier{pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, nil
}

// PublicKeyPEM returns the verification key as PEM, the form stock opa's
// --verification-key takes.
func (v *Verifier) PublicKeyPEM() string { return v.pem }

// Read reads a .tar.gz bundle of at most MaxBundleSize. With a verifier
// the bundle must carry a signature by its key covering every file
// (errors wrap ErrSignature); with nil it is read unverified, which only
// the development flag allows. The manifest must name a revision.
func Read(r io.Reader, v *Verifier) (*bundle.Bundle, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("authz: read bundle: %w", err)
	}
	if len(raw) > MaxBundleSize {
		return nil, fmt.Errorf("authz: bundle is larger than %d bytes", MaxBundleSize)
	}
	if err := checkArchive(raw); err != nil {
		return nil, err
	}
	br := bundle.NewReader(bytes.NewReader(raw)).WithSizeLimitBytes(MaxBundleSize)
	if v != nil {
		vc := bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{KeyID: {Key: v.pem, Algorithm: SigningAlg}}, KeyID, "", nil)
		br = br.WithBundleVerificationConfig(vc)
	} else {
		br = br.WithSkipBundleVerification(true)
	}
	b, err := br.Read()
	if err != nil {
		if v != nil {
			// A bundle that reads without verification failed on its
			// signature; one that does not is malformed.
			if _, uerr := bundle.NewReader(bytes.NewReader(raw)).WithSizeLimitBytes(MaxBundleSize).WithSkipBundleVerification(true).Read(); uerr == nil {
				return nil, fmt.Errorf("%w: %v", ErrSignature, err)
			}
		}
		return nil, fmt.Errorf("authz: read bundle: %w", err)
	}
	if v != nil && len(b.Signatures.Signatures) == 0 {
		return nil, fmt.Errorf("%w: the bundle is not signed", ErrSignature)
	}
	if b.Manifest.Revision == "" {
		return nil, errors.New("authz: the bundle manifest names no revision")
	}
	return &b, nil
}

// checkArchive unpacks the .tar.gz raw without keeping it and refuses an
// archive that holds more than MaxBundleFiles entries or more than
// MaxBundleUncompressed bytes, before OPA's reader, which keeps every file
// in memory and checks sizes only after unpacking them, sees it.
func checkArchive(raw []byte) error {
	return walkArchive(raw, func(string, io.Reader) error { return nil })
}

// walkArchive hands each file of the .tar.gz raw to fn, within the limits
// of checkArchive; what fn leaves unread is read and discarded.
func walkArchive(raw []byte, fn func(name string, r io.Reader) error) error {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("authz: read bundle: not a .tar.gz archive: %w", err)
	}
	tr := tar.NewReader(zr)
	var total int64
	for files := 0; ; files++ {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("authz: read bundle: %w", err)
		}
		if files >= MaxBundleFiles {
			return fmt.Errorf("authz: bundle holds more than %d files", MaxBundleFiles)
		}
		// OPA's reader, which verifies the signature, reads regular files
		// only: an entry of another type would be read here (the build
		// time of .manifest) unsigned.
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeXGlobalHeader:
		default:
			return fmt.Errorf("authz: read bundle: entry %q is neither a regular file nor a directory (type %q)", h.Name, h.Typeflag)
		}
		lr := &io.LimitedReader{R: tr, N: MaxBundleUncompressed - total + 1}
		if err := fn(h.Name, lr); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, lr); err != nil {
			return fmt.Errorf("authz: read bundle: %w", err)
		}
		if total = MaxBundleUncompressed + 1 - lr.N; total > MaxBundleUncompressed {
			return fmt.Errorf("authz: bundle unpacks to more than %d bytes", MaxBundleUncompressed)
		}
	}
}

// ReadDir reads an unsigned policy directory as a bundle (see Build); for
// development only.
func ReadDir(fsys fs.FS) (*bundle.Bundle, error) {
	b, err := Build(fsys, "")
	if err != nil {
		return nil, err
	}
	b.Manifest.Revision = "dev-" + b.Manifest.Revision
	return b, nil
}
