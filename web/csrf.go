package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"
)

const (
	csrfCookie = "s3relay_csrf"
	csrfHeader = "X-CSRF-Token"
	csrfField  = "_csrf"
	csrfCtxKey = "csrf"
)

// csrf protects every state-changing dashboard request with a token. The
// browser holds a random value in an HttpOnly cookie; the token in forms and
// in htmx's header is its HMAC under the data dir's key, so neither a planted
// cookie nor a guessed token passes. Missing or wrong tokens get 403.
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		seed := ""
		if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
			seed = ck.Value
		}
		if seed == "" {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			seed = base64.RawURLEncoding.EncodeToString(b)
			c.SetCookie(&http.Cookie{
				Name: csrfCookie, Value: seed, Path: "/",
				HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
			})
		}
		want := s.csrfToken(seed)
		c.Set(csrfCtxKey, want)
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
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

func (s *Server) csrfToken(seed string) string {
	m := hmac.New(sha256.New, s.keys.CSRF)
	m.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
