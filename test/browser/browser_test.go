// Package browser drives the real tongxing binary with a real browser:
// Debian's headless Chromium (/usr/bin/chromium, never a downloaded build),
// driven by the npm package playwright-core: sign-on (signin.mjs), the
// officer console (console.mjs) and the citizen portal with scan to sign
// in (citizen.mjs), with axe-core run on every page. A relying party in
// this test (golang.org/x/oauth2 and go-oidc) starts each portal sign-in
// and verifies the ID token it gets back.
//
// What CI needs (.ci/run installs it): the Debian packages chromium,
// libnss3-tools (certutil, pk12util: Chromium on Linux reads client
// certificates and trust from an NSS database), openssl, nodejs and npm,
// and `npm ci` in this directory. TONGXING_BROWSER_SHOTS=DIR saves
// screenshots of the pages there (install fonts-noto-cjk to see the
// Chinese text).
package browser

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tongxing/tongxing/test/serverproc"
)

var binary string

func TestMain(m *testing.M) { serverproc.Main(m, &binary) }

// chromium is Debian's Chromium; the test never uses another browser.
const chromium = "/usr/bin/chromium"

const (
	citizenName = "张三"
	citizenID   = "11010519491231002X"
	username    = "zhangsan"
	password    = "correct horse battery staple"
)

// tools returns node's path, or skips the test naming what is missing on
// this machine.
func tools(t *testing.T) string {
	t.Helper()
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (Debian package chromium)")
	}
	for tool, pkg := range map[string]string{"certutil": "libnss3-tools", "pk12util": "libnss3-tools", "openssl": "openssl", "node": "nodejs"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (Debian package "+pkg+")")
		}
	}
	if _, err := os.Stat("node_modules/playwright-core"); err != nil {
		missing = append(missing, "node_modules/playwright-core (run `npm ci` in test/browser)")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		serverproc.Missing(t, "browser test needs, on this machine: %s; CI installs them (.ci/run)", strings.Join(missing, ", "))
	}
	node, _ := exec.LookPath("node")
	return node
}

