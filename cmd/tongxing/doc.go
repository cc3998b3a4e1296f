// Command tongxing is Tongxing's single binary: the server, its set-up, and
// the clients of its APIs for every role. Client commands reach the server
// at public_url (or --server) trusting DATA/pki/intl-root.crt (or
// --cacert), with the officer token of the role they need: --token, then
// $TONGXING_TOKEN, then DATA/secrets/ROLE-token.
//
// The commands (TestCommandTree holds this list to the code):
//
//	tongxing serve                    run the server; the first start makes a development PKI and DATA/config.yaml
//	tongxing init                     make the CA hierarchies, their keys (encrypted) and the first officers
//	tongxing config print             print the effective configuration
//	tongxing ca enrol-code            create an enrolment code for a profile and a vetted subject (ra)
//	tongxing ca request               make a key and a CSR and enrol with a code (--dual: the e证通 pair from the KMC)
//	tongxing ca list                  list issued certificates (ra)
//	tongxing ca show                  show a certificate (ra; its status to anyone with --status-only)
//	tongxing ca revoke                revoke a certificate (ra)
//	tongxing ca hold                  suspend a certificate (ra)
//	tongxing ca release               end a suspension (ra)
//	tongxing ca recovery request      request the recovery of an escrowed encryption key (ra)
//	tongxing ca recovery approve      approve a recovery (ra, not the requester)
//	tongxing ca recovery reject       reject or withdraw a recovery (ra)
//	tongxing ca recovery list         list recoveries (ra)
//	tongxing ca recovery show         show a recovery and its history (ra)
//	tongxing ca recovery deliver      deliver an approved recovery once, and open it with --key (ra)
//	tongxing ts request               time-stamp a file (RFC 3161, GM/T 0033)
//	tongxing ts verify                verify a time-stamp over a file
//	tongxing sign                     sign a filing (CMS SignedData) with a time-stamp
//	tongxing verify                   verify a signed filing: signature, time-stamp, chain, revocation
//	tongxing audit tail               the newest audit entries (auditor)
//	tongxing audit search             search the audit log (auditor)
//	tongxing audit export             export an evidence bundle (auditor)
//	tongxing audit verify             recompute the audit log from the database
//	tongxing audit verify-bundle      verify an exported bundle offline
//	tongxing officers list            list the officers (any officer)
//	tongxing officers proposals       list proposed officer changes (any officer)
//	tongxing officers add             propose a new officer (sysadmin)
//	tongxing officers bind            propose binding a sign-on account to an officer (sysadmin)
//	tongxing officers reissue         propose a new token for an officer who lost theirs (sysadmin)
//	tongxing officers approve         approve a proposal (an officer of its role)
//	tongxing officers reject          reject a proposal, or withdraw one's own
//	tongxing officers claim           claim a token with both codes of an approved proposal
//	tongxing officers revoke          revoke an officer (sysadmin)
//	tongxing officers unbind          unbind an officer's sign-on account (sysadmin)
//	tongxing officers token           renew one's own token
//	tongxing officers whoami          show the officer and expiry of a token
//	tongxing users add                add a sign-on account (sysadmin)
//	tongxing users list               list accounts (sysadmin)
//	tongxing users show               show an account (sysadmin)
//	tongxing users unlock             end a login lockout (sysadmin)
//	tongxing users totp-reset         remove an account's one-time-code factor (sysadmin)
//	tongxing users password           set an account's password (sysadmin)
//	tongxing clients add              register a portal or service (sysadmin)
//	tongxing login                    sign in by certificate (loa:4) as card middleware does
//	tongxing policy build             build and sign a policy bundle
//	tongxing policy test              run a policy directory's Rego tests
//	tongxing policy eval              evaluate and explain one gateway decision
//	tongxing policy push              activate a signed bundle on the server (sysadmin)
//	tongxing policy show              show the active bundle (sysadmin)
//	tongxing gateway verify-evidence  check a gateway call's evidence offline
//	tongxing key export               write a subscriber key as PKCS#8, SEC 1 or PKCS#12 for other software
//
// Unknown commands and flags fail with suggestions (cli.go); errors reaching
// the server name the cause and the next step (neterr.go).
//
// The HTTP client of the commands is in client.go; the file handling of
// ts, sign and verify in the package internal/filing.
package main
