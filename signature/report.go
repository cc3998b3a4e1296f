package signature

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// chinaTime is the zone reports show times in (UTC+8, no daylight saving).
var chinaTime = time.FixedZone("CST", 8*3600)

var checkTitles = map[string]string{
	CheckStructure:          "文件结构 / File structure",
	CheckContent:            "文件内容未被篡改 / Content unchanged",
	CheckSignature:          "签名值有效 / Signature value",
	CheckSigningCertificate: "签名绑定证书 / Signature bound to certificate",
	CheckTimestamp:          "可信时间戳 / Trusted time-stamp",
	CheckChain:              "证书链可信 / Certificate chain",
	CheckRevocation:         "证书未吊销 / Certificate not revoked",
}

var statusLabels = map[Status]string{
	Passed:     "通过 PASS",
	Failed:     "失败 FAIL",
	NotChecked: "未检查 N/A",
}

func showTime(t time.Time) string {
	return t.In(chinaTime).Format("2006-01-02 15:04:05 MST (UTC+8)")
}

// Text renders the report for a clerk: the verdict first, then who signed,
// when, and every check, in Chinese and English. Times are shown in China
// Standard Time.
func (r *Report) Text() string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		pad := 36 - displayWidth(label)
		if pad < 1 {
			pad = 1
		}
		fmt.Fprintf(&b, "%s%s%s\n", label, strings.Repeat(" ", pad), fmt.Sprintf(format, args...))
	}
	b.WriteString("签名验证报告 / Signature verification report\n")
	b.WriteString(strings.Repeat("=", 44) + "\n")
	if r.Valid {
		line("结论 / Result:", "签名有效 VALID")
	} else {
		line("结论 / Result:", "签名无效 INVALID — 请勿采信 / do not rely on this filing")
	}
	if s := r.Signer; s != nil {
		line("签名人 / Signer:", "%s", s.CommonName)
		if s.Organization != "" {
			line("单位 / Organisation:", "%s", s.Organization)
		}
		if s.USCC != "" {
			line("统一社会信用代码 / USCC:", "%s", s.USCC)
		}
		line("证书颁发者 / Issuer:", "%s", s.Issuer)
		line("证书序列号 / Serial:", "%s", s.Serial)
		line("证书有效期 / Validity:", "%s — %s", showTime(s.NotBefore), showTime(s.NotAfter))
	}
	if r.Algorithm != "" {
		line("算法 / Algorithm:", "%s (%s)", r.Algorithm, r.Suite)
	}
	if r.ContentDigest != "" {
		line("文件摘要 / Content digest:", "%s", r.ContentDigest)
	}
	if ts := r.Timestamp; ts != nil {
		line("可信签名时间 / Trusted time:", "%s ±%s", showTime(ts.Time), ts.Accuracy)
		line("时间戳机构 / Time-stamp authority:", "%s (No. %s)", ts.TSA, ts.Serial)
	} else {
		line("可信签名时间 / Trusted time:", "无 / none")
	}
	if r.ClaimedSigningTime != nil {
		line("声称签名时间 / Claimed time:", "%s (签名人自报 / signer's claim)", showTime(*r.ClaimedSigningTime))
	}
	line("验证所依时间 / Checked as of:", "%s", showTime(r.ValidationTime))
	b.WriteString("\n检查项 / Checks:\n")
	for _, c := range r.Checks {
		title := checkTitles[c.Name]
		if title == "" {
			title = c.Name
		}
		fmt.Fprintf(&b, "  [%s] %s", statusLabels[c.Status], title)
		if c.Detail != "" {
			fmt.Fprintf(&b, " — %s", c.Detail)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// displayWidth counts columns on a terminal: Han characters and full-width
// forms take two.
func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		if unicode.Is(unicode.Han, r) || (r >= 0xff00 && r <= 0xffef) || (r >= 0x3000 && r <= 0x303f) {
			w += 2
		} else {
			w++
		}
	}
	return w
}
