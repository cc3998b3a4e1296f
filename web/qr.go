package web

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// QR code images: each module is qrModule pixels, with the four-module
// quiet zone ISO/IEC 18004 asks for.
const (
	qrModule = 5
	qrQuiet  = 4
)

// QR encodes text as a QR code (error correction level Q) and returns a
// data: URL of a black and white PNG, for an <img> (the pages' CSP allows
// img-src data:).
func QR(text string) (template.URL, error) {
	qr, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionQuart))
	if err != nil {
		return "", fmt.Errorf("web: QR code: %w", err)
	}
	w := &pngWriter{}
	if err := qr.Save(w); err != nil {
		return "", fmt.Errorf("web: QR code: %w", err)
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(w.png)), nil
}

type pngWriter struct{ png []byte }

var _ qrcode.Writer = (*pngWriter)(nil)

func (w *pngWriter) Write(mat qrcode.Matrix) error {
	bits := mat.Bitmap() // [y][x], true = dark
	size := (len(bits) + 2*qrQuiet) * qrModule
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y, row := range bits {
		for x, dark := range row {
			if !dark {
				continue
			}
			x0, y0 := (x+qrQuiet)*qrModule, (y+qrQuiet)*qrModule
			for dy := range qrModule {
				for dx := range qrModule {
					img.SetColorIndex(x0+dx, y0+dy, 1)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	w.png = buf.Bytes()
	return nil
}

func (w *pngWriter) Close() error { return nil }
