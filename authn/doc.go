// Package authn is Tongxing's OpenID Connect provider: citizens sign in
// once and every department portal recognises them (一次认证、一网通行).
//
// Standards: OpenID Connect Core 1.0 (authorization code flow, ID tokens,
// userinfo, prompt, max_age, acr_values, login_hint, ui_locales,
// id_token_hint, pairwise subjects), OpenID Connect Discovery 1.0, OAuth 2.0
// (RFC 6749: authorization code and refresh token grants, client
// authentication, error responses), PKCE (RFC 7636, S256 only), bearer
// tokens (RFC 6750), JWT (RFC 7519) minted with github.com/golang-jwt/jwt/v5,
// JWT access tokens (RFC 9068), JWK (RFC 7517), authorization server issuer
// identification (RFC 9207), authentication method references (RFC 8176),
// argon2id (RFC 9106). SM2 ID tokens follow package sm2jws.
//
// # Endpoints
//
// [Provider.Routes] serves, below the issuer URL:
//
//	GET  /.well-known/openid-configuration  discovery
//	GET  /oauth2/jwks                        RS256 and ES256 keys (jwks_uri)
//	GET  /oauth2/sm2-jwks                    SM2 keys (discovery field sm2_jwks_uri)
//	GET, POST /oauth2/authorize              authorization endpoint
//	POST /oauth2/token                       token endpoint
//	GET, POST /oauth2/userinfo               userinfo endpoint
//	GET, POST /login, POST /login/consent    login, one-time code and consent pages
//	GET  /login/cert/challenge               certificate-login challenge (JSON)
//	POST /login/cert                         certificate login (JSON or form)
//	GET  /login/mtls                         TLS client-certificate login
//	GET  /me/v1/sessions                     the signed-in account's sessions (JSON)
//	DELETE /me/v1/sessions/{id}              end one of them
//	POST /me/v1/sessions/{id}/end            the same, from an HTML form
//	GET, POST /me/totp                       one-time code enrolment page
//
// OAuth endpoints answer errors the way their specifications say: the
// authorization endpoint redirects errors to the registered redirect URI
// (RFC 6749 §4.1.2.1) but shows an HTML error page, and never redirects,
// when client_id or redirect_uri is unknown or malformed; the token
// endpoint answers OAuth error JSON (RFC 6749 §5.2); the userinfo endpoint
// answers with WWW-Authenticate (RFC 6750 §3). Every input has a size
// limit, and bad input never causes a 5xx.
//
// # Assurance levels
//
// The "acr" claim names the login method, mapped to the assurance levels
// (可信等级) of the deployment:
//
//	urn:tongxing:loa:2  user name and password (argon2id)            amr pwd
//	urn:tongxing:loa:3  password and an RFC 6238 one-time code        amr pwd otp mfa
//	urn:tongxing:loa:4  certificate login: citizen card (一卡通),     amr hwk or swk
//	                    enterprise e-cert (e证通) or their ECDSA
//	                    login certificates, package certlogin
//
// amr says what was really used (RFC 8176): a certificate login is "hwk"
// only when the certificate carries the hardware key-storage policy of the
// CA ([WithKeyStorage]: the registration officer recorded at vetting that
// the key is held in hardware), else "swk"; it never claims "sc" or "mfa",
// which the provider cannot see.
//
// A client's min_acr and the first offered value of acr_values set the
// level a request wants; a session below it is not reused and the login
// page is shown again (step-up): asking level 3 of a level-2 session leads
// through the password to the one-time code, asking level 4 of a level-2 or
// level-3 session leads to certificate login (the page says so). acr_values
// is otherwise voluntary: a login that reaches less than asked gets the
// level it reached, and only min_acr is enforced (access_denied).
//
// One-time codes (package totp): an account with a secret is always asked
// for the code after a correct password. The account holder enrols one at
// GET /me/totp, signed in (any portal's login; without a session the page
// answers 401 and says so): the page shows a new secret as a QR code
// (rendered server-side with github.com/yeqown/go-qrcode/v2 into an
// inline PNG; the page's Content-Security-Policy allows img-src data:)
// and as text, and POST /me/totp with a code of it (and, from a
// password-only session, the password again, so that a stolen session
// cookie cannot bind an attacker's authenticator) makes it the account's
// factor. A shown secret waits sealed in authn_totp_enrolments for ten
// minutes, bound to the session that saw it. Replacing an existing factor
// needs a session at urn:tongxing:loa:3 or above. Enrolments and refusals
// are audited (authn.totp.enrol, authn.totp.enrol.failure); wrong codes
// and passwords count towards throttling. Officers remove a factor with
// the administration API (totp-reset); [Users.EnrollTOTP] sets one
// without confirmation, for tools and tests. Each time
// step is accepted once per account (last_step in authn_totp, advanced by
// a conditional UPDATE, so replicas agree); wrong codes count towards the
// same throttling as wrong passwords. Secrets are stored encrypted with
// SM4-GCM under a data key (bound to the account ID as additional data);
// the data key is kept in authn_settings sealed by the key sealer
// ([WithKeySealer], a kms.SecretSealer: encrypted under the key
// passphrase), so a copy of the database alone reveals no secret. Clear
// secrets stored by earlier versions are sealed at start-up.
//
// Certificate login ([WithCertLogin]): GET /login/cert/challenge returns a
// challenge as JSON, and the login page shows one; challenges are stored in
// the database with their expiry (two minutes) and accepted once. POST
// /login/cert takes a certlogin.LoginRequest as JSON (card middleware,
// [CertLogin]; the answer is JSON and the session cookie) or the login
// page's form (which continues the authorization request). The chain must
// verify to the configured roots at the current time, the leaf must be
// valid, fit for clientAuth, not revoked (a revoked certificate is refused
// with "certificate_revoked" and says when and why), and the signature
// must be the leaf key's over the challenge. Failures count towards the
// client address's throttling. The account is found or created on first
// login: a citizen by the pseudonym of the identity number (the
// certificate's subject serialNumber, made with the same pseudonym key as
// [Users] uses, so a registered citizen gets the same account); a legal
// person by the unified social credit code, with the userinfo claims
// org_name, uscc and agent_name (the agent whose login the token comes
// from, kept with the session and its grants) under the profile scope.
//
// TLS client-certificate login (GET /login/mtls?login=<login id>, with
// [WithCertLogin]) serves browsers that hold an ECDSA P-256 (intl)
// certificate, such as the citizen-login and enterprise-login
// certificates Tongxing's CA issues with a citizen card or e-cert: the
// listener must ask for client certificates (tls.VerifyClientCertIfGiven
// with the CA roots). The presented chain is verified again against the
// certificate-login roots at the provider's clock (a listener that trusts
// more CAs grants nothing), with the same leaf, revocation and account
// rules as POST /login/cert; the identity is read by the same rule,
// certlogin.IdentityOf (subject serialNumber pseudonym, identity code or
// credit code), so the login certificate reaches the account of the
// citizen card or e-cert. It completes the login transaction at
// urn:tongxing:loa:4 with amr "hwk" or "swk" as above. Without a verified
// client certificate it answers 401 with a page saying how to present
// one.
//
// Every login, failed login and lockout is recorded with the [Auditor]
// (authn.login, authn.login.failure) with the account, client address and
// certificate serial; never a password or a code. A successful login that
// cannot be recorded is refused.
//
// # Accounts
//
// [Users] stores citizens. Passwords are hashed with argon2id, m = 19 MiB,
// t = 2, p = 1, 16-byte salt, 32-byte key, in the PHC string form; stored
// hashes keep their parameters. A personal ID number is validated (GB
// 11643) and stored only as ident.Pseudonym (HMAC-SM3 under the
// deployment's pseudonym key) plus its last four characters.
//
// Brute-force protection ([ThrottlePolicy]) counts failures per account
// and per client address in the database, so replicas share the counts; a
// locked account is refused for its backoff even with the right password.
//
// # Clients and subjects
//
// Clients (department portals) come from configuration ([ClientConfig],
// filled from YAML) or the database ([Provider.AddClient]). Redirect URIs
// match exactly. Confidential clients authenticate with client_secret_basic
// or client_secret_post; their secrets are random 256-bit values stored as
// SHA-256. Public clients (method none) must use PKCE; confidential ones
// may, and PKCE is then enforced. sub is pairwise by default: HMAC-SM3 of
// the client's sector identifier (the redirect URIs' host) and the
// account ID under a provider key, so portals of different sectors cannot
// link their users; public (the account ID) when the client says so.
//
// # Sessions
//
// A login starts a server-side SSO session in the database, so it works
// across replicas sharing PostgreSQL. The cookie (__Host-tongxing_sso)
// holds a 256-bit secret (only its SHA-256 is stored) and is HttpOnly,
// Secure, SameSite=Lax. Sessions record auth_time and acr. Because the
// cookie is SameSite=Lax, a cross-site POST to the authorization endpoint
// does not see the session and leads to the login page. Login and consent
// forms carry a CSRF token tied to a login transaction that is itself
// bound to the browser by a second cookie (__Host-tongxing_login). Pages
// are zh-CN by default and English when ui_locales or Accept-Language asks
// for it; they use no JavaScript.
//
// Consent is implied by the client's registration (portals are registered
// by the operator); prompt=consent shows a consent form. prompt=login and
// prompt=select_account show the login form even with a session, max_age
// does when the session's auth_time is older, prompt=none never shows a
// page (login_required instead), and id_token_hint must name the signed-in
// user. [Provider.Purge] deletes expired records.
//
// # Self-service
//
// A signed-in citizen manages their own SSO sessions (identified by the
// session cookie; without a live session the answer is 401). GET
// /me/v1/sessions lists the account's live sessions, oldest first, as
// JSON: id (the sid claim), whether it is the caller's current one,
// created_at, auth_time, expires_at, acr, amr, last_used_at (the latest
// authorization of a portal under the session, when there was one) and
// the portals that got tokens under it; plus a csrf_token (HMAC-SM3 keyed
// with the caller's cookie secret). The user agent and address of a
// session are not recorded and so not listed. DELETE /me/v1/sessions/{id}
// (204), or POST /me/v1/sessions/{id}/end with that csrf_token (200,
// JSON), ends one of them as [Provider.EndSession] does (grants revoked,
// back-channel logout sent) and records authn.session.end; a session of
// another account, an ended or an unknown one is 404, a missing or wrong
// csrf_token 403. Errors are RFC 9457 problem details.
//
// # Tokens
//
// Authorization codes live 60 s and are single-use: presenting a used code
// revokes the grant and every token it issued. Refresh tokens rotate on
// every use; presenting a rotated one revokes the whole family. Access
// tokens are JWTs (RS256 by default, typ at+jwt) whose jti is recorded, so
// that revoking a grant revokes them at the userinfo endpoint. ID tokens
// carry iss, sub, aud, exp, iat, auth_time, nonce, acr, amr, at_hash, sid
// and azp, and are signed with the client's id_token_signed_response_alg:
// RS256 (default), ES256 or SM2.
//
// # Keys
//
// Each algorithm has a current key (signing), a next key (published, not
// yet signing) and retired keys (published until the tokens they signed
// have expired), all in the authn_keys table; [Provider.Rotate] moves
// them along. RSA keys (2048 bits) are generated by kms (kms.RSA2048) and
// stored in the database sealed by a kms.KeySealer ([WithKeySealer]; the
// server's kms/softkms key manager writes PKCS#8 EncryptedPrivateKeyInfo
// under the key passphrase: PBES2, PBKDF2 with HMAC-SM3 and 150,000
// iterations, SM4-CBC). ES256 and SM2 keys are stored the same way, or
// created in a kms.KeyManager when one is given ([WithKeyManager]). Storing keys in the database lets every replica sign
// with the same keys. SM2 keys are only at the sm2_jwks_uri endpoint, never
// at jwks_uri.
package authn
