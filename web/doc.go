// Package web is the base of Tongxing's server-rendered pages (the officer
// console and the citizen and enterprise portals): html/template pages in
// one layout with landmarks and a skip link, one small style sheet embedded
// with go:embed and served from the page's own origin, zh-CN by default and
// English on request, a Content-Security-Policy with a per-response nonce,
// CSRF tokens bound to a session, and the words the pages show for
// assurance levels.
//
// No page loads anything from another origin, and no page needs a script:
// forms post; a page that waits (scan to sign in) reloads itself with a
// one-line inline script carrying the response's CSP nonce, or without
// scripts with <meta http-equiv="refresh"> inside <noscript>. It follows W3C Content Security Policy
// Level 3 and WCAG 2.1 (landmarks, labels, focus, language of the page).
package web
