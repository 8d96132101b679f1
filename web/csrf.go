package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

const (
	csrfCookie = "s3relay_csrf"
	csrfHeader = "X-CSRF-Token"
	csrfField  = "_csrf"
	csrfCtxKey = "csrf"
)

// csrf protects every state-changing dashboard request, in two lines.
//
// First, a request that says it comes from another site is refused: an
// Origin header must be the base URL's origin or name the host the request
// was sent to, and Sec-Fetch-Site, when the browser sends it, must be
// same-origin or none.
//
// Second, a token, in forms and in htmx's header, is bound to the session:
// signed in, it is the HMAC of the session's id; before sign-in, the HMAC of
// a random pre-session seed held in an HttpOnly cookie. Sign-in starts a new
// session and a new seed, sign-out ends the session and makes a new seed, so
// a token seen before either is refused after it. Neither a planted cookie
// nor a guessed token passes. Refused requests get 403.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		seed := ""
		if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
			seed = ck.Value
		}
		if seed == "" {
			var err error
			if seed, err = s.newCSRFSeed(c); err != nil {
				return err
			}
		}
		sess, err := s.sessions.Get(c.Request(), sessionCookie)
		if err != nil {
			return err
		}
		want := s.csrfToken(seed, sess.ID)
		c.Set(csrfCtxKey, want)
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if err := s.checkSameOrigin(c.Request()); err != nil {
			return err
		}
		got := c.Request().Header.Get(csrfHeader)
		if got == "" {
			got = c.FormValue(csrfField)
		}
		if !hmac.Equal([]byte(got), []byte(want)) {
			return echo.NewHTTPError(http.StatusForbidden, "This form has expired or did not come from this dashboard. Reload the page and try again.")
		}
		return next(c)
	}
}

// newCSRFSeed gives the browser a new pre-session seed and returns it.
func (s *Server) newCSRFSeed(c echo.Context) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	seed := base64.RawURLEncoding.EncodeToString(b)
	c.SetCookie(&http.Cookie{
		Name: csrfCookie, Value: seed, Path: "/",
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	return seed, nil
}

// csrfToken is the token of a session, or of the pre-session seed when
// there is no session.
func (s *Server) csrfToken(seed, sessionID string) string {
	m := hmac.New(sha256.New, s.keys.CSRF)
	if sessionID != "" {
		m.Write([]byte("session\x00" + sessionID))
	} else {
		m.Write([]byte("seed\x00" + seed))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkSameOrigin refuses a request that its browser says comes from
// another site. Clients that send neither header (scripts, old browsers)
// are left to the token.
func (s *Server) checkSameOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && !s.sameOrigin(o, r) {
		if len(o) > 100 {
			o = o[:100] + "…"
		}
		return echo.NewHTTPError(http.StatusForbidden, "This request came from "+o+", not from this dashboard ("+s.origin+"), and was refused. "+
			"If "+o+" is the dashboard's own address, start s3relay with --base-url set to it.")
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return nil
	}
	return echo.NewHTTPError(http.StatusForbidden, "This request came from another site and was refused. Use the dashboard's own forms.")
}

// sameOrigin tells whether an Origin header names the dashboard: the base
// URL's origin, or the host the request was sent to (the page's own origin,
// whatever name the browser used for the server, e.g. localhost rather than
// 127.0.0.1), as net/http's CrossOriginProtection compares them.
func (s *Server) sameOrigin(origin string, r *http.Request) bool {
	o := normalizeOrigin(origin)
	if o == s.origin {
		return true
	}
	scheme, host, ok := strings.Cut(o, "://")
	return ok && host != "" && normalizeOrigin(scheme+"://"+r.Host) == o
}

// normalizeOrigin lowercases an origin's scheme and host and drops a
// default port, so that equal origins compare equal.
func normalizeOrigin(o string) string {
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return o
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host
}
