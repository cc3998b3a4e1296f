package ca_test

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tongxing/tongxing/ca"
	"github.com/tongxing/tongxing/kms"
)

func TestBuiltinProfiles(t *testing.T) {
	profiles, err := ca.LoadProfiles(ca.BuiltinProfiles())
	if err != nil {
		t.Fatalf("LoadProfiles(builtin): %v", err)
	}
	tests := []struct {
		name     string
		suites   []kms.Suite
		validity time.Duration
		required []string
	}{
		{"citizen", []kms.Suite{kms.GM}, 8760 * time.Hour, []string{"name", "id_number"}},
		{"enterprise-sign", []kms.Suite{kms.GM}, 17520 * time.Hour, []string{"organization", "uscc"}},
		{"enterprise-enc", []kms.Suite{kms.GM}, 17520 * time.Hour, []string{"organization", "uscc"}},
		{"service", []kms.Suite{kms.Intl, kms.GM}, 2160 * time.Hour, []string{"department", "service"}},
		{"tsa", []kms.Suite{kms.GM, kms.Intl}, 43800 * time.Hour, []string{"name"}},
		{"ocsp", []kms.Suite{kms.GM, kms.Intl}, 2160 * time.Hour, []string{"name"}},
		{"citizen-login", []kms.Suite{kms.Intl}, 8760 * time.Hour, []string{"name", "id_number"}},
		{"enterprise-login", []kms.Suite{kms.Intl}, 17520 * time.Hour, []string{"organization", "uscc"}},
	}
	if len(profiles) != len(tests) {
		t.Errorf("%d built-in profiles, want %d", len(profiles), len(tests))
	}
	for _, tt := range tests {
		t.Run("ok/"+tt.name, func(t *testing.T) {
			p := profiles[tt.name]
			if p == nil {
				t.Fatalf("profile %s missing", tt.name)
			}
			if p.Name != tt.name || p.Description == "" {
				t.Errorf("name %q description %q", p.Name, p.Description)
			}
			if strings.Join(suiteNames(p.Suites), ",") != strings.Join(suiteNames(tt.suites), ",") {
				t.Errorf("suites %v, want %v", p.Suites, tt.suites)
			}
			for _, s := range tt.suites {
				if !p.Allows(s) {
					t.Errorf("Allows(%s) = false", s)
				}
			}
			if p.Validity != tt.validity {
				t.Errorf("validity %v, want %v", p.Validity, tt.validity)
			}
			if strings.Join(p.Required, ",") != strings.Join(tt.required, ",") {
				t.Errorf("required %v, want %v", p.Required, tt.required)
			}
		})
	}
	t.Run("ok/restrictions-and-login-profiles", func(t *testing.T) {
		if !profiles["ocsp"].Internal || !profiles["tsa"].Internal || !profiles["enterprise-enc"].KMCOnly {
			t.Error("ocsp and tsa must be internal, enterprise-enc kmc_only")
		}
		for name, p := range profiles {
			if name != "ocsp" && name != "tsa" && p.Internal || name != "enterprise-enc" && p.KMCOnly {
				t.Errorf("%s is restricted", name)
			}
		}
		if profiles["citizen"].LoginProfile != "citizen-login" || profiles["enterprise-sign"].LoginProfile != "enterprise-login" {
			t.Error("login profiles of citizen and enterprise-sign")
		}
	})
	t.Run("ok/citizen-pseudonym-by-default", func(t *testing.T) {
		if v := profiles["citizen"].Options["identity_code_extension"]; v != false {
			t.Errorf("identity_code_extension = %v, want false", v)
		}
	})
}

func suiteNames(s []kms.Suite) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	return out
}

const validProfile = `name: test
description: a test profile
suites: [gm]
validity: 24h
required: [name]
allowed: [name, organization]
options:
  flag: false
template: |
  {"subject": {"commonName": {{ toJson .Subject.Name }}}, "keyUsage": ["digitalSignature"]}
`

