package ident_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tongxing/tongxing/ca/ident"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		kind ident.Kind // 0: accepted
		says string
	}{
		{"ok/chinese", "张三", 0, ""},
		{"ok/minority-name-middle-dot", "阿依古丽·买买提", 0, ""},
		{"ok/latin-with-space", "Zhang San", 0, ""},
		{"ok/organisation", "示例科技（福州）有限公司", 0, ""},
		{"ok/combining-mark", "Jose\u0301", 0, ""},
		{"ok/rare-cjk-extension-b", "\U00020000", 0, ""},
		{"fail/rlo", "invoice\u202efdp.exe", ident.ErrCharset, "bidirectional control U+202E"},
		{"fail/lre", "a\u202ab", ident.ErrCharset, "bidirectional control U+202A"},
		{"fail/lri", "a\u2066b", ident.ErrCharset, "bidirectional control U+2066"},
		{"fail/pdi", "a\u2069b", ident.ErrCharset, "bidirectional control U+2069"},
		{"fail/lrm", "a\u200eb", ident.ErrCharset, "bidirectional control U+200E"},
		{"fail/rlm", "a\u200fb", ident.ErrCharset, "bidirectional control U+200F"},
		{"fail/alm", "a\u061cb", ident.ErrCharset, "bidirectional control U+061C"},
		{"fail/zwsp", "张\u200b三", ident.ErrCharset, "zero-width character U+200B"},
		{"fail/zwnj", "张\u200c三", ident.ErrCharset, "zero-width character U+200C"},
		{"fail/zwj", "张\u200d三", ident.ErrCharset, "zero-width character U+200D"},
		{"fail/word-joiner", "张\u2060三", ident.ErrCharset, "zero-width character U+2060"},
		{"fail/bom", "\ufeff张三", ident.ErrCharset, "zero-width character U+FEFF"},
		{"fail/soft-hyphen", "a\u00adb", ident.ErrCharset, "invisible format character U+00AD"},
		{"fail/nul", "a\x00b", ident.ErrCharset, "control character U+0000"},
		{"fail/newline", "TSA\nCN=evil", ident.ErrCharset, "control character U+000A"},
		{"fail/del", "a\x7fb", ident.ErrCharset, "control character U+007F"},
		{"fail/c1-nel", "a\u0085b", ident.ErrCharset, "control character U+0085"},
		{"fail/c1-csi", "a\u009bb", ident.ErrCharset, "control character U+009B"},
		{"fail/line-separator", "a\u2028b", ident.ErrCharset, "separator U+2028"},
		{"fail/private-use", "a\ue000b", ident.ErrCharset, "private-use character U+E000"},
		{"fail/noncharacter", "a\ufffeb", ident.ErrCharset, "noncharacter U+FFFE"},
		{"fail/replacement-character", "张\ufffd", ident.ErrCharset, "replacement character U+FFFD"},
		{"fail/invalid-utf8", "张\xff三", ident.ErrEncoding, "not valid UTF-8"},
		{"fail/too-long", strings.Repeat("名", 65), ident.ErrLength, "65 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ident.CheckName(tt.in, 64)
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("CheckName(%q): %v", tt.in, err)
				}
				return
			}
			var ie *ident.Error
			if !errors.As(err, &ie) || !errors.Is(err, tt.kind) || ie.Field != ident.FieldName {
				t.Fatalf("CheckName(%q) = %v, want an *ident.Error of kind %v", tt.in, err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if len(tt.in) >= 8 && strings.Contains(err.Error(), tt.in) {
				t.Errorf("error quotes the name: %q", err)
			}
		})
	}
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"张三", "a\u202eb", "\xff", "Zhang San", "\u200b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ident.CheckName(s, 64) != nil {
			return
		}
		for _, r := range s {
			if r < 0x20 || (r >= 0x7f && r < 0xa0) || (r >= 0x200b && r <= 0x200f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0xfeff || r == 0xfffd {
				t.Fatalf("accepted %q holding U+%04X", s, r)
			}
		}
	})
}