// TestBrowserSignOn signs a citizen in with Chromium twice over.
//
// Certificate login: the citizen gets an ECDSA login certificate with
// `tongxing ca request --login`, imports it (PKCS#12 made by OpenSSL, as
// the README says) into Chromium's NSS database, and signs in at a portal
// through the login page's browser-certificate link: Chromium presents the
// certificate in the TLS handshake of /login/mtls, and the portal's ID
// token says urn:tongxing:loa:4 with amr swk (the key was made in software
// by the CLI) for the account the citizen registered with the same ID
// number.
//
// One-time codes: signed in with the password (urn:tongxing:loa:2), the
// citizen opens /me/totp, whose QR code jsQR reads back, confirms with a
// code and the password, and then reaches urn:tongxing:loa:3 (amr pwd otp
// mfa) at a portal that asks for it.
func TestBrowserSignOn(t *testing.T) {
	node := tools(t)
	dir := t.TempDir()
	in := serverproc.Start(t, binary, dir)
	defer in.Stop(syscall.SIGTERM)
	run := func(args ...string) string { t.Helper(); return in.MustCLI(t, args...) }
	if out, err := in.RunStdin(password, "users", "add", username, "--password-stdin", "--name", citizenName,
		"--id-number", citizenID, "--server", in.URL("")); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}

	rp := newRP(t, in)
	out := run("clients", "add", "browser-portal", "--name", "浏览器测试门户", "--redirect-uri", rp.redirect, "--json")
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &client); err != nil {
		t.Fatalf("clients add output %q: %v", out, err)
	}
	rp.configure(t, in.URL(""), client.ID, client.Secret)

	// The citizen's certificates: the SM2 citizen card and, in the same
	// request, the ECDSA login certificate.
	var code struct{ Code string }
	if err := json.Unmarshal([]byte(run("ca", "enrol-code", "--profile", "citizen", "--name", citizenName, "--id-number", citizenID, "--json")), &code); err != nil {
		t.Fatal(err)
	}
	run("ca", "request", "--profile", "citizen", "--code", code.Code, "--out", "citizen", "--login")
	certDir := filepath.Join(dir, "citizen")
	loginSerial := serialOf(t, filepath.Join(certDir, "login-cert.pem"))

	// Chromium's NSS databases: one trusts Tongxing's intl root only, the
	// other also holds the login certificate and its key.
	root := filepath.Join(dir, serverproc.PKI("intl-root.crt"))
	plainHome, certHome := filepath.Join(dir, "home-plain"), filepath.Join(dir, "home-cert")
	p12 := filepath.Join(dir, "login.p12")
	cmd(t, dir, "openssl", "pkcs12", "-export", "-inkey", filepath.Join(certDir, "login-key.pem"),
		"-passin", "file:"+filepath.Join(certDir, "key.pass"), "-in", filepath.Join(certDir, "login-cert.pem"),
		"-certfile", filepath.Join(certDir, "login-chain.pem"), "-name", "张三 login", "-out", p12, "-passout", "pass:p12-test")
	for _, home := range []string{plainHome, certHome} {
		trustRoot(t, dir, home, root)
	}
	cmd(t, dir, "pk12util", "-d", nssDB(certHome), "-i", p12, "-W", "p12-test")

	res := runBrowser(t, node, dir, map[string]string{
		"STEPS":     "cert,totp",
		"ISSUER":    in.URL(""),
		"RP":        rp.url,
		"CERT_HOME": certHome,
		"HOME_DIR":  plainHome,
		"CA_CN":     "Tongxing ECDSA Issuing CA",
		"USERNAME":  username,
		"PASSWORD":  password,
	})
	logins := rp.results()
	if len(logins) != 3 || res["cert"] == nil || res["totp"] == nil {
		t.Fatalf("relying party saw %d logins (want 3); browser: %v", len(logins), res)
	}
	got := logins[0]
	if got.ACR != "urn:tongxing:loa:4" || !slices.Equal(got.AMR, []string{"swk"}) {
		t.Errorf("certificate login: acr %q amr %v, want urn:tongxing:loa:4 [swk]", got.ACR, got.AMR)
	}
	if got.PreferredUsername != username || got.Name != citizenName {
		t.Errorf("certificate login reached account %q (%q), want the registered %q with the same ID number", got.PreferredUsername, got.Name, username)
	}
	audit := run("audit", "search", "--json", "--action", "authn.login")
	if !strings.Contains(audit, loginSerial) || !strings.Contains(audit, "amr swk") {
		t.Errorf("the browser certificate login is not in the audit log with serial %s and amr swk:\n%s", loginSerial, audit)
	}

	pw, otp := logins[1], logins[2]
	if pw.ACR != "urn:tongxing:loa:2" || !slices.Equal(pw.AMR, []string{"pwd"}) {
		t.Errorf("password login: acr %q amr %v", pw.ACR, pw.AMR)
	}
	if otp.ACR != "urn:tongxing:loa:3" || !slices.Equal(otp.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("login after enrolment: acr %q amr %v, want urn:tongxing:loa:3 [pwd otp mfa]", otp.ACR, otp.AMR)
	}
	if pw.Sub != got.Sub || otp.Sub != got.Sub {
		t.Errorf("the three logins reached different accounts: %q %q %q", got.Sub, pw.Sub, otp.Sub)
	}
	key, _ := res["totp"].(map[string]any)["otpauth"].(map[string]any)
	if key["issuer"] != "Tongxing" || key["label"] != username || key["digits"] != float64(6) || key["period"] != float64(30) || key["algorithm"] != "SHA1" {
		t.Errorf("the QR code's otpauth URL as jsQR and otpauth read it: %v", key)
	}
	if out := run("audit", "search", "--json", "--action", "authn.totp.enrol"); !strings.Contains(out, "authn.totp.enrol") {
		t.Errorf("the enrolment is not in the audit log:\n%s", out)
	}
}

// runBrowser runs signin.mjs with env and returns what it printed (JSON);
// on failure the test fails with its output and the server's log.
func runBrowser(t *testing.T, node, dir string, env map[string]string) map[string]any {
	t.Helper()
	return runScript(t, node, "signin.mjs", dir, env)
}

// runScript runs a browser script with env and returns what it printed
// (JSON); on failure the test fails with its output.
func runScript(t *testing.T, node, script, dir string, env map[string]string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, node, script)
	c.Env = append(os.Environ(), "CHROMIUM="+chromium, "WORK_DIR="+dir, "SHOTS_DIR="+os.Getenv("TONGXING_BROWSER_SHOTS"))
	for k, v := range env {
		c.Env = append(c.Env, k+"="+v)
	}
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s\n%s", script, err, out, stderr.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s output %q: %v\n%s", script, out, err, stderr.String())
	}
	return res
}

