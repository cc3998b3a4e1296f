package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestCLIErrors runs the command tree in-process: mistakes fail (non-nil
// error, so exit 1) with a message naming the fix.
func TestCLIErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		says []string
	}{
		{"fail/unknown-subcommand", []string{"ca", "lsit"}, []string{`unknown command "lsit" for "tongxing ca"`, "Did you mean this?\n\tlist"}},
		{"fail/unknown-nested-subcommand", []string{"ca", "recovery", "aprove"}, []string{`unknown command "aprove"`, "approve"}},
		{"fail/unknown-top-command", []string{"sreve"}, []string{`unknown command "sreve"`, "serve"}},
		{"fail/unknown-flag", []string{"ca", "enrol-code", "--profle", "citizen"}, []string{"unknown flag: --profle (did you mean --profile?)", "tongxing ca enrol-code --help"}},
		{"fail/unknown-flag-prefix", []string{"audit", "tail", "--foll"}, []string{"did you mean --follow?"}},
		{"fail/missing-argument", []string{"ca", "show"}, []string{"tongxing ca show takes SERIAL, got 0 argument(s)"}},
		{"fail/two-arguments", []string{"ts", "verify", "a"}, []string{"takes FILE FILE.tsr, got 1"}},
		{"fail/no-arguments-taken", []string{"serve", "now"}, []string{`tongxing serve takes no arguments, got "now"`}},
		{"fail/duration", []string{"ca", "enrol-code", "--profile", "citizen", "--ttl", "3 days"}, []string{"--ttl", "positive"}},
		{"fail/enterprise-without-dual", []string{"ca", "request", "--profile", "enterprise", "--code", "x"}, []string{"add --dual"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			root := newRoot(&out, &out)
			root.SetArgs(append(tt.args, "--data", t.TempDir()))
			err := root.ExecuteContext(t.Context())
			if err == nil {
				t.Fatalf("succeeded:\n%s", out.String())
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
	t.Run("ok/group-without-subcommand-shows-help", func(t *testing.T) {
		var out bytes.Buffer
		root := newRoot(&out, &out)
		root.SetArgs([]string{"ca"})
		if err := root.Execute(); err != nil || !strings.Contains(out.String(), "enrol-code") {
			t.Errorf("err %v\n%s", err, out.String())
		}
	})
	t.Run("ok/out-is-output", func(t *testing.T) {
		root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
		req, _, err := root.Find([]string{"ca", "request"})
		if err != nil {
			t.Fatal(err)
		}
		if err := req.ParseFlags([]string{"--out", "dir1"}); err != nil || req.Flag("output").Value.String() != "dir1" {
			t.Errorf("--out: err %v, output %q", err, req.Flag("output").Value)
		}
	})
}

func TestDays(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		fail bool
	}{
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "1y", want: 365 * 24 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "0d", fail: true},
		{in: "-3h", fail: true},
		{in: "d", fail: true},
	} {
		var d time.Duration
		err := daysDuration{&d}.Set(tt.in)
		if (err != nil) != tt.fail || !tt.fail && d != tt.want {
			t.Errorf("%q: %v, %v", tt.in, d, err)
		}
	}
	if s := formatDays(72 * time.Hour); s != "3d" {
		t.Errorf("formatDays(72h) = %q", s)
	}
}

func TestWeakPassphrase(t *testing.T) {
	for _, tt := range []struct {
		pass, says string
	}{
		{"...", "fewer than 12"},
		{"短密码", "fewer than 12"},
		{"password1234", "common password"},
		{"PASSWORD-1234!!", "common password"},
		{"Correct Horse Battery Staple", "common password"},
		{"woaini1314woaini", "common password"},
		{"1q2w3e4r5t6y", "common password"},
		{"123456789012345", "only digits"},
		{"abababababababab", "different characters"},
		{"plum orbit canvas ladder 42", ""},
		{"示例市大数据局的根密钥二〇二六", ""},
	} {
		if got := weakPassphrase([]byte(tt.pass)); tt.says == "" && got != "" || !strings.Contains(got, tt.says) {
			t.Errorf("%q: %q, want %q", tt.pass, got, tt.says)
		}
	}
}
