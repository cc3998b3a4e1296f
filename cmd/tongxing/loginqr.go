package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tongxing/tongxing/authn/certlogin"
	"github.com/tongxing/tongxing/authn/qrlogin"
)

// maxOfferSize bounds the device endpoint's answer.
const maxOfferSize = 16 << 10

// qrSign is `tongxing login --qr URL`, the reference card helper of scan
// to sign in: it reads the challenge behind the QR code's URL, shows which
// portal and origin ask, checks that the challenge is for the origin it
// was fetched from (so a site cannot relay another site's challenge under
// its own name), signs it with the certificate's key and sends the
// signature; the browser that shows the code then completes the login.
func qrSign(ctx context.Context, hc *http.Client, raw string, chain []byte, key crypto.Signer, out io.Writer) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || !strings.Contains(u.Path, qrlogin.PathPrefix) || u.User != nil {
		return fmt.Errorf("--qr %q is not a Tongxing scan-to-sign-in URL (https://HOST%sID)", raw, qrlogin.PathPrefix)
	}
	origin := u.Scheme + "://" + u.Host
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("read the sign-in challenge: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOfferSize))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read the sign-in challenge: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var offer qrlogin.Offer
	if err := json.Unmarshal(body, &offer); err != nil {
		return fmt.Errorf("the sign-in challenge: %w", err)
	}
	ch, err := certlogin.ParseChallenge(offer.Challenge)
	if err != nil {
		return err
	}
	aud, err := url.Parse(ch.Audience)
	if err != nil || aud.Scheme+"://"+aud.Host != origin || offer.Origin != origin {
		return fmt.Errorf("refused: the challenge is for %q, but the code points at %s", ch.Audience, origin)
	}
	fmt.Fprintf(out, "门户 %s 在 %s 请求登录 / portal %q at %s asks to sign in\n", offer.Portal, origin, offer.Portal, origin)
	sig, err := certlogin.Sign(ch, key)
	if err != nil {
		return err
	}
	lr, err := json.Marshal(&certlogin.LoginRequest{ChallengeID: ch.ID(), ChainPEM: chain, Signature: sig})
	if err != nil {
		return err
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(lr))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err = hc.Do(req)
	if err != nil {
		return fmt.Errorf("send the signature: %w", err)
	}
	body, _ = io.ReadAll(io.LimitReader(resp.Body, maxOfferSize))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("signature refused: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(out, "signed; the browser continues by itself\n")
	return nil
}
