package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Messages maps a message key to its zh-CN and English texts
// (fmt.Sprintf formats with the arguments given to T).
type Messages map[string][2]string

// Translator returns T for lang ("zh-CN" or "en"): the message of key,
// formatted with args; an unknown key is returned as it is, so that a
// missing message shows instead of hiding.
func (m Messages) Translator(lang string) func(string, ...any) string {
	i := 0
	if lang == "en" {
		i = 1
	}
	return func(key string, args ...any) string {
		v, ok := m[key]
		if !ok || key == "" {
			return key
		}
		if len(args) == 0 {
			return v[i]
		}
		return fmt.Sprintf(v[i], args...)
	}
}

// langCookie remembers a visitor's choice of language.
const langCookie = "tx_lang"

// Locale returns the page language of r: "en" or "zh-CN" (the default).
// A lang query parameter (en, zh-CN) chooses and is remembered in a
// cookie; otherwise the cookie; otherwise English only when the browser
// prefers English to Chinese.
func Locale(w http.ResponseWriter, r *http.Request) string {
	switch q := r.URL.Query().Get("lang"); q {
	case "en", "zh-CN":
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
			Secure: r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		return q
	}
	return Lang(r)
}

// Lang is the page language of r as [Locale] decides it, without
// remembering a choice.
func Lang(r *http.Request) string {
	if q := r.URL.Query().Get("lang"); q == "en" || q == "zh-CN" {
		return q
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "zh-CN") {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "zh"):
			return "zh-CN"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "zh-CN"
}

// Assurance returns the words for an assurance level (an acr of
// Tongxing's provider), never the URN: an unknown value is "unknown".
func (p *Page) Assurance(acr string) string {
	switch acr {
	case "urn:tongxing:loa:2":
		return p.T("web.loa2")
	case "urn:tongxing:loa:3":
		return p.T("web.loa3")
	case "urn:tongxing:loa:4":
		return p.T("web.loa4")
	}
	return p.T("web.loa.unknown")
}

// Time formats t for the page: local to Asia/Shanghai (China Standard
// Time, fixed UTC+8), to the second.
func (p *Page) Time(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(cst).Format("2006-01-02 15:04:05")
}

var cst = time.FixedZone("CST", 8*3600)

var baseMessages = Messages{
	"web.skip":        {"跳到正文", "Skip to content"},
	"web.nav":         {"主导航", "Main navigation"},
	"web.signout":     {"退出", "Sign out"},
	"web.loa2":        {"二级：密码", "Level 2: password"},
	"web.loa3":        {"三级：密码和动态口令", "Level 3: password and one-time code"},
	"web.loa4":        {"四级：数字证书", "Level 4: certificate"},
	"web.loa.unknown": {"未知", "unknown"},
	"web.csrf":        {"表单已过期，请重试。", "The form expired; please try again."},
	"web.none":        {"无", "none"},
}
