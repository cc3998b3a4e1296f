package browser

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongxing/tongxing/test/serverproc"
)

// TestCitizenPortal: the tax department's service calls 人社 (renshe)
// through the gateway for a citizen's social-insurance record (naming
// their ID number); then the citizen signs in to the portal at /me by
// scanning, in Chromium, with `tongxing login --qr` playing the card
// holder's device (citizen.mjs), reaches level 4, and finds that call in
// "who accessed my data", their citizen card among their certificates and
// their session, which they end. They upload a filing signed with the card
// and read its verification report. axe-core runs on every page.
func TestCitizenPortal(t *testing.T) {
	node := tools(t)
	dir := t.TempDir()
	gwPort, upPort := serverproc.FreePort(t), serverproc.FreePort(t)
	cfg := map[string]any{
		"departments": []map[string]any{
			{"id": "renshe", "name": "人力资源和社会保障局", "domains": []string{"renshe.example"}, "ip_ranges": []string{"127.0.0.0/8"}, "upstream": "https://127.0.0.1:" + upPort + "/api"},
			{"id": "tax", "name": "税务局", "domains": []string{"tax.example"}},
			{"id": "gongan", "name": "公安局", "domains": []string{"gongan.example"}},
			{"id": "scjg", "name": "市场监督管理局", "domains": []string{"scjg.example"}},
		},
		"gateway": map[string]any{"listen": "127.0.0.1:" + gwPort},
	}
	b, _ := json.Marshal(cfg) // JSON is YAML
	if err := os.WriteFile(filepath.Join(dir, "tongxing.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	in := serverproc.Start(t, binary, dir, "--config", filepath.Join(dir, "tongxing.yaml"))
	defer in.Stop(syscall.SIGTERM)
	if out, err := in.RunStdin(password, "users", "add", username, "--password-stdin", "--name", citizenName,
		"--id-number", citizenID, "--server", in.URL("")); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}

	// 人社's API, and the tax service's call through the gateway.
	in.Enrol(t, "renshe-api", "--profile", "service", "--department", "renshe", "--service", "api", "--ip", "127.0.0.1")
	in.Enrol(t, "tax-svc", "--profile", "service", "--department", "tax", "--service", "invoice-api", "--dns", "invoice.tax.example")
	roots := x509.NewCertPool()
	rootPEM, err := os.ReadFile(filepath.Join(dir, serverproc.PKI("intl-root.crt")))
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(rootPEM)
	startAPI(t, upPort, serverproc.ServiceCert(t, filepath.Join(dir, "renshe-api")), roots)
	taxCert := serverproc.ServiceCert(t, filepath.Join(dir, "tax-svc"))
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: roots, Certificates: []tls.Certificate{taxCert}}}}
	req, _ := http.NewRequest("GET", "https://localhost:"+gwPort+"/gw/renshe/v1/insurance/"+citizenID, nil)
	req.Header.Set("Tongxing-Purpose", "P-IIT-VERIFY")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("gateway call for the citizen: %d %s", resp.StatusCode, body)
	}

	// The citizen card: SM2, made by `tongxing ca request`.
	var code struct{ Code string }
	out, err := in.CLI("ca", "enrol-code", "--profile", "citizen", "--name", citizenName, "--id-number", citizenID, "--json")
	if err != nil || json.Unmarshal([]byte(out), &code) != nil {
		t.Fatalf("enrol-code: %v\n%s", err, out)
	}
	if out, err := in.CLI("ca", "request", "--profile", "citizen", "--code", code.Code, "--out", "card"); err != nil {
		t.Fatalf("ca request: %v\n%s", err, out)
	}
	cardSerial := serialOf(t, filepath.Join(dir, "card", "cert.pem"))

	// A filing the citizen signed with the card, time-stamped.
	if err := os.WriteFile(filepath.Join(dir, "filing.txt"), []byte("个人所得税年度汇算申报表\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in.MustCLI(t, "sign", "filing.txt", "--cert", filepath.Join("card", "cert.pem"), "--key", filepath.Join("card", "key.pem"), "--attached", "-o", "filing.p7s")

	home := filepath.Join(dir, "home")
	trustRoot(t, dir, home, filepath.Join(dir, serverproc.PKI("intl-root.crt")))

	res := runScript(t, node, "citizen.mjs", dir, map[string]string{
		"ISSUER": in.URL(""), "HOME_DIR": home, "TONGXING": binary, "TONGXING_DIR": dir,
		"CARD_CERT": filepath.Join("card", "cert.pem"), "CARD_KEY": filepath.Join("card", "key.pem"),
		"FILING": filepath.Join(dir, "filing.p7s"),
	})
	str := func(k string) string { return fmt.Sprint(res[k]) }
	if f := str("filing"); !strings.Contains(f, "签名有效") {
		t.Errorf("filing report says %q", f)
	}
	if !strings.HasPrefix(str("qrURL"), in.URL("/login/qr/v1/")) || str("qrURL") != str("shownURL") {
		t.Errorf("QR code holds %q, page shows %q", str("qrURL"), str("shownURL"))
	}
	if h := str("helper"); !strings.Contains(h, "在 "+in.URL("")+" 请求登录") || !strings.Contains(h, "signed") {
		t.Errorf("card helper said %q", h)
	}
	if a := str("acr"); !strings.Contains(a, "四级") {
		t.Errorf("portal says assurance %q, want level 4", a)
	}
	found := false
	rows, _ := res["access"].([]any)
	for _, r := range rows {
		cells := fmt.Sprint(r)
		if strings.Contains(cells, "税务局") && strings.Contains(cells, "人力资源和社会保障局") && strings.Contains(cells, "P-IIT-VERIFY") {
			found = true
		}
	}
	if !found {
		t.Errorf("the access ledger does not show the tax service's call: %v", res["access"])
	}
	if c := fmt.Sprint(res["certs"]); !strings.Contains(c, "市民证书") || !strings.Contains(c, cardSerial) {
		t.Errorf("my certificates: %s (want the card %s)", c, cardSerial)
	}
	if n, _ := res["sessions"].(float64); n < 1 || str("afterEnd") != "/login" {
		t.Errorf("sessions %v, after ending the session the portal went to %s", n, str("afterEnd"))
	}
	if out := in.MustCLI(t, "audit", "search", "--json", "--action", "authn.login"); !strings.Contains(out, cardSerial) {
		t.Errorf("the scanned login is not in the audit log with serial %s:\n%s", cardSerial, out)
	}
	pages, _ := res["axe"].(map[string]any)
	if len(pages) < 6 {
		t.Errorf("axe ran on %d pages", len(pages))
	}
	for name, v := range pages {
		if list, _ := v.([]any); len(list) > 0 {
			t.Errorf("%s: serious or critical accessibility violations: %v", name, list)
		}
	}
}

// startAPI is 人社's API behind the gateway: HTTPS with its service
// certificate, accepting client certificates of Tongxing's intl root (the
// gateway's), answering the social-insurance record.
func startAPI(t *testing.T, port string, cert tls.Certificate, roots *x509.CertPool) {
	t.Helper()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id_number":"`+citizenID+`","name":"`+citizenName+`","employer":"示例科技有限公司","months_paid":120}`)
		}),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots},
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
}
