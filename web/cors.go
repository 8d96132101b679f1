package web

import (
	"net/http"
	"regexp"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
)

// Browsers send events from pages of other origins (analytics.js 2.0,
// RudderStack's JavaScript SDK), so the ingestion routes answer CORS. Neither
// SDK sends cookies with fetch or XHR, and s3relay reads none on these
// routes, so a wildcard origin is safe; a source with allowed origins gets its
// Origin echoed, and refuses other pages.

const (
	// preflightMaxAge is how long browsers may cache a preflight (Chromium
	// caps it at 2 hours).
	preflightMaxAge = 2 * 60 * 60
	// preflightHeaders answers a preflight that names no headers: those the
	// SDKs send (Authorization is not covered by "*").
	preflightHeaders = "Authorization, Content-Type, Content-Encoding, AnonymousId, SentAt, X-Retry-Count, " +
		"Rsa-Retry-Attempt, Rsa-Since-Last-Attempt, Rsa-Since-First-Attempt, Rsa-Retry-Reason, Rsa-Recovered"
)

// requestedHeaders is what a preflight's Access-Control-Request-Headers may
// hold to be echoed: header names, comma-separated.
var requestedHeaders = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_|~-]+)*$`)

// cors gives every response of an ingestion route, errors included, the CORS
// headers a cross-origin page needs to read its status and Retry-After.
// The source, once known, narrows the allowed origin (allowOrigin).
func (s *Server) cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		return next(c)
	}
}

// handlePreflight answers a CORS preflight of an ingestion route. It runs
// before any dashboard middleware (no session, no CSRF, no redirect): a
// preflight carries no credentials and a redirected one fails. The source is
// not known yet, so any origin passes here; the request itself is checked
// against the source's allowed origins.
func (s *Server) handlePreflight(c echo.Context) error {
	h := c.Response().Header()
	h.Add("Vary", "Origin, Access-Control-Request-Headers")
	if o := c.Request().Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	allow := preflightHeaders
	if req := c.Request().Header.Get("Access-Control-Request-Headers"); req != "" && len(req) <= 1024 && requestedHeaders.MatchString(req) {
		allow = req
	}
	h.Set("Access-Control-Allow-Headers", allow)
	h.Set("Access-Control-Max-Age", strconv.Itoa(preflightMaxAge))
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	return c.NoContent(http.StatusNoContent)
}

// allowOrigin checks a browser request against the source's allowed origins:
// a request without Origin (a server-side library) always passes; a source
// without a list takes any origin. An allowed origin is echoed, so that the
// answer names the page it was meant for.
func (s *Server) allowOrigin(c echo.Context, src *store.Source) error {
	origin := c.Request().Header.Get("Origin")
	if origin == "" || len(src.AllowedOrigins) == 0 {
		return nil
	}
	if !src.AllowsOrigin(origin) {
		return echo.NewHTTPError(http.StatusForbidden, "Pages of "+strconv.Quote(origin)+" may not send events to this source: add the origin to the source's allowed origins.")
	}
	c.Response().Header().Set("Access-Control-Allow-Origin", origin)
	return nil
}
