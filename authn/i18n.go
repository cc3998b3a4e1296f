package authn

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Locales of the login pages. zh-CN is the default.
const (
	localeZH = "zh-CN"
	localeEN = "en"
)

// messages are the texts of the login pages by locale. Every key exists in
// every locale (a test checks it).
var messages = map[string]map[string]string{
	localeZH: {
		"brand":                   "通行 · 统一身份认证",
		"login.title":             "登录",
		"login.intro":             "“%s”请您登录以确认身份。",
		"login.intro.dept":        "“%s”（%s）请您登录以确认身份。",
		"login.username":          "用户名",
		"login.password":          "密码",
		"login.submit":            "登录",
		"login.bad":               "用户名或密码错误。",
		"login.locked":            "登录失败次数过多，请于 %s（北京时间）后再试。",
		"login.required":          "请填写用户名和密码。",
		"login.level":             "认证等级：%s",
		"totp.title":              "动态验证码",
		"totp.intro":              "请输入身份验证器应用中显示的 6 位动态验证码。",
		"totp.code":               "动态验证码",
		"totp.submit":             "验证",
		"totp.bad":                "动态验证码错误或已使用。",
		"totp.required":           "请填写动态验证码。",
		"cert.title":              "证书登录",
		"cert.qr":                 "扫码登录（市民卡或电子证照设备）",
		"cert.failed":             "证书登录失败：",
		"cert.intro":              "使用市民卡（一卡通）或企业电子证照（e证通）证书登录：请用证书助手对下列内容签名。",
		"cert.want":               "该应用要求证书登录（%s）。",
		"cert.challenge.label":    "待签名内容",
		"cert.chain":              "证书链（PEM）",
		"cert.signature":          "签名（Base64）",
		"cert.submit":             "证书登录",
		"cert.mtls":               "使用浏览器中的证书登录（ECDSA 证书）",
		"cert.revoked":            "证书已被吊销，不能用于登录。",
		"cert.revocation":         "无法确认证书状态，暂不能登录。",
		"cert.challenge":          "签名内容已过期或已使用，请重新签名。",
		"cert.malformed":          "证书或签名格式错误。",
		"cert.refused":            "证书不受信任、不可用于登录或签名无效。",
		"cert.account":            "该证书不能对应到可用账号。",
		"cert.locked":             "登录失败次数过多，请稍后再试。",
		"consent.title":           "授权确认",
		"consent.intro":           "“%s”请求获取您的以下信息：",
		"consent.allow":           "同意",
		"consent.deny":            "拒绝",
		"consent.user":            "当前登录账号：%s",
		"scope.openid":            "您在该网站的用户标识",
		"scope.profile":           "姓名和用户名",
		"scope.email":             "电子邮箱",
		"scope.phone":             "手机号码",
		"scope.address":           "联系地址",
		"error.title":             "请求无法处理",
		"error.back":              "请返回原网站重新发起登录。",
		"error.expired":           "登录请求已失效或已完成。",
		"error.client":            "未登记的应用或回调地址，出于安全考虑不予跳转。",
		"error.request":           "请求格式错误。",
		"error.internal":          "服务暂时不可用，请稍后再试。",
		"lang.other":              "English",
		"lang.other.code":         localeEN,
		"skip":                    "跳到主要内容",
		"enrol.title":             "启用动态验证码",
		"enrol.intro":             "启用后，每次用密码登录时还需输入身份验证器应用中的 6 位动态验证码，要求更高认证等级（urn:tongxing:loa:3）的网站即可登录。",
		"enrol.replacing":         "您已启用动态验证码；确认后，新的密钥将取代原有密钥，旧的验证器将不能再使用。",
		"enrol.step.scan":         "用身份验证器应用（如手机上的验证器）扫描下面的二维码：",
		"enrol.qr.alt":            "动态验证码密钥二维码（账号 %s）",
		"enrol.step.manual":       "无法扫码时，请在应用中手动输入以下密钥（基于时间，忽略空格）：",
		"enrol.params":            "账号：%s；发行方：Tongxing；6 位数字，30 秒更新（SHA-1）。",
		"enrol.step.confirm":      "输入应用显示的动态验证码以完成启用。",
		"enrol.password":          "当前密码（确认是您本人）",
		"enrol.password.required": "请填写当前密码和动态验证码。",
		"enrol.password.bad":      "密码错误。",
		"enrol.submit":            "启用",
		"enrol.expiry":            "该密钥 10 分钟内有效；未完成启用前，您的账号不受影响。",
		"enrol.done":              "动态验证码已启用。",
		"enrol.done.next":         "下次用密码登录时，请输入身份验证器中的动态验证码。当前登录状态不变。",
		"enrol.signin":            "请先登录：在任一接入统一身份认证的网站登录后，再打开本页面。",
		"enrol.stepup":            "您已启用动态验证码。如需更换，请先用密码和动态验证码（或证书）重新登录，再打开本页面。",
		"enrol.disabled":          "该账号已停用。",
		"enrol.expired":           "本次启用已失效或页面已过期，请重新打开本页面。",
	},
	localeEN: {
		"brand":                   "Tongxing single sign-on",
		"login.title":             "Sign in",
		"login.intro":             "“%s” asks you to sign in.",
		"login.intro.dept":        "“%s” (%s) asks you to sign in.",
		"login.username":          "User name",
		"login.password":          "Password",
		"login.submit":            "Sign in",
		"login.bad":               "Wrong user name or password.",
		"login.locked":            "Too many failed sign-ins. Try again after %s (China Standard Time).",
		"login.required":          "Enter your user name and password.",
		"login.level":             "Assurance level: %s",
		"totp.title":              "One-time code",
		"totp.intro":              "Enter the 6-digit code shown by your authenticator app.",
		"totp.code":               "One-time code",
		"totp.submit":             "Verify",
		"totp.bad":                "Wrong or already used code.",
		"totp.required":           "Enter the one-time code.",
		"cert.title":              "Certificate sign-in",
		"cert.qr":                 "Scan to sign in (citizen card or e-cert device)",
		"cert.failed":             "Certificate sign-in failed:",
		"cert.intro":              "Sign in with a citizen card or enterprise e-cert: sign the text below with your certificate tool.",
		"cert.want":               "This application requires certificate sign-in (%s).",
		"cert.challenge.label":    "Text to sign",
		"cert.chain":              "Certificate chain (PEM)",
		"cert.signature":          "Signature (Base64)",
		"cert.submit":             "Sign in with certificate",
		"cert.mtls":               "Sign in with a certificate installed in this browser (ECDSA)",
		"cert.revoked":            "The certificate has been revoked and cannot be used to sign in.",
		"cert.revocation":         "The certificate's status cannot be confirmed; sign-in is refused for now.",
		"cert.challenge":          "The signed text has expired or was already used; sign again.",
		"cert.malformed":          "Malformed certificate or signature.",
		"cert.refused":            "The certificate is not trusted, not usable for sign-in, or the signature is wrong.",
		"cert.account":            "The certificate does not match a usable account.",
		"cert.locked":             "Too many failed sign-ins. Try again later.",
		"consent.title":           "Allow access",
		"consent.intro":           "“%s” asks for the following information:",
		"consent.allow":           "Allow",
		"consent.deny":            "Deny",
		"consent.user":            "Signed in as %s",
		"scope.openid":            "Your user identifier at this website",
		"scope.profile":           "Your name and user name",
		"scope.email":             "Your e-mail address",
		"scope.phone":             "Your phone number",
		"scope.address":           "Your postal address",
		"error.title":             "The request cannot be processed",
		"error.back":              "Please go back to the website and sign in again.",
		"error.expired":           "This sign-in request has expired or was already completed.",
		"error.client":            "Unknown application or redirect address; for your safety you are not redirected.",
		"error.request":           "The request is malformed.",
		"error.internal":          "The service is temporarily unavailable. Please try again later.",
		"lang.other":              "中文",
		"lang.other.code":         localeZH,
		"skip":                    "Skip to main content",
		"enrol.title":             "Turn on one-time codes",
		"enrol.intro":             "Once on, every sign-in with your password also asks for the 6-digit code of your authenticator app, and websites that require the higher assurance level urn:tongxing:loa:3 let you in.",
		"enrol.replacing":         "One-time codes are already on; confirming replaces the old key, and the old authenticator entry stops working.",
		"enrol.step.scan":         "Scan this QR code with an authenticator app (for example on your phone):",
		"enrol.qr.alt":            "QR code of the one-time code key (account %s)",
		"enrol.step.manual":       "If you cannot scan it, type this key into the app instead (time-based; spaces do not matter):",
		"enrol.params":            "Account: %s; issuer: Tongxing; 6 digits, every 30 seconds (SHA-1).",
		"enrol.step.confirm":      "Enter the code the app shows to finish.",
		"enrol.password":          "Current password (to confirm it is you)",
		"enrol.password.required": "Enter your current password and the one-time code.",
		"enrol.password.bad":      "Wrong password.",
		"enrol.submit":            "Turn on",
		"enrol.expiry":            "This key can be confirmed for 10 minutes; until then nothing changes for your account.",
		"enrol.done":              "One-time codes are on.",
		"enrol.done.next":         "The next time you sign in with your password, enter the code from your authenticator app. You stay signed in as you are.",
		"enrol.signin":            "Sign in first: sign in at any website that uses this single sign-on, then open this page again.",
		"enrol.stepup":            "One-time codes are already on. To replace them, sign in again with your password and a one-time code (or a certificate), then open this page.",
		"enrol.disabled":          "This account is disabled.",
		"enrol.expired":           "This enrolment has expired or the page is out of date; open this page again.",
	},
}