func TestParseProfile(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring of the error; empty for success
	}{
		{"ok/valid", validProfile, ""},
		{"ok/no-options", strings.Replace(validProfile, "options:\n  flag: false\n", "", 1), ""},
		{"fail/unknown-key", validProfile + "colour: blue\n", "colour"},
		{"fail/unknown-subject-field", strings.Replace(validProfile, "allowed: [name, organization]", "allowed: [name, email]", 1), `"email"`},
		{"fail/unknown-required-field", strings.Replace(validProfile, "required: [name]", "required: [name, phone]", 1), `"phone"`},
		{"fail/bad-suite", strings.Replace(validProfile, "suites: [gm]", "suites: [gm, rsa]", 1), "rsa"},
		{"fail/no-suites", strings.Replace(validProfile, "suites: [gm]", "suites: []", 1), "no suites"},
		{"fail/bad-template", strings.Replace(validProfile, "{{ toJson .Subject.Name }}", "{{ toJson .Subject.Name ", 1), "template"},
		{"fail/template-unknown-function", strings.Replace(validProfile, "toJson", "toYaml", 1), "toYaml"},
		{"fail/required-not-allowed", strings.Replace(validProfile, "allowed: [name, organization]", "allowed: [organization]", 1), `required field "name" is not allowed`},
		{"fail/no-name", strings.Replace(validProfile, "name: test\n", "", 1), "missing name"},
		{"fail/zero-validity", strings.Replace(validProfile, "validity: 24h", "validity: 0s", 1), "validity"},
		{"fail/negative-validity", strings.Replace(validProfile, "validity: 24h", "validity: -1h", 1), "validity"},
		{"fail/bad-validity", strings.Replace(validProfile, "validity: 24h", "validity: a year", 1), "parse"},
		{"fail/not-yaml", "{{{", "parse"},
		{"fail/empty", "", "parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ca.ParseProfile([]byte(tt.yaml))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseProfile: %v", err)
				}
				if p.Name != "test" || p.Validity != 24*time.Hour || !p.Allows(kms.GM) || p.Allows(kms.Intl) || p.Options == nil {
					t.Fatalf("parsed %+v", p)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseProfile accepted %q", tt.yaml)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadProfiles(t *testing.T) {
	tests := []struct {
		name    string
		fs      fstest.MapFS
		want    int
		wantErr string
	}{
		{"ok/one", fstest.MapFS{"test.yaml": {Data: []byte(validProfile)}, "README.md": {Data: []byte("not a profile")}}, 1, ""},
		{"fail/empty", fstest.MapFS{}, 0, "no profiles"},
		{"fail/name-differs-from-file", fstest.MapFS{"other.yaml": {Data: []byte(validProfile)}}, 0, "file name"},
		{"fail/one-bad-file", fstest.MapFS{"test.yaml": {Data: []byte(validProfile)}, "bad.yaml": {Data: []byte("name: bad\n")}}, 0, "bad.yaml"},
		{"ok/login-profile", fstest.MapFS{"test.yaml": {Data: []byte(validProfile + "login_profile: login\n")},
			"login.yaml": {Data: []byte(strings.Replace(validProfile, "name: test", "name: login", 1))}}, 2, ""},
		{"fail/unknown-login-profile", fstest.MapFS{"test.yaml": {Data: []byte(validProfile + "login_profile: nope\n")}}, 0, `login_profile "nope"`},
		{"fail/login-profile-lacks-a-field", fstest.MapFS{"test.yaml": {Data: []byte(validProfile + "login_profile: login\n")},
			"login.yaml": {Data: []byte(strings.Replace(strings.Replace(validProfile, "name: test", "name: login", 1), "allowed: [name, organization]", "allowed: [name]", 1))}}, 0, `does not take subject field "organization"`},
		{"fail/internal-login-profile", fstest.MapFS{"test.yaml": {Data: []byte(validProfile + "login_profile: login\n")},
			"login.yaml": {Data: []byte(strings.Replace(validProfile, "name: test", "name: login", 1) + "internal: true\n")}}, 0, "plain profile"},
		{"fail/internal-and-kmc-only", fstest.MapFS{"test.yaml": {Data: []byte(validProfile + "internal: true\nkmc_only: true\n")}}, 0, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ca.LoadProfiles(tt.fs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadProfiles error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("LoadProfiles = %d profiles, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

func TestProfileSetOption(t *testing.T) {
	tests := []struct {
		name   string
		option string
		value  any
		ok     bool
	}{
		{"ok/identity-code-on", "identity_code_extension", true, true},
		{"ok/identity-code-off", "identity_code_extension", false, true},
		{"fail/undeclared-option", "write_id_number", true, false},
		// A string is truthy in a template whatever it says: "false" would
		// put the citizen's ID number into the certificate.
		{"fail/string-for-bool", "identity_code_extension", "false", false},
		{"fail/int-for-bool", "identity_code_extension", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			profiles, err := ca.LoadProfiles(ca.BuiltinProfiles())
			if err != nil {
				t.Fatal(err)
			}
			p := profiles["citizen"]
			err = p.SetOption(tt.option, tt.value)
			if tt.ok {
				if err != nil {
					t.Fatalf("SetOption: %v", err)
				}
				if p.Options[tt.option] != tt.value {
					t.Fatalf("option = %v, want %v", p.Options[tt.option], tt.value)
				}
				return
			}
			if err == nil {
				t.Fatalf("SetOption(%q, %#v) accepted", tt.option, tt.value)
			}
			if !strings.Contains(err.Error(), tt.option) {
				t.Errorf("error %q does not name the option", err)
			}
			if v := p.Options["identity_code_extension"]; v != false {
				t.Errorf("a rejected SetOption changed identity_code_extension to %#v", v)
			}
		})
	}
	t.Run("ok/profiles-are-independent", func(t *testing.T) {
		a, _ := ca.LoadProfiles(ca.BuiltinProfiles())
		b, _ := ca.LoadProfiles(ca.BuiltinProfiles())
		if err := a["citizen"].SetOption("identity_code_extension", true); err != nil {
			t.Fatal(err)
		}
		if b["citizen"].Options["identity_code_extension"] != false {
			t.Fatal("SetOption on one loaded profile changed another load")
		}
	})
}
