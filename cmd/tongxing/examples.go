package main

import "github.com/spf13/cobra"

// examples are the Example: texts of the commands that do not set their
// own, by command path; setExamples applies them and TestEveryCommandHasExample
// holds every command to having one.
var examples = map[string]string{
	"tongxing audit":                   "  tongxing audit tail -n 20\n  tongxing audit search --action access.deny",
	"tongxing audit export":            "  tongxing audit export -o evidence.jsonl\n  tongxing audit export --action ca.certificate.revoke --from 2026-11-01T00:00:00Z -o revocations.jsonl",
	"tongxing audit verify":            "  tongxing audit verify\n  tongxing audit verify --data /srv/tongxing --database postgres://tongxing@db/tongxing",
	"tongxing audit verify-bundle":     "  tongxing audit verify-bundle evidence.jsonl --key tongxing-data/pki/audit-sm2.pub.pem",
	"tongxing ca":                      "  tongxing ca enrol-code --profile citizen --name 张三 --id-number 11010519491231002X\n  tongxing ca list --status revoked",
	"tongxing ca list":                 "  tongxing ca list --profile citizen\n  tongxing ca list --status revoked --json",
	"tongxing ca show":                 "  tongxing ca show 4aede775cf3f9e0db71009a60b3fd6387b34419e\n  tongxing ca show 4aede775cf3f9e0db71009a60b3fd6387b34419e --status-only\n  tongxing ca show 4aede775cf3f9e0db71009a60b3fd6387b34419e --pem > cert.pem",
	"tongxing ca revoke":               "  tongxing ca revoke 4aede775cf3f9e0db71009a60b3fd6387b34419e --reason keyCompromise --comment \"key leaked, ticket 42\"",
	"tongxing ca hold":                 "  tongxing ca hold 4aede775cf3f9e0db71009a60b3fd6387b34419e --comment \"card reported missing\"",
	"tongxing ca release":              "  tongxing ca release 4aede775cf3f9e0db71009a60b3fd6387b34419e --comment \"card found\"",
	"tongxing ca recovery":             "  tongxing ca recovery list --status requested",
	"tongxing ca recovery list":        "  tongxing ca recovery list\n  tongxing ca recovery list --status approved --json",
	"tongxing ca recovery show":        "  tongxing ca recovery show rcv_0123456789abcdef",
	"tongxing ca recovery approve":     "  tongxing ca recovery approve rcv_0123456789abcdef --token \"$LI_TOKEN\"",
	"tongxing ca recovery reject":      "  tongxing ca recovery reject rcv_0123456789abcdef --comment \"no ticket\"",
	"tongxing ts":                      "  tongxing ts request filing.pdf -o filing.pdf.tsr",
	"tongxing gateway":                 "  tongxing gateway verify-evidence --help",
	"tongxing gateway verify-evidence": "  tongxing gateway verify-evidence --server https://localhost:9443 --audience renshe --path /gw/renshe/v1/insurance/1 \\\n      --caller-token \"$CALLER\" --timestamp \"$TS\"",
	"tongxing users":                   "  tongxing users list\n  tongxing users unlock zhangsan",
	"tongxing users list":              "  tongxing users list\n  tongxing users list --q 张 --json",
	"tongxing users show":              "  tongxing users show zhangsan",
	"tongxing users unlock":            "  tongxing users unlock zhangsan",
	"tongxing users totp-reset":        "  tongxing users totp-reset zhangsan",
	"tongxing users password":          "  printf '%s' \"$NEW_PASSWORD\" | tongxing users password zhangsan --password-stdin",
	"tongxing clients":                 "  tongxing clients add tax-portal --name 税务门户 --department tax --redirect-uri https://tax.example/callback",
	"tongxing key":                     "  tongxing key export invoice-api/key.pem --format pkcs8 -o invoice-api/key.unencrypted.pem",
	"tongxing init":                    "  TONGXING_KEY_PASSPHRASE='five random words like these' tongxing init --org 示例市大数据局 --public-url https://ca.example.gov.cn\n  tongxing init --data /srv/tongxing --key-passphrase-file /root/ca.pass --config tongxing.yaml --name-constraints",
	"tongxing config":                  "  tongxing config print",
	"tongxing config print":            "  tongxing config print\n  tongxing config print --config tongxing.yaml --listen :9443",
	"tongxing officers":                "  tongxing officers list --role auditor",
	"tongxing officers list":           "  tongxing officers list --role auditor",
	"tongxing officers proposals":      "  tongxing officers proposals --role ra\n  tongxing officers proposals --role sysadmin --status \"\"",
	"tongxing officers reissue":        "  tongxing officers reissue li.ra --comment \"lost token, ticket 7\"",
	"tongxing officers approve":        "  tongxing officers approve prp_0123456789abcdef --role ra",
	"tongxing officers reject":         "  tongxing officers reject prp_0123456789abcdef --role ra --comment \"not in the staff list\"",
	"tongxing officers claim":          "  tongxing officers claim prp_0123456789abcdef --proposer-code \"$PROPOSER_CODE\" --approver-code \"$APPROVER_CODE\" -o li.token",
	"tongxing officers revoke":         "  tongxing officers revoke li.ra --comment \"left the office\"",
	"tongxing officers unbind":         "  tongxing officers unbind li.ra",
	"tongxing officers token":          "  tongxing officers token --role ra\n  tongxing officers token --token \"$MY_TOKEN\" --ttl 30d -o my.token",
	"tongxing officers whoami":         "  tongxing officers whoami --role auditor",
	"tongxing policy":                  "  tongxing policy test --dir policies",
	"tongxing policy build":            "  tongxing policy build --dir policies -o policy.tar.gz",
	"tongxing policy test":             "  tongxing policy test --dir policies -v",
	"tongxing policy eval":             "  tongxing policy eval --input input.json --explain",
	"tongxing policy push":             "  tongxing policy push policy.tar.gz",
	"tongxing policy show":             "  tongxing policy show",
}

// setExamples gives every command under root that has no Example its
// entry in examples.
func setExamples(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Example == "" {
			c.Example = examples[c.CommandPath()]
		}
		setExamples(c)
	}
}
