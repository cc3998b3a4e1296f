package ident

import (
	"strconv"
	"strings"
)

// USCCLen is the length of a GB 32100-2015 unified social credit code.
const USCCLen = 18

// usccAlphabet is the GB 32100 character set in value order: digits, then
// upper-case letters without I, O, S, V and Z.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// NormalizeUSCC trims leading and trailing white space and upper-cases ASCII
// letters. It is idempotent and does NOT validate: call [ValidateUSCC] on its
// result.
func NormalizeUSCC(s string) string {
	return normalize(s)
}

// ValidateUSCC checks that s is a GB 32100-2015 unified social credit code.
// In order:
//
//   - exactly 18 bytes ([ErrLength]);
//   - every character in "0123456789ABCDEFGHJKLMNPQRTUWXY" ([ErrCharset]);
//   - position 1, the registration authority, and position 2, the
//     organisation type, form a pair the code table assigns ([ErrSegment]):
//     1 机构编制 {1,2,3,9}; 2 外交 {1,9}; 3 司法行政 {1,2,3,4,5,9};
//     4 文化 {1,9}; 5 民政 {1,2,3,9}; 6 旅游 {1,2,9}; 7 宗教 {1,2,9};
//     8 工会 {1,9}; 9 工商 {1,2,3}; A 中央军委改革和编制办公室 {1,9};
//     N 农业 {1,2,3,9}; Y 其他 {1};
//   - positions 3-8, the administrative division code, are digits
//     ([ErrSegment]);
//   - positions 9-17, the GB 11714 organisation code, end in their own MOD 11
//     check character ([ErrChecksum]);
//   - position 18 is the MOD 31 check character ([ErrChecksum]).
//
// Every failure is an [*Error] with Field [FieldUSCC]. s must already be
// normalised (see [NormalizeUSCC]). It does NOT check the division code
// against GB/T 2260.
func ValidateUSCC(s string) error {
	fail := func(kind Kind, reason string) error {
		return newError(kind, FieldUSCC, s, reason)
	}
	if len(s) != USCCLen {
		return fail(ErrLength, "want 18 characters, got "+strconv.Itoa(len(s)))
	}
	for i := 0; i < USCCLen; i++ {
		if strings.IndexByte(usccAlphabet, s[i]) < 0 {
			return fail(ErrCharset, "position "+strconv.Itoa(i+1)+" is not in the GB 32100 character set")
		}
	}
	types := orgTypes(s[0])
	if types == "" {
		return fail(ErrSegment, "registration authority code "+s[0:1]+" is not assigned")
	}
	if strings.IndexByte(types, s[1]) < 0 {
		return fail(ErrSegment, "organisation type code "+s[1:2]+" is not assigned for registration authority "+s[0:1])
	}
	for i := 2; i < 8; i++ {
		if !isDigit(s[i]) {
			return fail(ErrSegment, "administrative division code position "+strconv.Itoa(i+1)+" is not a digit")
		}
	}
	if orgCodeCheck(s[8:16]) != s[16] {
		return fail(ErrChecksum, "GB 11714 organisation code check character does not match")
	}
	if usccCheck(s[:USCCLen-1]) != s[USCCLen-1] {
		return fail(ErrChecksum, "GB 32100 check character does not match")
	}
	return nil
}

// orgTypes returns the organisation type codes assigned to a registration
// authority code, or "" if the authority code is not assigned.
func orgTypes(authority byte) string {
	switch authority {
	case '1': // 机构编制: 机关, 事业单位, 编办直接管理的群众团体, 其他
		return "1239"
	case '2': // 外交: 外国常驻新闻机构, 其他
		return "19"
	case '3': // 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
		return "123459"
	case '4': // 文化: 外国在华文化中心, 其他
		return "19"
	case '5': // 民政: 社会团体, 民办非企业单位, 基金会, 其他
		return "1239"
	case '6': // 旅游: 外国旅游部门常驻代表机构, 港澳台地区旅游部门常驻代表机构, 其他
		return "129"
	case '7': // 宗教: 宗教活动场所, 宗教院校, 其他
		return "129"
	case '8': // 工会: 基层工会, 其他
		return "19"
	case '9': // 工商: 企业, 个体工商户, 农民专业合作社
		return "123"
	case 'A': // 中央军委改革和编制办公室: 军队事业单位, 其他
		return "19"
	case 'N': // 农业: 组级, 村级, 乡镇级集体经济组织, 其他
		return "1239"
	case 'Y': // 其他: not subdivided
		return "1"
	}
	return ""
}

// orgCodeCheck computes the GB 11714-1997 check character of an 8-character
// organisation code body: character values 0-9 and A=10 ... Z=35, weights
// 3,7,9,10,5,8,4,2, check 11 - (sum mod 11), written X for 10 and 0 for 11.
// body must hold only digits and upper-case letters.
func orgCodeCheck(body string) byte {
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		c := body[i]
		v := int(c - '0')
		if c >= 'A' {
			v = int(c-'A') + 10
		}
		sum += v * w
	}
	switch r := 11 - sum%11; r {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + r)
	}
}

// usccCheck computes the GB 32100 check character of a 17-character body:
// values are indexes into usccAlphabet, weights 3^(i-1) mod 31, check
// 31 - (sum mod 31), with 31 written as 0.
func usccCheck(body string) byte {
	weights := [USCCLen - 1]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for i, w := range weights {
		sum += strings.IndexByte(usccAlphabet, body[i]) * w
	}
	return usccAlphabet[(31-sum%31)%31]
}