// cmd runs a tool in dir or fails the test.
func cmd(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	c := exec.Command(name, args...)
	c.Dir = dir
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// nssDB is the NSS database Chromium reads under home.
func nssDB(home string) string { return "sql:" + filepath.Join(home, ".pki", "nssdb") }

// trustRoot makes an NSS database under home that trusts root (a PEM
// file) for TLS servers.
func trustRoot(t *testing.T, dir, home, root string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd(t, dir, "certutil", "-d", nssDB(home), "-N", "--empty-password")
	cmd(t, dir, "certutil", "-d", nssDB(home), "-A", "-n", "Tongxing intl root", "-t", "C,,", "-i", root)
}

// serialOf returns a PEM certificate's serial as Tongxing writes it
// (lower-case hex), read with OpenSSL.
func serialOf(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("openssl", "x509", "-in", file, "-noout", "-serial").Output()
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimPrefix(strings.TrimSpace(string(out)), "serial=")
	return strings.TrimLeft(strings.ToLower(s), "0")
}

// login is what the relying party verified of one sign-in: the ID token's
// sub, acr and amr, and the userinfo profile claims.
type login struct {
	Sub               string   `json:"sub"`
	ACR               string   `json:"acr"`
	AMR               []string `json:"amr"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
}

// rp is a confidential OpenID Connect relying party on a loopback port:
// GET /start begins an authorization (code + PKCE S256, state, nonce;
// acr_values and prompt passed on), GET /callback exchanges the code,
// verifies the ID token with go-oidc, reads userinfo and shows the
// verified claims on a page (<pre id="claims">).
type rp struct {
	url, redirect string
	srv           *http.Server
	ctx           context.Context
	conf          oauth2.Config
	op            *oidc.Provider
	verifier      *oidc.IDTokenVerifier

	mu      sync.Mutex
	pending map[string][2]string // state -> PKCE verifier, nonce
	logins  []login
}

func newRP(t *testing.T, in *serverproc.Instance) *rp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rp{url: "http://" + ln.Addr().String(), pending: map[string][2]string{}}
	r.redirect = r.url + "/callback"
	r.ctx = oidc.ClientContext(t.Context(), in.Client())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start", r.start)
	mux.HandleFunc("GET /callback", r.callback)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	t.Cleanup(func() { r.srv.Close() })
	return r
}

// configure discovers issuer with go-oidc and registers the client.
func (r *rp) configure(t *testing.T, issuer, id, secret string) {
	t.Helper()
	op, err := oidc.NewProvider(r.ctx, issuer)
	if err != nil {
		t.Fatalf("discovery with go-oidc: %v", err)
	}
	r.conf = oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: op.Endpoint(), RedirectURL: r.redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile"}}
	r.op, r.verifier = op, op.Verifier(&oidc.Config{ClientID: id})
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (r *rp) start(w http.ResponseWriter, req *http.Request) {
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	r.mu.Lock()
	r.pending[state] = [2]string{verifier, nonce}
	r.mu.Unlock()
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	for _, p := range []string{"acr_values", "prompt"} {
		if v := req.URL.Query().Get(p); v != "" {
			opts = append(opts, oauth2.SetAuthURLParam(p, v))
		}
	}
	http.Redirect(w, req, r.conf.AuthCodeURL(state, opts...), http.StatusFound)
}

func (r *rp) callback(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	r.mu.Lock()
	p, ok := r.pending[q.Get("state")]
	delete(r.pending, q.Get("state"))
	r.mu.Unlock()
	fail := func(format string, args ...any) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<!doctype html><title>RP error</title><pre id="error">%s</pre>`, html.EscapeString(fmt.Sprintf(format, args...)))
	}
	if !ok {
		fail("unknown state %q (error %q %q)", q.Get("state"), q.Get("error"), q.Get("error_description"))
		return
	}
	tok, err := r.conf.Exchange(r.ctx, q.Get("code"), oauth2.VerifierOption(p[0]))
	if err != nil {
		fail("token exchange: %v", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		fail("ID token: %v", err)
		return
	}
	var l login
	var claims struct {
		Nonce string `json:"nonce"`
	}
	if err := idt.Claims(&l); err != nil || idt.Claims(&claims) != nil || claims.Nonce != p[1] {
		fail("ID token claims: %v (nonce %q)", err, claims.Nonce)
		return
	}
	// The profile claims come from userinfo, for the ID token's sub.
	ui, err := r.op.UserInfo(r.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		fail("userinfo: %v", err)
		return
	}
	if ui.Subject != l.Sub || ui.Claims(&l) != nil {
		fail("userinfo sub %q, ID token sub %q", ui.Subject, l.Sub)
		return
	}
	r.mu.Lock()
	r.logins = append(r.logins, l)
	r.mu.Unlock()
	body, _ := json.Marshal(l)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><title>signed in</title><pre id="claims">%s</pre>`, html.EscapeString(string(body)))
}

func (r *rp) results() []login {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.logins)
}