// translator returns the message function of locale.
func translator(locale string) func(key string, args ...any) string {
	m, ok := messages[locale]
	if !ok {
		m = messages[localeZH]
	}
	return func(key string, args ...any) string {
		s, ok := m[key]
		if !ok {
			return key
		}
		if len(args) > 0 {
			return fmt.Sprintf(s, args...)
		}
		return s
	}
}

// localeOf maps a language tag to a supported locale: any "en" tag to en,
// any "zh" tag (zh-CN, zh-Hans, zh-TW, ...) to zh-CN, else "".
func localeOf(tag string) string {
	base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
	switch base {
	case "en":
		return localeEN
	case "zh":
		return localeZH
	}
	return ""
}

// pickLocale chooses the page locale: the first supported ui_locales
// value, else the preferred supported language of the Accept-Language
// header, else zh-CN.
func pickLocale(uiLocales []string, acceptLanguage string) string {
	for _, t := range uiLocales {
		if l := localeOf(t); l != "" {
			return l
		}
	}
	if len(acceptLanguage) > 1024 {
		acceptLanguage = acceptLanguage[:1024]
	}
	type pref struct {
		locale string
		q      float64
	}
	var prefs []pref
	for i, part := range strings.Split(acceptLanguage, ",") {
		if i >= 32 {
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if l := localeOf(tag); l != "" && q > 0 {
			prefs = append(prefs, pref{l, q})
		}
	}
	slices.SortStableFunc(prefs, func(a, b pref) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	if len(prefs) > 0 {
		return prefs[0].locale
	}
	return localeZH
}
