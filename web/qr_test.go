package web

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"
)

// TestQR checks the image around the code: a PNG with the quiet
// zone white and the top-left finder pattern (a 7-module dark square
// ring) where ISO/IEC 18004 puts it. The code itself is read back by an
// independent decoder (jsQR) in test/browser.
func TestQR(t *testing.T) {
	u, err := QR("otpauth://totp/Tongxing:zhangsan?algorithm=SHA1&digits=6&issuer=Tongxing&period=30&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(u), "data:image/png;base64,"))
	if err != nil || !strings.HasPrefix(string(u), "data:image/png;base64,") {
		t.Fatalf("data URL %.40s: %v", u, err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	dark := func(mx, my int) bool { // module coordinates, quiet zone included
		r, _, _, _ := img.At(mx*qrModule+qrModule/2, my*qrModule+qrModule/2).RGBA()
		return r < 0x8000
	}
	n := img.Bounds().Dx() / qrModule
	if img.Bounds().Dx() != img.Bounds().Dy() || (n-2*qrQuiet-17)%4 != 0 {
		t.Fatalf("image %v is not a QR code of whole modules", img.Bounds())
	}
	for i := range n {
		for _, p := range [][2]int{{i, 0}, {0, i}, {i, n - 1}, {n - 1, i}} {
			if dark(p[0], p[1]) {
				t.Fatalf("quiet zone module %v is dark", p)
			}
		}
	}
	for i := range 7 {
		for _, p := range [][2]int{{i, 0}, {0, i}, {i, 6}, {6, i}} {
			if !dark(qrQuiet+p[0], qrQuiet+p[1]) {
				t.Fatalf("finder pattern module %v is light", p)
			}
		}
	}
	if dark(qrQuiet+1, qrQuiet+1) || !dark(qrQuiet+3, qrQuiet+3) {
		t.Fatal("finder pattern centre wrong")
	}
}
