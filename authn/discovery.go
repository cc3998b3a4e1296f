package authn

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// metadata is what relying parties read first: discovery and the key sets.
type metadata struct {
	*base
	keys *keyStore
}

// discovery is the OpenID Provider Metadata (OpenID Connect Discovery 1.0
// §3, RFC 8414, RFC 9207).
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	IntrospectionAuthMethods          []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethods             []string `json:"revocation_endpoint_auth_methods_supported"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported"`
	JWKSURI                           string   `json:"jwks_uri"`
	SM2JWKSURI                        string   `json:"sm2_jwks_uri"` // sm2jws.DiscoveryField
	ScopesSupported                   []string `json:"scopes_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	ClaimTypesSupported               []string `json:"claim_types_supported"`
	ACRValuesSupported                []string `json:"acr_values_supported"`
	UILocalesSupported                []string `json:"ui_locales_supported"`
	DisplayValuesSupported            []string `json:"display_values_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	RequireRequestURIRegistration     bool     `json:"require_request_uri_registration"`
	AuthorizationResponseISSSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

func (md *metadata) discovery() *discovery {
	iss := md.issuer
	return &discovery{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + pathAuthorize,
		TokenEndpoint:                     iss + pathToken,
		UserinfoEndpoint:                  iss + pathUserinfo,
		IntrospectionEndpoint:             iss + pathIntrospect,
		RevocationEndpoint:                iss + pathRevoke,
		IntrospectionAuthMethods:          []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthTLSClientAuth},
		RevocationAuthMethods:             []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthTLSClientAuth, AuthNone},
		EndSessionEndpoint:                iss + pathLogout,
		BackchannelLogoutSupported:        true,
		BackchannelLogoutSessionSupported: true,
		JWKSURI:                           iss + pathJWKS,
		SM2JWKSURI:                        iss + pathSM2JWKS,
		ScopesSupported:                   supportedScopes,
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               grantTypes,
		SubjectTypesSupported:             []string{SubjectPairwise, SubjectPublic},
		IDTokenSigningAlgValuesSupported:  signingAlgs,
		TokenEndpointAuthMethodsSupported: []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthTLSClientAuth, AuthNone},
		TokenEndpointAuthSigningAlgs:      []string{AlgRS256, "PS256", AlgES256, AlgSM2},
		CodeChallengeMethodsSupported:     []string{"S256"},
		ClaimsSupported:                   supportedClaims,
		ClaimTypesSupported:               []string{"normal"},
		ACRValuesSupported:                acrValuesSupported(),
		UILocalesSupported:                []string{localeZH, localeEN},
		DisplayValuesSupported:            []string{"page"},
		PromptValuesSupported:             []string{PromptNone, PromptLogin, PromptConsent, PromptSelectAccount},
		AuthorizationResponseISSSupported: true,
	}
}

func (md *metadata) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	body, err := json.MarshalIndent(md.discovery(), "", "  ")
	if err != nil {
		md.logError(r, "encode discovery document", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writePublicJSON(w, "application/json", body, 3600)
}

func (md *metadata) serveJWKS(w http.ResponseWriter, r *http.Request) {
	md.serveKeySet(w, r, AlgRS256, AlgES256)
}

// serveSM2JWKS serves the SM2 keys, which never appear at jwks_uri.
func (md *metadata) serveSM2JWKS(w http.ResponseWriter, r *http.Request) {
	md.serveKeySet(w, r, AlgSM2)
}

func (md *metadata) serveKeySet(w http.ResponseWriter, r *http.Request, algs ...string) {
	body, err := md.keys.jwks(r.Context(), algs...)
	if err != nil {
		md.logError(r, "read key set", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writePublicJSON(w, "application/jwk-set+json", body, int(jwksMaxAge.Seconds()))
}

// writePublicJSON sends a public, cacheable JSON document readable from
// any origin.
func writePublicJSON(w http.ResponseWriter, contentType string, body []byte, maxAge int) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(maxAge))
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}

// servePreflight answers CORS preflight requests of the token and userinfo
// endpoints, which browser-based public clients call. No credentials
// (cookies) are allowed across origins.
func (md *metadata) servePreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}
